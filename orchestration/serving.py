"""The serving copy: a read-only DuckDB file BI tools open without touching the writer's lock.

Built by attaching a new file, copying the BI-facing schemas into it, and renaming it over the old
copy atomically, so a reader sees the last complete good copy. Only called after every gate of a
run has passed (the Dagster asset sits downstream of every dbt model and test).
"""

from __future__ import annotations

import os

import duckdb

from orchestration.settings import Settings
from orchestration.sql_text import sql_string

SERVED_SCHEMAS = ("staging", "marts", "audiences", "ops", "rules")


def publish_serving_copy(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Copy the served schemas into CDP_SERVING_WAREHOUSE; returns rows per copied table."""
    target = settings.serving_warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source_db = con.execute("select current_database()").fetchone()[0]
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_schema in ({}) order by 1, 2".format(
            ", ".join("?" for _ in SERVED_SCHEMAS)),
        [source_db, *SERVED_SCHEMAS],
    ).fetchall()
    copied: dict[str, int] = {}
    con.execute(f"attach {sql_string(partial)} as serving_new")
    try:
        for schema in sorted({s for s, _ in tables}):
            con.execute(f'create schema serving_new."{schema}"')
        for schema, table in tables:
            con.execute(f'create table serving_new."{schema}"."{table}" as '
                        f'select * from "{source_db}"."{schema}"."{table}"')
            copied[f"{schema}.{table}"] = con.execute(
                f'select count(*) from serving_new."{schema}"."{table}"').fetchone()[0]
    finally:
        con.execute("detach serving_new")
    os.replace(partial, target)
    return copied
