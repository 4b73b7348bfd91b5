"""Markov and Shapley attribution tables, built on whichever engine the models build on.

The math (cdp/attribution_math.py) reads only channel-level tables the dbt models made:
the Markov transition counts (channels squared in size) and the channel coalitions of journeys
(bounded by 2^channels), plus one row of totals. Their size never grows with events, so Python reads
them from the engine, solves, and writes `marts.attribution_markov` and `marts.attribution_shapley`
back; the dbt models after them (data-driven credits per touch, ROI, the comparison) read those as
sources. One code path for DuckDB, PostgreSQL and Spark.

- Markov: a channel's removal effect is 1 - P(conversion without it) / P(conversion), solved exactly
  from the absorbing chain; attributed conversions split in proportion. Value splits in proportion
  to the removal effects on the expected conversion value, each conversion worth the mean value of
  the conversions ending in its last state (ChannelAttribution's definition), to the cent.
- Shapley: the conversion-rate game, v(S) = conversions over journeys among journeys whose channels
  all lie in S; values reported as computed (may be negative), credit to the positive ones normalised.
Conversions without a touch stay in an `unattributed` row.
"""

from __future__ import annotations

from typing import Any

from cdp.attribution_math import (
    ATTRIBUTED_TOTALS,
    cents_exact,
    coalition_values,
    credit_weights,
    markov_removal_effects,
    shapley_values,
)
from cdp.engines import Column, Engine

SCHEMA = "marts"
TRANSITIONS = "intermediate.int_attribution__markov_transitions"
COALITIONS = "intermediate.int_attribution__coalitions"
CREDITS = "marts.attribution_credits"

MARKOV_COLUMNS = [
    Column("model", "text"), Column("channel", "text"), Column("removal_effect", "double"),
    Column("value_removal_effect", "double"), Column("credit_share", "double"),
    Column("value_credit_share", "double"), Column("credited_conversions", "double"),
    Column("credited_value", "money"), Column("conversion_probability", "double"),
    Column("expected_value", "double"),
]
SHAPLEY_COLUMNS = [
    Column("model", "text"), Column("channel", "text"), Column("shapley_value", "double"),
    Column("credit_share", "double"), Column("credited_conversions", "double"), Column("credited_value", "money"),
    Column("grand_coalition_value", "double"),
]


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def markov_rows(transitions: list[dict[str, Any]], totals: dict[str, Any]) -> list[tuple]:
    """Rows of marts.attribution_markov (MARKOV_COLUMNS) from the transition table and the totals."""
    counts = {(str(r["from_state"]), str(r["to_state"])): _number(r["journeys"]) for r in transitions}
    values = {str(r["from_state"]): float(r["conversion_value_reporting"]) for r in transitions
              if r["to_state"] == "conversion" and r["conversion_value_reporting"] is not None}
    chain = markov_removal_effects(counts, values)
    weights = credit_weights(chain.removal_effects)
    value_weights = credit_weights(chain.value_removal_effects)
    conversions, value = _number(totals["conversions"]), _number(totals["attributed_value"])
    credited = cents_exact(value, value_weights) if any(value_weights) else [0.0] * len(chain.channels)
    rows = [("markov", channel, float(effect), float(value_effect), share, value_share, conversions * share,
             money, chain.conversion_probability, chain.expected_value)
            for channel, effect, value_effect, share, value_share, money in zip(
                chain.channels, chain.removal_effects, chain.value_removal_effects, weights, value_weights, credited,
                strict=True)]
    rows.append(("markov", "unattributed", None, None, None, None, _number(totals["unattributed_conversions"]),
                 _number(totals["unattributed_value"]), chain.conversion_probability, chain.expected_value))
    return rows


def shapley_rows(coalitions: list[dict[str, Any]], totals: dict[str, Any]) -> list[tuple]:
    """Rows of marts.attribution_shapley (SHAPLEY_COLUMNS) from the coalition table and the totals."""
    games = [(str(r["channel_set"]).split("|"), _number(r["journeys"]), _number(r["conversions"]))
             for r in coalitions]
    channels = sorted({c for members, _, _ in games for c in members})
    values = coalition_values(channels, games)
    phi = [float(p) for p in shapley_values(values, len(channels))] if channels else []
    weights = credit_weights(phi)
    conversions, value = _number(totals["conversions"]), _number(totals["attributed_value"])
    grand = float(values[-1]) if channels else 0.0
    credited = cents_exact(value, weights) if any(weights) else [0.0] * len(channels)
    rows = [("shapley", channel, p, share, conversions * share, money, grand)
            for channel, p, share, money in zip(channels, phi, weights, credited, strict=True)]
    rows.append(("shapley", "unattributed", None, None, _number(totals["unattributed_conversions"]),
                 _number(totals["unattributed_value"]), grand))
    return rows


def build_data_driven_attribution(engine: Engine) -> dict[str, int]:
    """Read the channel-level inputs from `engine`, write both tables back; rows written per table."""
    totals = engine.fetch(f"select {ATTRIBUTED_TOTALS} from {CREDITS}")[0]
    transitions = engine.fetch(
        f"select from_state, to_state, journeys, conversion_value_reporting from {TRANSITIONS}")
    coalitions = engine.fetch(f"select channel_set, journeys, conversions from {COALITIONS}")
    markov = markov_rows(transitions, totals)
    shapley = shapley_rows(coalitions, totals)
    engine.replace_table(SCHEMA, "attribution_markov", MARKOV_COLUMNS, markov)
    engine.replace_table(SCHEMA, "attribution_shapley", SHAPLEY_COLUMNS, shapley)
    return {"attribution_markov": len(markov), "attribution_shapley": len(shapley)}


def credit_check_sql(table: str) -> str:
    """One row: the table's credited value in total and its smallest credit, beside what the rule-based
    models credit in total (every model splits the same money)."""
    return (f"select t.total, t.smallest, r.total as rule_based_total "
            f"from (select sum(credited_value) as total, min(credited_value) as smallest from {SCHEMA}.{table}) as t "
            f"cross join (select coalesce(sum(linear_value), 0) as total from {CREDITS}) as r")


def credits_balance(engine: Engine, table: str) -> tuple[bool, dict[str, float]]:
    """Whether `table` credits nothing negative and, in total, the rule-based total to the cent."""
    row = engine.fetch(credit_check_sql(table))[0]
    total, smallest, expected = (_number(row["total"]), _number(row["smallest"]), _number(row["rule_based_total"]))
    passed = smallest >= 0 and round(total * 100) == round(expected * 100)
    return passed, {"credited_value": round(total, 2), "rule_based_value": round(expected, 2),
                    "smallest_credit": smallest}
