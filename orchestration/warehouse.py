"""Opening the DuckDB warehouse, and the `ops` and `raw` tables the Python side owns.

There is one writer: every caller opens the file through `connect()` inside a `with` block, so the
connection is closed also when the code raises, and Dagster puts every step that calls it in the
`duckdb` pool (size one), so dbt and Python never hold the file at the same time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.quality.results import ensure_quality_tables
from orchestration.settings import Settings, get_settings
from reverse_etl.state import ensure_sync_tables

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


@contextmanager
def connect(settings: Settings | None = None, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings = settings or get_settings()
    con = open_connection(settings.warehouse, settings, read_only=read_only)
    try:
        if not read_only:
            con.execute(OPS_DDL)
            ensure_sync_tables(con)
            ensure_quality_tables(con)
        yield con
    finally:
        con.close()
