"""Loading a landing source into PostgreSQL: the same contract, checked where files are read.

The landing contract (line-level quarantine with payload and reason, duplicates, the manifest, the
Great Expectations suites) is enforced by `loader.load_source`, which reads files with an embedded
DuckDB. On PostgreSQL it runs against a scratch DuckDB holding only this load (the
target's manifest rows of the source are copied in first, so files already loaded are skipped as on
DuckDB), and what it accepted is then published into the target in one step per source:

1. the new raw rows go to a staging table in the target (COPY), streamed in batches, never whole in
   Python;
2. rows whose key the target's raw already holds are counted per file as duplicates and left out
   (`insert ... where not exists`, set-based in the target), so reloads stay idempotent;
3. the manifest rows (with those duplicates moved from loaded to duplicates), the quarantined rows
   and the suites' results are appended to the target's `ops` tables.

The whole step is one transaction. Spark loads on its executors instead (`spark_load`), file by
file with the same checks.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import duckdb

from cdp.engines.base import Engine
from cdp.engines.transfer import duckdb_columns, sendable_select, stream_into
from cdp.ingest.contract import LandingContract, SourceSpec
from cdp.ingest.loader import SourceResult, dedupe_key, load_source
from cdp.quality.expectations import SuiteValidator
from cdp.quality.results import ensure_quality_tables
from cdp.sql_text import quote_identifier

#: DuckDB column types -> what the target calls them (anything else: text)
TARGET_TYPES = {
    "postgres": {"VARCHAR": "text", "JSON": "jsonb", "BIGINT": "bigint", "TIMESTAMP WITH TIME ZONE": "timestamptz",
                 "UBIGINT": "numeric(20)", "DOUBLE": "double precision", "INTEGER": "integer",
                 "BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "DATE": "date"},
    "spark": {"VARCHAR": "string", "JSON": "string", "BIGINT": "bigint", "TIMESTAMP WITH TIME ZONE": "timestamp",
              "UBIGINT": "decimal(20, 0)", "DOUBLE": "double", "INTEGER": "int", "BOOLEAN": "boolean",
              "TIMESTAMP": "timestamp", "DATE": "date"},
}
MANIFEST_COLUMNS = ("file_path", "source", "file_hash", "file_bytes", "status", "rows_read", "rows_loaded",
                    "rows_quarantined", "duplicates_skipped", "blank_lines", "reason", "loaded_at", "load_seconds",
                    "rows_erased")


def create_table_like(engine: Engine, columns: list[tuple[str, str]], schema: str, table: str) -> None:
    quote = engine.quote
    types = TARGET_TYPES[engine.name]
    ddl = ", ".join(f"{quote_identifier(c, quote)} {types.get(t, 'string' if engine.name == 'spark' else 'text')}"
                    for c, t in columns)
    name = f"{quote_identifier(schema, quote)}.{quote_identifier(table, quote)}"
    engine.execute_native(f"create table if not exists {name} ({ddl})"
                          + (" using parquet" if engine.name == "spark" else ""))


def _copy_manifest_in(engine: Engine, con: duckdb.DuckDBPyConnection, source: str) -> None:
    rows = engine.execute(f"select {', '.join(MANIFEST_COLUMNS)} from ops.load_manifest where source = ?",
                          [source]).fetchall()
    if rows:
        con.executemany(f"insert into ops.load_manifest ({', '.join(MANIFEST_COLUMNS)}) "
                        f"values ({', '.join('?' for _ in MANIFEST_COLUMNS)})", [list(r) for r in rows])


def load_into_engine(engine: Engine, spec: SourceSpec, landing_dir: Path, contract: LandingContract,
                     *, scratch_dir: Path | None = None, validator: SuiteValidator | None = None,
                     **load_options) -> SourceResult:
    """Load one source's new files into the target engine's raw and ops tables (see the module)."""
    from cdp.ops_schema import OPS_DDL
    from cdp.warehouse import open_connection

    with tempfile.TemporaryDirectory(prefix=f"cdp-load-{spec.name}-", dir=scratch_dir) as scratch:
        from cdp.settings import get_settings

        con = open_connection(Path(scratch) / "landing.duckdb", get_settings())
        try:
            con.execute(OPS_DDL)
            ensure_quality_tables(con)
            _copy_manifest_in(engine, con, spec.name)
            before = con.execute("select count(*) from ops.load_manifest").fetchone()[0]
            result = load_source(con, spec, landing_dir, contract, validator=validator, **load_options)
            if con.execute("select count(*) from ops.load_manifest").fetchone()[0] == before:
                return result
            return _publish(engine, con, spec, result, before)
        finally:
            con.close()


def _publish(engine: Engine, con: duckdb.DuckDBPyConnection, spec: SourceSpec, result: SourceResult,
             manifest_before: int) -> SourceResult:
    key = dedupe_key(spec)
    columns = duckdb_columns(con, "raw", spec.table)
    staging = f"incoming__{spec.table}"
    create_table_like(engine, columns, "raw", spec.table)
    engine.execute("begin transaction")
    try:
        engine.execute_native(f"drop table if exists {_name(engine, 'ops', staging)}")
        create_table_like(engine, columns, "ops", staging)
        stream_into(engine, con, sendable_select(columns, f"raw.{quote_identifier(spec.table)}"), "ops", staging)
        duplicates = dict(engine.execute(
            f"select i._file_hash, count(*) from ops.{staging} as i "
            f"where exists (select 1 from raw.{spec.table} as r where r.{key} = i.{key}) group by 1").fetchall())
        column_list = ", ".join(quote_identifier(c) for c, _ in columns)
        engine.execute(f"insert into raw.{spec.table} ({column_list}) select {column_list} from ops.{staging} as i "
                       f"where not exists (select 1 from raw.{spec.table} as r where r.{key} = i.{key})")
        engine.execute_native(f"drop table if exists {_name(engine, 'ops', staging)}")
        if duplicates:
            con.executemany("update ops.load_manifest set rows_loaded = rows_loaded - ?, "
                            "duplicates_skipped = duplicates_skipped + ? where file_hash = ?",
                            [[n, n, h] for h, n in duplicates.items()])
        for table in ("quarantine", "quality_results"):
            stream_into(engine, con, sendable_select(duckdb_columns(con, "ops", table), f"ops.{table}"), "ops", table)
        new_manifest = (f"select {', '.join(MANIFEST_COLUMNS)} from ops.load_manifest "
                        f"where rowid >= {int(manifest_before)}")
        stream_into(engine, con, new_manifest, "ops", "load_manifest")
        engine.execute("commit")
    except BaseException:
        engine.execute("rollback")
        raise
    if not duplicates:
        return result
    files = [dataclasses.replace(f, rows_loaded=f.rows_loaded - n, duplicates_skipped=f.duplicates_skipped + n)
             if (n := _by_path(con, duplicates, f.path)) else f for f in result.files]
    return dataclasses.replace(result, files=files)


def _by_path(con: duckdb.DuckDBPyConnection, duplicates: dict[str, int], path: str) -> int:
    row = con.execute("select file_hash from ops.load_manifest where file_path = ? order by loaded_at desc limit 1",
                      [path]).fetchone()
    return duplicates.get(row[0], 0) if row else 0


def _name(engine: Engine, schema: str, table: str) -> str:
    return f"{quote_identifier(schema, engine.quote)}.{quote_identifier(table, engine.quote)}"


def load_landing_source(con, spec: SourceSpec, settings, contract: LandingContract, **options) -> SourceResult:
    """Load one source into the warehouse of `con`: DuckDB's file directly, any other engine through
    a scratch DuckDB and a publish step (see the module)."""
    options.setdefault("missing_folder", settings.missing_source_folder)
    if isinstance(con, Engine) and con.name != "duckdb":
        from cdp.warehouse import ensure_ops_tables

        ensure_ops_tables(con)
        if con.name == "spark":
            from cdp.ingest.spark_load import load_into_spark
            from cdp.settings import spark_incoming_dir

            return load_into_spark(con, spec, settings.landing_dir, contract, incoming_dir=spark_incoming_dir(),
                                   duckdb_config=settings.duckdb_config(), **options)
        return load_into_engine(con, spec, settings.landing_dir, contract, **options)
    return load_source(con, spec, settings.landing_dir, contract, **options)
