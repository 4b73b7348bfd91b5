"""The dbt models on PostgreSQL: the bundled sample's raw tables, copied from a DuckDB run into a
database of the test's own, build there with no error (`cdp build-models`: dbt, Markov and Shapley,
dbt), and every table of staging, intermediate, marts and audiences holds what DuckDB's does (row
counts, profile ids, money to the cent).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.run import run_pipeline
from orchestration.transform import build_models
from tests.conftest import POSTGRES_URL, connect_test_postgres

pytestmark = pytest.mark.slow(seconds=90)

PG_TYPES = {"VARCHAR": "text", "JSON": "jsonb", "BIGINT": "bigint", "TIMESTAMP WITH TIME ZONE": "timestamptz",
            "UBIGINT": "numeric(20)", "DOUBLE": "double precision", "INTEGER": "integer", "BOOLEAN": "boolean",
            "TIMESTAMP": "timestamp", "DATE": "date"}
#: appended to once per build, so their row counts count builds
HISTORY = {"data_health_scores", "identity_health"}


def copy_landed_tables(source: Path, database_url: str, scratch: Path) -> None:
    """raw.* and ops.load_manifest from a DuckDB warehouse into PostgreSQL, through CSV and COPY."""
    import psycopg

    con = duckdb.connect(str(source), read_only=True)
    pg = psycopg.connect(database_url, autocommit=True)
    try:
        tables = [("raw", t) for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()]
        for schema, table in [*tables, ("ops", "load_manifest")]:
            columns = con.execute("select column_name, data_type from information_schema.columns "
                                  "where table_schema = ? and table_name = ? order by ordinal_position",
                                  [schema, table]).fetchall()
            pg.execute(f"create schema if not exists {schema}")
            pg.execute(f"create table {schema}.{table} ("
                       + ", ".join(f'"{c}" {PG_TYPES.get(t, "text")}' for c, t in columns) + ")")
            csv_path = scratch / f"{schema}.{table}.csv"
            con.execute(f"copy (select * from {schema}.{table}) to '{csv_path}' (header false)")
            with pg.cursor().copy(f"copy {schema}.{table} from stdin (format csv)") as copy, csv_path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
    finally:
        con.close()
        pg.close()


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory):
    admin = connect_test_postgres()
    import shutil

    import psycopg

    from tests.conftest import SAMPLE_LANDING, make_workspace

    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("engines")
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    ws = make_workspace(root, landing, monkeypatch)
    assert run_pipeline() is True
    database = f"cdp_engines_{uuid.uuid4().hex[:10]}"
    admin.execute(f"create database {database}")
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    url = psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database)
    try:
        copy_landed_tables(ws.settings.warehouse, url, root)
        env = {"CDP_DBT_TARGET": "postgres", "CDP_POSTGRES_DB": database,
               "CDP_POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
               "CDP_POSTGRES_PORT": str(info.get("port", 5432)),
               "CDP_POSTGRES_USER": str(info.get("user", "postgres")),
               "CDP_POSTGRES_PASSWORD": str(info.get("password", ""))}
        for name, value in env.items():
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
    tables = pg.execute("""select table_schema, table_name from information_schema.tables
                           where table_schema in ('staging', 'intermediate', 'marts', 'audiences')
                             and table_type = 'BASE TABLE' order by 1, 2""").fetchall()
    assert len(tables) > 45
    differ = []
    for schema, table in tables:
        if table in HISTORY:
            continue
        on_pg = pg.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
        on_duckdb = ws.query(f"select count(*) from {schema}.{table}")[0][0]
        if on_pg != on_duckdb:
            differ.append((f"{schema}.{table}", on_pg, on_duckdb))
    assert differ == []
    profiles = {r[0] for r in pg.execute("select profile_id from marts.dim_profiles").fetchall()}
    assert profiles == {r[0] for r in ws.query("select profile_id from marts.dim_profiles")} and len(profiles) > 3000
    money = "select channel, sum(linear_value), sum(w_shaped_value) from marts.attribution_credits group by 1"
    assert {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in pg.execute(money).fetchall()} == {
        r[0]: (Decimal(r[1]), Decimal(r[2])) for r in ws.query(money)}
    scores = "select profile_id, lead_score, lifecycle_stage from marts.dim_profiles"
    on_pg = {r[0]: (round(float(r[1]), 9), r[2]) for r in pg.execute(scores).fetchall()}
    assert on_pg == {r[0]: (round(float(r[1]), 9), r[2]) for r in ws.query(scores)}
