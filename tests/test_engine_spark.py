"""The whole pipeline on Apache Spark (CDP_TARGET=spark: a local session, Parquet tables in a
warehouse folder and metastore of the test's own): `cdp run` over the bundled sample loads, builds,
gates, erases and syncs there, and holds what the DuckDB run of the same sample holds: every mart
and audience by row counts, distinct keys, sums to 1e-9, text lengths, first and last times; the raw
rows, profile ids and money per channel to the cent; the sync to the PostgreSQL destination sends the
same rows; nothing of an erased person is left; a poisoned file is quarantined with the same reasons,
and the raw gate it fails stops every sync.

Needs Java and pyspark (`pip install -e '.[spark]'`) and the test PostgreSQL (the sync destination);
skips with the reason without them, except under CI=true, where it must run."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal

import pytest

from tests.conftest import GoodRun, connect_test_postgres
from tests.engine_parity import differences
from tests.engine_pipeline import (
    EngineRun,
    assert_erased_and_verified,
    assert_failed_gate_stopped_syncs,
    assert_poison_quarantined_alike,
    assert_same_destination_rows,
    engine_run,
)

pytestmark = pytest.mark.slow(seconds=480)

#: scored against the planted truth, which the models read as Parquet: on DuckDB only
DUCKDB_ONLY = ("marts.identity_accuracy",)
RAW = ("events", "crm_contacts", "crm_opportunities", "ad_spend", "consent", "deletion_requests")


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
            raise RuntimeError(f"CI=true and the Spark pipeline test lacks {', '.join(missing)}")
        pytest.skip(f"the Spark pipeline test needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory, sample_good_run: GoodRun):
    _require_spark()
    connect_test_postgres().close()  # the sync destination; skips (or fails under CI) without it
    from cdp.engines.spark_engine import release_spark

    root = tmp_path_factory.mktemp("spark_e2e")

    def configure(patch: pytest.MonkeyPatch) -> None:
        patch.setenv("CDP_SPARK_WAREHOUSE_DIR", str(root / "spark" / "tables"))
        patch.setenv("CDP_SPARK_METASTORE_DIR", str(root / "spark" / "metastore"))
        # the sample is a few MB: one shuffle partition, not eight, per stage
        patch.setenv("CDP_SPARK_SHUFFLE_PARTITIONS", "1")

    try:
        with engine_run("spark", root, sample_good_run, configure) as run:
            yield run
    finally:
        release_spark()


def test_cdp_run_succeeds_on_spark(spark_run: EngineRun) -> None:
    assert spark_run.ok, spark_run.printed[-4000:]
    assert "cdp run succeeded" in spark_run.printed
    assert "(Spark local" in spark_run.printed and "step failed" not in spark_run.printed


def test_spark_holds_what_duckdb_holds(spark_run: EngineRun) -> None:
    from cdp.engines.spark_engine import shared_spark_engine

    ws, query = spark_run.reference, spark_run.query
    engine = shared_spark_engine()  # the run's own session, on the test's warehouse folder

    def native(sql: str) -> list[tuple]:  # the fingerprints are written in Spark's SQL already
        return [tuple(r.values()) for r in engine.fetch(sql)]

    # the marts and audiences (what BI and syncs read); every layer is compared on PostgreSQL, and each
    # query here is a Spark job
    found = differences(ws, native, "`", schemas=("marts", "audiences"))
    assert [d for d in found if not d.startswith(DUCKDB_ONLY)] == []
    assert {t: query(f"select count(*) from raw.{t}")[0][0] for t in RAW} == {
        t: ws.query(f"select count(*) from raw.{t}")[0][0] for t in RAW}
    profiles = {r[0] for r in query("select profile_id from marts.dim_profiles")}
    assert profiles == {r[0] for r in ws.query("select profile_id from marts.dim_profiles")} and len(profiles) > 3000
    money = "select channel, sum(linear_value), sum(w_shaped_value) from marts.attribution_credits group by 1"
    assert {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in query(money)} == {
        r[0]: (Decimal(r[1]), Decimal(r[2])) for r in ws.query(money)}


def test_the_same_rows_reach_the_postgres_destination(spark_run: EngineRun) -> None:
    assert_same_destination_rows(spark_run)


def test_erasure_leaves_nothing_and_status_says_so(spark_run: EngineRun) -> None:
    assert_erased_and_verified(spark_run)


def test_poisoned_file_is_quarantined_with_the_same_reasons(spark_run: EngineRun) -> None:
    assert_poison_quarantined_alike(spark_run)


def test_failed_gate_stops_every_sync(spark_run: EngineRun) -> None:
    assert_failed_gate_stopped_syncs(spark_run)


# Runs last in this module: it adds the corpus's rows to the run's warehouse, which the tests above read.
def test_spark_loads_the_bad_input_corpus_as_duckdb_does(spark_run: EngineRun, tmp_path) -> None:
    """Every kind of bad input of the corpus, loaded on Spark's executors (one task per file) and on
    DuckDB from the same folder: the same manifest row per file, the same quarantined lines with the
    same reasons and payloads, the same raw rows; a rerun loads nothing; the suites' results reach
    the Data Docs store."""
    import duckdb

    from cdp.engines.spark_engine import shared_spark_engine
    from cdp.ingest.contract import load_contract
    from cdp.ingest.loader import load_source
    from cdp.ingest.spark_load import load_into_spark
    from cdp.ops_schema import OPS_DDL
    from cdp.quality.expectations import SuiteValidator
    from cdp.quality.results import ensure_quality_tables
    from tests.test_bad_input_corpus import CASES

    landing = tmp_path / "landing"
    for case in CASES:
        (landing / case.source).mkdir(parents=True, exist_ok=True)
        (landing / case.source / case.name).write_bytes(case.content)
    contract = load_contract()
    local = duckdb.connect(str(tmp_path / "corpus.duckdb"))
    local.execute(OPS_DDL)
    ensure_quality_tables(local)
    engine = shared_spark_engine()
    validator = SuiteValidator(project_dir=tmp_path / "gx_spark")

    def load_spark() -> None:
        for spec in contract.sources.values():
            load_into_spark(engine, spec, landing, contract, validator=validator, incoming_dir=tmp_path / "incoming",
                            duckdb_config={"memory_limit": "1GB"})

    for spec in contract.sources.values():
        load_source(local, spec, landing, contract, validator=SuiteValidator(project_dir=tmp_path / "gx_duckdb"))
    load_spark()

    where = f"where file_path like '{landing}/%'"
    manifest = ("select file_path, status, rows_read, rows_loaded, rows_quarantined, duplicates_skipped, blank_lines, "
                f"reason from ops.load_manifest {where} order by 1")
    quarantine = (f"select source_file, line_number, reason, payload from ops.quarantine "
                  f"where source_file like '{landing}/%' order by 1, 2, 3")
    on_spark = engine.execute(manifest).fetchall()
    assert len(on_spark) == len(CASES)
    assert on_spark == local.execute(manifest).fetchall()
    assert engine.execute(quarantine).fetchall() == local.execute(quarantine).fetchall()
    for spec in contract.sources.values():
        key = "message_id" if spec.format == "ndjson" else "_row_hash"
        rows = (f"select _source_file, _line_number, {key} from raw.{spec.table} "
                f"where _source_file like '{landing}/%' order by 1, 2")
        assert engine.execute(rows).fetchall() == local.execute(rows).fetchall(), spec.name
    assert any((tmp_path / "gx_spark" / "gx" / "uncommitted" / "validations").rglob("*.json"))

    before = engine.execute(f"select count(*) from ops.load_manifest {where}").fetchall()
    load_spark()
    assert engine.execute(f"select count(*) from ops.load_manifest {where}").fetchall() == before
