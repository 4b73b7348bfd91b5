"""The whole pipeline on PostgreSQL (CDP_TARGET=postgres), in a database of the test's own: `cdp run`
over the bundled sample loads (COPY), builds, gates, erases and syncs there, and holds what the
DuckDB run of the same sample holds: every table of staging, intermediate, marts and audiences (row
counts, distinct keys, sums to 1e-9, text lengths, first and last times), the profile ids, money
per channel to the cent; the sync to the PostgreSQL destination sends the same rows; nothing of an
erased person is left; a poisoned file is quarantined with the same reasons, and the raw gate it
fails stops every sync."""

from __future__ import annotations

import uuid
from decimal import Decimal
from urllib.parse import unquote_plus

import pytest

from tests.conftest import POSTGRES_URL, GoodRun, connect_test_postgres
from tests.engine_parity import differences
from tests.engine_pipeline import (
    EngineRun,
    assert_erased_and_verified,
    assert_failed_gate_stopped_syncs,
    assert_poison_quarantined_alike,
    assert_same_destination_rows,
    engine_run,
)

pytestmark = pytest.mark.slow(seconds=55)

#: scored against the planted truth, which the models read as Parquet: on DuckDB only
DUCKDB_ONLY = ("marts.identity_accuracy",)


@pytest.fixture(scope="module")
def postgres_run(tmp_path_factory: pytest.TempPathFactory, sample_good_run: GoodRun):
    import psycopg

    admin = connect_test_postgres()
    database = f"cdp_e2e_{uuid.uuid4().hex[:10]}"
    admin.execute(f"create database {database}")
    url = psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database)
    try:
        with engine_run("postgres", tmp_path_factory.mktemp("postgres_e2e"), sample_good_run,
                        lambda patch: patch.setenv("CDP_POSTGRES_URL", url)) as run:
            run.url = url
            yield run
    finally:
        admin.execute(f"drop database if exists {database} with (force)")
        admin.close()


def test_cdp_run_succeeds_on_postgres(postgres_run: EngineRun) -> None:
    assert postgres_run.ok, postgres_run.printed[-4000:]
    assert "cdp run succeeded" in postgres_run.printed
    assert "(PostgreSQL)" in postgres_run.printed and "step failed" not in postgres_run.printed
    assert "BI reads the warehouse itself" in postgres_run.printed


def test_postgres_holds_what_duckdb_holds(postgres_run: EngineRun) -> None:
    import psycopg

    ws = postgres_run.reference
    with psycopg.connect(postgres_run.url, autocommit=True) as pg:
        found = differences(ws, lambda sql: pg.execute(sql).fetchall(), '"', "double precision")
        assert [d for d in found if not d.startswith(DUCKDB_ONLY)] == []
        raw = {t: pg.execute(f"select count(*) from raw.{t}").fetchone()[0]
               for t in ("events", "crm_contacts", "crm_opportunities", "ad_spend", "consent", "deletion_requests")}
        assert raw == {t: ws.query(f"select count(*) from raw.{t}")[0][0] for t in raw}
        profiles = {r[0] for r in pg.execute("select profile_id from marts.dim_profiles").fetchall()}
        assert profiles == {r[0] for r in ws.query("select profile_id from marts.dim_profiles")}
        assert len(profiles) > 3000
        money = "select channel, sum(linear_value), sum(w_shaped_value) from marts.attribution_credits group by 1"
        assert {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in pg.execute(money).fetchall()} == {
            r[0]: (Decimal(r[1]), Decimal(r[2])) for r in ws.query(money)}


def test_the_same_rows_reach_the_postgres_destination(postgres_run: EngineRun) -> None:
    assert_same_destination_rows(postgres_run)


def test_erasure_leaves_nothing_and_status_says_so(postgres_run: EngineRun) -> None:
    assert_erased_and_verified(postgres_run)
    from cdp.privacy import verify_erasure
    from cdp.warehouse import connect

    with connect() as con:  # the engine itself, not only the command
        assert verify_erasure(con) == {}


def test_poisoned_file_is_quarantined_with_the_same_reasons(postgres_run: EngineRun) -> None:
    assert_poison_quarantined_alike(postgres_run)


def test_failed_gate_stops_every_sync(postgres_run: EngineRun) -> None:
    assert_failed_gate_stopped_syncs(postgres_run)


def test_url_parameters_decode_as_html_forms_do(postgres_run: EngineRun) -> None:
    """PostgreSQL has no URL decoding; the function the url_parameter macro calls there reads '+' as a
    space and %XX as UTF-8 bytes, as application/x-www-form-urlencoded says (Python's unquote_plus is
    the reference), and gives null for escapes that are not UTF-8 (Spark's try_url_decode does too)."""
    import psycopg

    with psycopg.connect(postgres_run.url, autocommit=True) as pg:
        for value in ["news%20letter", "e+mail", "caf%C3%A9", "%e2%82%ac5", "100%25", "a%2Bb", "%ZZoops", "50%",
                      "plain_value", ""]:
            assert pg.execute("select cdp_url_decode(%s)", [value]).fetchone()[0] == unquote_plus(value), value
        assert pg.execute("select cdp_url_decode('%FF%FE')").fetchone()[0] is None
        assert pg.execute("select cdp_url_decode(null)").fetchone()[0] is None


def test_postgres_url_setting_is_what_dbt_and_the_application_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from cdp.settings import dbt_environment_variables, get_settings, postgres_parameters

    monkeypatch.setenv("CDP_POSTGRES_URL", "postgresql://ana%40ops:s%3Acret@db.internal:6543/marketing")
    assert postgres_parameters() == {"host": "db.internal", "port": "6543", "user": "ana@ops",
                                     "password": "s:cret", "dbname": "marketing"}
    env = dbt_environment_variables(get_settings())
    assert (env["CDP_POSTGRES_HOST"], env["CDP_POSTGRES_PORT"], env["CDP_POSTGRES_DB"]) == (
        "db.internal", "6543", "marketing")
    monkeypatch.setenv("CDP_POSTGRES_URL", "host=10.0.0.5 dbname=cdp user=etl")
    assert postgres_parameters()["host"] == "10.0.0.5" and postgres_parameters()["dbname"] == "cdp"
    monkeypatch.setenv("CDP_POSTGRES_URL", "mysql://x@y/z")
    with pytest.raises(ValueError, match="postgresql://"):
        postgres_parameters()

