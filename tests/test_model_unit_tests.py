"""The dbt unit tests of the project, each a hand-worked fixture whose arithmetic is in its
description: the attribution models' published weights, GA4's default channel groups, the fit
scoring and identity link rules, budget pacing and the pipeline forecast, the holdout lift and the
contact ledger. They run on a copy of the built sample (they need the parent tables' column types,
and the rules the models read when they compile)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp.settings import DBT_PROJECT_DIR

pytestmark = pytest.mark.slow(seconds=20)

UNIT_TESTS = {
    "attribution_credits_follow_each_models_published_weights",
    "web_touches_get_the_ga4_default_channel_group",
    "fit_rules_score_titles_industries_sizes_and_countries",
    "identity_edges_link_only_what_the_rules_allow",
    "budget_pacing_on_pace_over_no_plan_and_month_boundaries",
    "budget_pacing_targets_beside_actuals",
    "pipeline_forecast_from_stage_win_rates_and_velocity",
    "activation_holdout_lift_counts_only_the_window_after_assignment",
    "contact_ledger_counts_the_pressure_on_each_channel",
    "latest_traits_break_a_tie_to_the_smallest_value",
    "lead_score_history_decays_from_each_profiles_own_first_step",
}


def test_every_dbt_unit_test_passes(sample_reference_build: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    shutil.copyfile(sample_reference_build / "warehouse" / "cdp.duckdb", warehouse)
    target = tmp_path / "target"
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "CDP_TARGET": "duckdb", "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "test", "--select", "test_type:unit",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
         "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=300)
    results = json.loads((target / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert statuses == dict.fromkeys(UNIT_TESTS, "pass"), done.stdout[-3000:]
