"""The dbt models on PostgreSQL: the bundled sample's raw tables, copied from a DuckDB run into a
database of the test's own, build there with no error (`cdp build-models`: dbt, Markov and Shapley,
dbt), and every table of staging, intermediate, marts and audiences holds what DuckDB's does: row
counts, distinct keys, sums to 1e-9, text lengths, first and last times, profile ids, money per
channel to the cent, lead scores and stages."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from orchestration.engines.transfer import copy_to_postgres
from orchestration.transform import build_models
from tests.conftest import POSTGRES_URL, connect_test_postgres, make_workspace
from tests.engine_parity import differences

pytestmark = pytest.mark.slow(seconds=90)


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory, sample_reference_build: Path):
    import psycopg

    admin = connect_test_postgres()
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("engines")
    ws = make_workspace(sample_reference_build, sample_reference_build / "landing", monkeypatch)  # read only
    database = f"cdp_engines_{uuid.uuid4().hex[:10]}"
    admin.execute(f"create database {database}")
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    url = psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database)
    try:
        copy_to_postgres(ws.settings.warehouse, url, root)
        for name, value in {"CDP_POSTGRES_DB": database, "CDP_POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
                            "CDP_POSTGRES_PORT": str(info.get("port", 5432)),
                            "CDP_POSTGRES_USER": str(info.get("user", "postgres")),
                            "CDP_POSTGRES_PASSWORD": str(info.get("password", ""))}.items():
            monkeypatch.setenv(name, value)
        build = build_models("postgres", target_path=root / "dbt_target", log_path=root / "dbt_logs")
        pg = psycopg.connect(url, autocommit=True)
        yield ws, pg, build
        pg.close()
    finally:
        admin.execute(f"drop database if exists {database} with (force)")
        admin.close()
        monkeypatch.undo()


def test_every_model_seed_and_test_builds_on_postgres(both_engines) -> None:
    _, _, build = both_engines
    assert build.ok, build.steps[-1].output[-4000:]
    assert [s.name for s in build.steps] == ["dbt build (before attribution)", "markov and shapley",
                                             "dbt build (after attribution)"]
    for step in (build.steps[0], build.steps[2]):
        assert " ERROR=0 " in step.summary and " SKIP=0 " in step.summary, step.summary
    assert build.passed >= 340


def test_postgres_holds_what_duckdb_holds(both_engines) -> None:
    ws, pg, _ = both_engines
    assert differences(ws, lambda sql: pg.execute(sql).fetchall(), '"', "double precision") == []
    profiles = {r[0] for r in pg.execute("select profile_id from marts.dim_profiles").fetchall()}
    assert profiles == {r[0] for r in ws.query("select profile_id from marts.dim_profiles")} and len(profiles) > 3000
    money = "select channel, sum(linear_value), sum(w_shaped_value) from marts.attribution_credits group by 1"
    assert {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in pg.execute(money).fetchall()} == {
        r[0]: (Decimal(r[1]), Decimal(r[2])) for r in ws.query(money)}
    data_driven = ("select model, channel, credited_value from marts.attribution_model_comparison "
                   "where grain = 'channel'")
    assert {(m, c): Decimal(v) for m, c, v in pg.execute(data_driven).fetchall()} == {
        (m, c): Decimal(v) for m, c, v in ws.query(data_driven)}
    scores = "select profile_id, lead_score, lifecycle_stage from marts.dim_profiles"
    on_pg = {r[0]: (round(float(r[1]), 9), r[2]) for r in pg.execute(scores).fetchall()}
    assert on_pg == {r[0]: (round(float(r[1]), 9), r[2]) for r in ws.query(scores)}


def test_url_parameters_decode_as_html_forms_do(both_engines) -> None:
    """PostgreSQL has no URL decoding; the function the url_parameter macro calls there reads '+' as a
    space and %XX as UTF-8 bytes, as application/x-www-form-urlencoded says (Python's unquote_plus is
    the reference), and gives null for escapes that are not UTF-8 (Spark's try_url_decode does too)."""
    _, pg, _ = both_engines
    for value in ["news%20letter", "e+mail", "caf%C3%A9", "%e2%82%ac5", "100%25", "a%2Bb", "%ZZoops", "50%",
                  "plain_value", ""]:
        assert pg.execute("select cdp_url_decode(%s)", [value]).fetchone()[0] == unquote_plus(value), value
    assert pg.execute("select cdp_url_decode('%FF%FE')").fetchone()[0] is None
    assert pg.execute("select cdp_url_decode(null)").fetchone()[0] is None
