"""Opening the DuckDB warehouse, and the `ops` and `raw` tables the Python side owns.

There is one writer: every caller opens the file through `connect()` inside a `with` block, so the
connection is closed also when the code raises, and Dagster puts every step that calls it in the
`duckdb` pool (size one), so dbt and Python never hold the file at the same time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.build_state import BUILD_STATE_DDL
from orchestration.quality.results import QUALITY_DDL, ensure_quality_tables
from orchestration.settings import Settings, get_settings
from reverse_etl.state import SYNC_DDL, ensure_sync_tables

#: `alter table <t> add column if not exists <c> ...` (Spark has no `if not exists` there)
ADD_COLUMN = re.compile(r"^alter table (\S+) add column if not exists (\w+)", re.I)


def strip_comments(script: str) -> str:
    return re.sub(r"--[^\n]*", "", script)

#: The Dagster concurrency pool of every step that opens the warehouse (limit 1 in dagster.yaml).
WAREHOUSE_POOL = "duckdb"


def transient_retry_policy():
    """Step retries for transient failures (a lock held too long, a full disk freed, a destination
    down): twice, after 10 s then 20 s, with jitter. Gate failures raise `Failure(allow_retries=False)`
    and dbt is not retried (its tests would fail again), so only real accidents are retried."""
    import dagster as dg

    return dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

OPS_DDL = """
create schema if not exists ops;
create schema if not exists raw;
create table if not exists ops.load_manifest (
    file_path varchar not null,
    source varchar not null,
    file_hash varchar not null,
    file_bytes bigint,
    status varchar not null,            -- loaded | quarantined (whole file) | skipped_same_content
    rows_read bigint not null,          -- non-blank lines / records in the file
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    duplicates_skipped bigint not null,
    blank_lines bigint not null,
    reason varchar,                     -- why a whole file was quarantined
    loaded_at timestamptz not null,
    load_seconds double
);
alter table ops.load_manifest add column if not exists rows_erased bigint default 0;  -- privacy erasure
create table if not exists ops.quarantine (
    source varchar not null,
    source_file varchar not null,
    file_hash varchar not null,
    line_number bigint,                 -- null when the whole file is quarantined
    payload varchar,                    -- the original line / record, as it arrived
    reason varchar not null,
    quarantined_at timestamptz not null
);
"""


def open_connection(path: Path, settings: Settings | None = None, *, read_only: bool = False,
                    retries: int = 20, wait_seconds: float = 0.5) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting a little if another process holds the writer's lock."""
    settings = settings or get_settings()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for _ in range(retries):
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=settings.duckdb_config())
            con.execute("set TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:  # lock held by another process
            last = exc
            time.sleep(wait_seconds)
    raise RuntimeError(
        f"Could not open the warehouse {path}: another process holds it ({last}). "
        "Stop the other writer (a second `cdp run`, a DuckDB CLI, a notebook) or point BI tools at "
        "the serving copy (CDP_SERVING_WAREHOUSE)."
    )


def ensure_ops_tables(con) -> None:
    """Create the `ops` and `raw` schemas and the tables the Python side owns (manifest, quarantine,
    quality results, sync bookkeeping), on whichever engine `con` speaks to."""
    if getattr(con, "name", "duckdb") == "duckdb":
        con.execute(OPS_DDL)
        con.execute(BUILD_STATE_DDL)
        ensure_sync_tables(con)
        ensure_quality_tables(con)
        return
    for script in (OPS_DDL, BUILD_STATE_DDL, QUALITY_DDL, SYNC_DDL):
        for statement in (s.strip() for s in strip_comments(script).split(";")):
            added = ADD_COLUMN.match(statement)
            if added:
                table, column = added.groups()
                if column in con.columns(*table.split(".")):
                    continue
                statement = statement.replace(" if not exists", "")
            if statement:
                con.execute(statement)


@contextmanager
def connect(settings: Settings | None = None, *, read_only: bool = False) -> Iterator:
    """The warehouse of CDP_TARGET: DuckDB's own connection to the file, or the PostgreSQL or Spark
    engine (`orchestration.engines`), which takes the same DuckDB-dialect statements."""
    settings = settings or get_settings()
    if settings.dbt_target != "duckdb":
        from orchestration.engines import open_engine

        with open_engine(settings.dbt_target) as engine:
            yield engine
        return
    con = open_connection(settings.warehouse, settings, read_only=read_only)
    try:
        if not read_only:
            ensure_ops_tables(con)
        yield con
    finally:
        con.close()
