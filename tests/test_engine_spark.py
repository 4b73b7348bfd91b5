"""The dbt models on Apache Spark (a local session, Parquet tables): the bundled sample's raw tables,
copied from a DuckDB run into the session's warehouse, build there with no error (`cdp build-models`:
dbt, Markov and Shapley, dbt), and every table of staging, intermediate, marts and audiences holds
what DuckDB's does: every mart and audience by row counts, distinct keys, sums to 1e-9, text lengths,
first and last times; profile ids, money per channel to the cent, lead scores and stages.

Needs Java and pyspark (`pip install -e '.[spark]'`); skips with the reason without them, except
under CI=true, where it must run."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.engines.transfer import copy_to_spark
from orchestration.transform import build_models
from tests.conftest import make_workspace
from tests.engine_parity import differences

pytestmark = pytest.mark.slow(seconds=340)


def _require_spark() -> None:
    missing = []
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("Java (JAVA_HOME or java on PATH)")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install -e '.[spark]')")
    if missing:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"CI=true and the Spark parity test lacks {', '.join(missing)}")
        pytest.skip(f"Spark parity needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory, sample_reference_build: Path):
    _require_spark()
    from orchestration.engines.spark_engine import SparkEngine

    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("spark")
    try:
        ws = make_workspace(sample_reference_build, sample_reference_build / "landing", monkeypatch)  # read only
        monkeypatch.setenv("CDP_SPARK_WAREHOUSE_DIR", str(root / "spark" / "tables"))
        monkeypatch.setenv("CDP_SPARK_METASTORE_DIR", str(root / "spark" / "metastore"))
        # one session (one JVM) for the copy, the build and the comparison, as `cdp build-models` does
        engine = SparkEngine()
        try:
            copy_to_spark(ws.settings.warehouse, root / "spark_scratch", engine.spark)
            build = build_models("spark", target_path=root / "dbt_target", log_path=root / "dbt_logs",
                                 engine=engine)
            yield ws, engine, build
        finally:
            engine.close()
    finally:
        monkeypatch.undo()


def _rows(engine, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in engine.fetch(sql)]


def test_every_model_seed_and_test_builds_on_spark(both_engines) -> None:
    _, _, build = both_engines
    assert build.ok, build.steps[-1].output[-4000:]
    for step in (build.steps[0], build.steps[2]):
        assert " ERROR=0 " in step.summary and " SKIP=0 " in step.summary, step.summary
    assert build.passed >= 340


def test_spark_holds_what_duckdb_holds(both_engines) -> None:
    ws, engine, _ = both_engines
    # the marts and audiences (what BI and syncs read); every layer is compared on PostgreSQL, and each
    # query here is a Spark job
    assert differences(ws, lambda sql: _rows(engine, sql), "`", schemas=("marts", "audiences")) == []
    profiles = {r[0] for r in _rows(engine, "select profile_id from marts.dim_profiles")}
    assert profiles == {r[0] for r in ws.query("select profile_id from marts.dim_profiles")} and len(profiles) > 3000
    money = "select channel, sum(linear_value), sum(w_shaped_value) from marts.attribution_credits group by 1"
    assert {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in _rows(engine, money)} == {
        r[0]: (Decimal(r[1]), Decimal(r[2])) for r in ws.query(money)}
    data_driven = ("select model, channel, credited_value from marts.attribution_model_comparison "
                   "where grain = 'channel'")
    assert {(m, c): Decimal(v) for m, c, v in _rows(engine, data_driven)} == {
        (m, c): Decimal(v) for m, c, v in ws.query(data_driven)}
    scores = "select profile_id, lead_score, lifecycle_stage from marts.dim_profiles"
    assert {r[0]: (round(float(r[1]), 9), r[2]) for r in _rows(engine, scores)} == {
        r[0]: (round(float(r[1]), 9), r[2]) for r in ws.query(scores)}
