"""First-order Markov attribution, exact: removal effects from the absorbing chain of journeys.

Reads the transition counts (intermediate.int_attribution__markov_transitions, channels squared in
size), builds the transition matrix over the channel states, and solves the absorbing chain for the
probability that a journey from `start` ends in `conversion` (a linear system, not simulation).
Removing a channel sends every transition into it to `null`; its removal effect is
1 - P(conversion without it) / P(conversion). Credits are the attributed conversions and value split
in proportion to the removal effects (value rounded to the cent from one rounded running total, so
it sums exactly); conversions without a touch stay `unattributed`.
"""

import numpy as np
import pandas as pd


def conversion_probability(channels: list[str], counts: dict[tuple[str, str], float], removed: str | None) -> float:
    """P(start reaches conversion) with `removed` turned into null (None: the full chain)."""
    kept = [c for c in channels if c != removed]
    index = {c: i for i, c in enumerate(kept)}
    size = len(kept)
    q = np.zeros((size, size))
    to_conversion = np.zeros(size)
    start = np.zeros(size)
    totals: dict[str, float] = {}
    for (origin, _), n in counts.items():
        totals[origin] = totals.get(origin, 0.0) + n
    for (origin, target), n in counts.items():
        if origin == removed or totals.get(origin, 0.0) == 0:
            continue
        p = n / totals[origin]
        if origin == "start":
            if target in index:
                start[index[target]] += p
        elif target == "conversion":
            to_conversion[index[origin]] += p
        elif target in index:
            q[index[origin], index[target]] += p
    if size == 0:
        return 0.0
    absorbed = np.linalg.solve(np.eye(size) - q, to_conversion)
    return float(start @ absorbed)


def cents_exact(total: float, weights: list[float]) -> list[float]:
    cents = round(total * 100)
    out, running, previous = [], 0.0, 0
    for w in weights:
        running += w
        now = round(cents * running)
        out.append((now - previous) / 100)
        previous = now
    return out


def model(dbt, session):
    dbt.config(materialized="table")
    transitions = dbt.ref("int_attribution__markov_transitions").df()
    # totals aggregated inside DuckDB: one row, whatever the number of conversions
    totals = dbt.ref("attribution_credits").aggregate(
        "count(distinct case when channel <> 'unattributed' then conversion_id end) as conversions, "
        "coalesce(sum(case when channel <> 'unattributed' then linear_value end), 0) as attributed_value, "
        "count(case when channel = 'unattributed' then 1 end) as unattributed_conversions, "
        "coalesce(sum(case when channel = 'unattributed' then linear_value end), 0) as unattributed_value"
    ).df().iloc[0]
    counts = {(r.from_state, r.to_state): float(r.journeys) for r in transitions.itertuples()}
    channels = sorted({s for pair in counts for s in pair} - {"start", "conversion", "null"})
    conversions, value = float(totals["conversions"]), float(totals["attributed_value"])
    base = conversion_probability(channels, counts, None)
    effects = [1 - conversion_probability(channels, counts, c) / base if base > 0 else 0.0 for c in channels]
    effects = [max(e, 0.0) for e in effects]  # a removal never raises P(conversion); clamp rounding noise
    total_effect = sum(effects)
    weights = [e / total_effect for e in effects] if total_effect > 0 else [0.0] * len(channels)
    rows = pd.DataFrame({
        "model": "markov",
        "channel": channels,
        "removal_effect": effects,
        "credit_share": weights,
        "credited_conversions": [conversions * w for w in weights],
        "credited_value": cents_exact(value, weights) if total_effect > 0 else [0.0] * len(channels),
        "conversion_probability": base,
    })
    unattributed_row = pd.DataFrame({
        "model": ["markov"], "channel": ["unattributed"], "removal_effect": [None], "credit_share": [None],
        "credited_conversions": [float(totals["unattributed_conversions"])],
        "credited_value": [float(totals["unattributed_value"])],
        "conversion_probability": [base],
    })
    return pd.concat([rows, unattributed_row], ignore_index=True)
