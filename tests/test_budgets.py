"""Budgets as a landing source (the contract's `budgets` folder): rows that break the contract are
quarantined with their reasons. The hand-computed fixtures of pacing and the forecast are dbt unit
tests (models/marts/budget/_budget__unit_tests.yml), run by tests/test_model_unit_tests.py."""

from __future__ import annotations

from pathlib import Path

from cdp.cli import main as cli_main
from tests.conftest import Workspace

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
