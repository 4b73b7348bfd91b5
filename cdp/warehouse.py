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

from cdp.ops_schema import ensure_ops_tables
from cdp.settings import Settings, get_settings


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
def connect(settings: Settings | None = None, *, read_only: bool = False) -> Iterator:
    """The warehouse of CDP_TARGET: DuckDB's own connection to the file, or the PostgreSQL or Spark
    engine (`cdp.engines`), which takes the same DuckDB-dialect statements."""
    settings = settings or get_settings()
    if settings.dbt_target != "duckdb":
        from cdp.engines import open_engine

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
