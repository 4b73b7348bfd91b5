"""Budgets as a landing source (the contract's `budgets` folder) and the hand-computed fixtures of
pacing and the forecast (dbt unit tests in models/marts/budget/_budget__unit_tests.yml)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdp.cli import main as cli_main
from cdp.settings import DBT_PROJECT_DIR
from tests.conftest import Workspace

pytestmark = pytest.mark.slow(seconds=39)

HEADER = "period,channel,campaign,planned_spend,currency,target_cpa,target_roas,target_pipeline\n"


def _write(ws: Workspace, name: str, body: str) -> Path:
    folder = ws.landing / "budgets"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(HEADER + body)
    return path


def test_budget_rows_that_break_the_contract_are_quarantined_with_reasons(workspace: Workspace) -> None:
    _write(workspace, "budgets_2026-01-01.csv",
           "2026-03,paid_search,,3100,USD,50,2.5,9000\n"      # good
           "2026-03-01,display,,1200,EUR,,,\n"                 # good: a first day is a month too
           "2026-13,display,,100,USD,,,\n"                     # no 13th month
           "March,email,,100,USD,,,\n"                         # not YYYY-MM
           "2026-04,email,,lots,USD,,,\n"                      # not a number
           "2026-04,,,100,USD,,,\n")                           # channel is required
    result = workspace.load("budgets")["budgets"]
    assert result.total("rows_loaded") == 2
    reasons = dict(workspace.query("select line_number, reason from ops.quarantine where source = 'budgets'"))
    assert set(reasons) == {4, 5, 6, 7}, reasons
    assert "is not a month (YYYY-MM" in reasons[4] and "'2026-13'" in reasons[4]
    assert "'March'" in reasons[5] and "is not a month" in reasons[5]
    assert "planned_spend 'lots' is not a number" in reasons[6]
    assert "channel" in reasons[7]


def test_a_negative_plan_quarantines_its_file_and_names_the_expectation(workspace: Workspace) -> None:
    path = _write(workspace, "budgets_2026-02-01.csv", "2026-03,paid_search,,-500,USD,,,\n")
    assert cli_main(["load"]) == 1, "a failed error-severity expectation fails the load"
    (status, reason), = workspace.query("select status, reason from ops.load_manifest where file_path = ?",
                                        [str(path)])
    assert status == "quarantined"
    assert "planned_spend" in reason and "never budgets negative spend" in reason


def test_pacing_forecast_and_lift_match_their_hand_computed_fixtures(sample_reference_build: Path,
                                                                     tmp_path: Path) -> None:
    """The dbt unit tests (pacing, forecast, holdout lift, contact pressure), run on a copy of the built sample (they
    need the parent tables' column types); each fixture's arithmetic is in its description."""
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
    assert statuses == {
        "budget_pacing_on_pace_over_no_plan_and_month_boundaries": "pass",
        "budget_pacing_targets_beside_actuals": "pass",
        "pipeline_forecast_from_stage_win_rates_and_velocity": "pass",
        "activation_holdout_lift_counts_only_the_window_after_assignment": "pass",
        "contact_ledger_counts_the_pressure_on_each_channel": "pass",
    }, done.stdout[-3000:]
