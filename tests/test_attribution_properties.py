"""Property-based: on random journeys, every attribution model credits each conversion exactly its
value, to the cent, and never a negative amount.

The rule-based models run as the real SQL: dbt compiles marts.attribution_credits once, and each
Hypothesis example runs it in DuckDB over random tables shaped like its inputs (ties in time, single
and empty journeys, milestone touches anywhere, values from 0 to 10 million). Markov and Shapley run
their math on the transition and coalition tables of random journeys.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from decimal import Decimal

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.attribution_math import (
    cents_exact,
    coalition_values,
    credit_weights,
    removal_effects,
    shapley_values,
)
from cdp.settings import DBT_PROJECT_DIR
from orchestration.assets.dbt import dbt_executable

MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "u_shaped", "position_50_50",
          "w_shaped", "full_path", "j_shaped", "inverse_j", "custom")
CHANNELS = ("direct", "email", "paid_search", "organic_search", "display")


@pytest.fixture(scope="module")
def credits_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    work = tmp_path_factory.mktemp("compile")
    done = subprocess.run(
        [dbt_executable(), "compile", "--select", "attribution_credits", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(work / "target"),
         "--log-path", str(work / "logs")],
        cwd=DBT_PROJECT_DIR, env={**os.environ, "CDP_WAREHOUSE": str(work / "cdp.duckdb")},
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    return next((work / "target").rglob("attribution_credits.sql")).read_text()


journey = st.tuples(
    st.integers(min_value=0, max_value=1_000_000_000),  # value in cents
    st.lists(st.tuples(st.integers(min_value=0, max_value=5),  # touch day (few values: ties)
                       st.sampled_from(CHANNELS)), max_size=8),
    st.integers(min_value=-1, max_value=8),  # lead-created touch position (-1: none)
    st.integers(min_value=-1, max_value=8),  # opportunity-created touch position
)


def load(con: duckdb.DuckDBPyConnection, journeys: list[tuple]) -> None:
    con.execute("attach ':memory:' as cdp")
    con.execute("create schema cdp.marts")
    con.execute("""create table cdp.marts.fct_conversions (conversion_id varchar, conversion_name varchar,
                   profile_id varchar, converted_at timestamptz, conversion_value_reporting decimal(18, 2))""")
    con.execute("""create table cdp.marts.fct_attribution_touches (conversion_id varchar, conversion_name varchar,
                   profile_id varchar, converted_at timestamptz, conversion_value_reporting decimal(18, 2),
                   message_id varchar, touched_at timestamptz, channel varchar, utm_source varchar,
                   utm_medium varchar, campaign varchar, touch_position bigint, touch_count bigint,
                   days_before_conversion double, is_first_touch boolean, is_last_touch boolean,
                   is_lead_created_touch boolean, is_opportunity_created_touch boolean)""")
    for j, (cents, touches, lead, opportunity) in enumerate(journeys):
        value = Decimal(cents) / 100
        con.execute("insert into cdp.marts.fct_conversions values (?, 'order_completed', ?, "
                    "timestamptz '2026-01-10 00:00:00+00', ?)", [f"c{j}", f"p{j}", value])
        ordered = sorted((day, f"m{j}-{k}", channel) for k, (day, channel) in enumerate(touches))
        n = len(ordered)
        for position, (day, message, channel) in enumerate(ordered, start=1):
            con.execute(
                "insert into cdp.marts.fct_attribution_touches values (?, 'order_completed', ?, "
                "timestamptz '2026-01-10 00:00:00+00', ?, ?, timestamptz '2026-01-01 00:00:00+00' + to_days(?), "
                "?, null, null, '(none)', ?, ?, ?, ?, ?, ?, ?)",
                [f"c{j}", f"p{j}", value, message, day, channel, position, n, 9.0 - day, position == 1,
                 position == n, position == lead, position == opportunity])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journeys=st.lists(journey, min_size=1, max_size=6))
def test_rule_based_credits_sum_exactly_and_are_never_negative(credits_sql: str, journeys: list[tuple]) -> None:
    con = duckdb.connect()
    try:
        load(con, journeys)
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"create temp table credited as {credits_sql}")
        for model in MODELS:
            rows = con.execute(f"""
                select c.conversion_id, c.conversion_value_reporting, sum(a.{model}_value), min(a.{model}_value),
                       sum(a.{model}_share), min(a.{model}_share), count(a.conversion_id)
                from cdp.marts.fct_conversions as c left join credited as a using (conversion_id)
                group by all""").fetchall()
            for conversion, value, credited, smallest, shares, smallest_share, rows_found in rows:
                assert rows_found >= 1, (model, conversion)
                assert credited == value, (model, conversion, credited, value)
                assert smallest >= 0 and smallest_share >= 0, (model, conversion)
                assert shares == pytest.approx(1.0, abs=1e-9), (model, conversion)
    finally:
        con.close()


paths = st.lists(st.tuples(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=6), st.booleans()),
                 min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(journeys=paths, total_cents=st.integers(min_value=0, max_value=10**11))
def test_markov_and_shapley_credits_sum_exactly_and_are_never_negative(journeys: list, total_cents: int) -> None:
    counts: dict[tuple[str, str], float] = {}
    coalitions: dict[tuple[str, ...], list[float]] = {}
    for steps, converted in journeys:
        collapsed = [c for i, c in enumerate(steps) if i == 0 or steps[i - 1] != c]
        sequence = ["start", *collapsed, "conversion" if converted else "null"]
        for pair in itertools.pairwise(sequence):
            counts[pair] = counts.get(pair, 0.0) + 1
        entry = coalitions.setdefault(tuple(sorted(set(collapsed))), [0.0, 0.0])
        entry[0] += 1
        entry[1] += converted
    total = total_cents / 100
    _, _, effects = removal_effects(counts)
    assert all(0 <= e <= 1 + 1e-12 for e in effects)
    if sum(effects) > 0:
        credited = cents_exact(total, [e / sum(effects) for e in effects])
        assert round(sum(credited) * 100) == total_cents and min(credited) >= 0
    members = sorted({c for key in coalitions for c in key})
    values = coalition_values(members, [(list(k), j, c) for k, (j, c) in coalitions.items()])
    assert all(0 <= v <= 1 for v in values)  # a conversion rate
    phi = list(shapley_values(values, len(members)))
    assert sum(phi) == pytest.approx(values[-1], abs=1e-12)  # efficiency
    weights = credit_weights(phi)  # negative values take no credit
    assert min(weights) >= 0
    if max(phi) > 0:
        assert sum(weights) == pytest.approx(1, abs=1e-12)
        credited = cents_exact(total, weights)
        assert round(sum(credited) * 100) == total_cents and min(credited) >= 0
    else:
        assert sum(weights) == 0

