"""The serving copy: a read-only DuckDB file BI tools open without touching the writer's lock.

Built by attaching a new file, copying the BI-facing schemas into it, and renaming it over the old
copy atomically, so a reader sees the last complete good copy. Only called after every gate of a
run has passed (the Dagster asset sits downstream of every dbt model and test).

Privacy by default (`cdp/serving.yml`): personal columns are published as their SHA-256,
raw quarantine payloads are left out, and only columns declared there stay in clear.

A connection keeps reading the file it opened (the rename replaces the path, not the open file), so
a BI tool sees a new copy on its next connection: pooled connections must be recycled (give the pool
a maximum connection age shorter than the run schedule); a new connection always opens the newest
complete copy.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from cdp.settings import Settings
from cdp.sql_text import sql_string

#: what BI reads when serving.yml names no `schemas`: the marts (the BI contract), the audiences, the
#: pipeline's bookkeeping and the rules; staging (every event, cleaned) is the models' input, not BI's
SERVED_SCHEMAS = ("marts", "audiences", "ops", "rules")
POLICY_FILE = Path(__file__).with_name("serving.yml")


@dataclass(frozen=True)
class ServingPolicy:
    schemas: tuple[str, ...]
    hashed_columns: frozenset[str]
    dropped_columns: frozenset[str]
    dropped_tables: frozenset[str]
    clear_schemas: frozenset[str]
    clear_columns: frozenset[str]

    def publishes(self, schema: str, table: str) -> bool:
        return not any(fnmatch.fnmatch(f"{schema}.{table}".lower(), p) for p in self.dropped_tables)

    def expression(self, schema: str, table: str, column: str) -> str | None:
        """The select expression publishing `column`, or None to leave it out."""
        qualified = f"{schema}.{table}.{column}".lower()
        if qualified in self.dropped_columns:
            return None
        quoted = '"' + column.replace('"', '""') + '"'
        if (column.lower() in self.hashed_columns and schema.lower() not in self.clear_schemas
                and qualified not in self.clear_columns):
            return f"sha256(cast({quoted} as varchar)) as {quoted}"
        return quoted


def load_policy(path: Path = POLICY_FILE) -> ServingPolicy:
    raw = yaml.safe_load(path.read_text()) or {}
    keys = ("schemas", "hashed_columns", "dropped_columns", "dropped_tables", "clear_schemas", "clear_columns")
    unknown = set(raw) - set(keys)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; expected {', '.join(keys)}")

    def names(key: str) -> frozenset[str]:
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: {key} must be a list of names")
        return frozenset(v.lower() for v in value)

    schemas = tuple(sorted(names("schemas"))) if "schemas" in raw else SERVED_SCHEMAS
    return ServingPolicy(schemas, names("hashed_columns"), names("dropped_columns"), names("dropped_tables"),
                         names("clear_schemas"), names("clear_columns"))


def publish_serving_copy(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Copy the served schemas into CDP_SERVING_WAREHOUSE; returns rows per copied table."""
    target = settings.serving_warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source_db = con.execute("select current_database()").fetchone()[0]
    policy = load_policy()
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = ? and table_schema in ({}) order by 1, 2".format(
            ", ".join("?" for _ in policy.schemas)),
        [source_db, *policy.schemas],
    ).fetchall()
    tables = [(s, t) for s, t in tables if policy.publishes(s, t)]
    copied: dict[str, int] = {}
    con.execute(f"attach {sql_string(partial)} as serving_new")
    try:
        for schema in sorted({s for s, _ in tables}):
            con.execute(f'create schema serving_new."{schema}"')
        for schema, table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_catalog = ? and table_schema = ? "
                "and table_name = ? order by ordinal_position", [source_db, schema, table]).fetchall()]
            published = [e for e in (policy.expression(schema, table, c) for c in columns) if e is not None]
            con.execute(f'create table serving_new."{schema}"."{table}" as '
                        f'select {", ".join(published)} from "{source_db}"."{schema}"."{table}"')
            copied[f"{schema}.{table}"] = con.execute(
                f'select count(*) from serving_new."{schema}"."{table}"').fetchone()[0]
    finally:
        con.execute("detach serving_new")
    os.replace(partial, target)
    return copied
