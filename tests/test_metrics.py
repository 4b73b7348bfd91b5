"""The semantic layer: MetricFlow's metrics (dbt_project/models/metrics/_metrics__models.yml) give
the same numbers as the columns of marts.marketing_kpis, month by month and for all months, and ROAS
per attribution model: the KPIs are defined once, whichever way a reader asks for them."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cdp.settings import DBT_PROJECT_DIR

METRICS = ("spend", "planned_spend", "budget_pace_ratio", "attributed_revenue", "marketing_efficiency_ratio",
           "new_customers", "cac", "ltv", "ltv_to_cac", "payback_months", "pipeline_created", "pipeline_sourced",
           "pipeline_influenced", "win_rate", "qualified_leads", "qualified_to_next_rate")


@pytest.fixture(scope="module")
def metricflow(sample_reference_build: Path, tmp_path_factory: pytest.TempPathFactory):
    """`mf query` over a copy of the built sample, from a copy of the dbt project (MetricFlow writes
    the semantic manifest into the project's target folder)."""
    root = tmp_path_factory.mktemp("metricflow")
    project = root / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = root / "cdp.duckdb"
    shutil.copyfile(sample_reference_build / "warehouse" / "cdp.duckdb", warehouse)
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "CDP_TARGET": "duckdb", "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}
    parsed = subprocess.run([str(Path(sys.executable).with_name("dbt")), "parse", "--profiles-dir", "."],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert (project / "target" / "semantic_manifest.json").exists(), parsed.stdout[-2000:]

    def query(metrics: list[str], group_by: list[str]) -> list[dict[str, str]]:
        out = root / "out.csv"
        done = subprocess.run(
            [str(Path(sys.executable).with_name("mf")), "query", "--metrics", ",".join(metrics),
             *(["--group-by", ",".join(group_by)] if group_by else []), "--csv", str(out)],
            cwd=project, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        with out.open() as handle:
            return list(csv.DictReader(handle))

    return query, warehouse


def _mart(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _same(metric: str, got: str, expected: object) -> None:
    if expected is None:
        assert got == "", metric
    else:
        assert float(got) == pytest.approx(float(expected), rel=1e-9, abs=1e-9), metric


def test_metrics_by_month_and_in_total_equal_the_kpi_mart(metricflow) -> None:
    query, warehouse = metricflow
    columns = ", ".join(METRICS)
    by_month = {r[0].isoformat(): r[1:] for r in _mart(
        warehouse, f"select month, {columns} from marts.marketing_kpis where grain = 'month' "
                   "and attribution_model = 'linear'")}
    rows = query(list(METRICS), ["metric_time__month"])
    assert {r["metric_time__month"][:10] for r in rows} == set(by_month)
    for row in rows:
        for metric, expected in zip(METRICS, by_month[row["metric_time__month"][:10]], strict=True):
            _same(metric, row[metric], expected)
    total, = query(list(METRICS), [])
    expected, = _mart(warehouse, f"select {columns} from marts.marketing_kpis where grain = 'all' "
                                 "and attribution_model = 'linear'")
    for metric, value in zip(METRICS, expected, strict=True):
        _same(metric, total[metric], value)


def test_roas_and_romi_per_attribution_model_equal_the_kpi_mart(metricflow) -> None:
    query, warehouse = metricflow
    expected = {(m, month.isoformat()): (roas, romi) for m, month, roas, romi in _mart(
        warehouse, "select attribution_model, month, roas, romi from marts.marketing_kpis where grain = 'month'")}
    rows = query(["roas", "romi"], ["attribution_row__model", "metric_time__month"])
    assert len(rows) >= 14 * 6
    for row in rows:
        if not row["metric_time__month"]:
            # the mart's channel and campaign totals carry no month and count nothing here
            assert row["roas"] == "" and row["romi"] == "", row
            continue
        roas, romi = expected[(row["attribution_row__model"], row["metric_time__month"][:10])]
        _same("roas", row["roas"], roas)
        _same("romi", row["romi"], romi)
