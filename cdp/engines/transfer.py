"""Copy what the loaders landed (raw.* and ops.load_manifest) from the DuckDB warehouse into another
engine, so the dbt models can be built there from the same inputs (engine parity tests, benchmarks).

Set-based end to end: DuckDB writes each table to a file (CSV for PostgreSQL's COPY, Parquet for
Spark's reader) and the engine reads the file whole; no row passes through Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp.sql_text import quote_identifier, sql_string

#: DuckDB column types -> PostgreSQL's (anything else lands as text)
POSTGRES_TYPES = {"VARCHAR": "text", "JSON": "jsonb", "BIGINT": "bigint", "TIMESTAMP WITH TIME ZONE": "timestamptz",
                  "UBIGINT": "numeric(20)", "DOUBLE": "double precision", "INTEGER": "integer",
                  "BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "DATE": "date"}
#: DuckDB column types Parquet or Spark would not read as the models expect, and what to write instead
SPARK_CASTS = {"JSON": "varchar", "UBIGINT": "decimal(20, 0)", "HUGEINT": "decimal(38, 0)"}


def landed_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    raw = [("raw", t) for (t,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw' order by 1").fetchall()]
    return [*raw, ("ops", "load_manifest")]


def duckdb_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a DuckDB table, in order."""
    return con.execute("select column_name, data_type from information_schema.columns "
                       "where table_schema = ? and table_name = ? order by ordinal_position",
                       [schema, table]).fetchall()


def copy_to_postgres(source: Path, conninfo: str, scratch: Path) -> list[str]:
    """raw.* and ops.load_manifest into the PostgreSQL database of `conninfo` (tables replaced)."""
    import psycopg
    from psycopg import sql

    con = duckdb.connect(str(source), read_only=True)
    pg = psycopg.connect(conninfo, autocommit=True)
    copied = []
    try:
        for schema, table in landed_tables(con):
            columns = duckdb_columns(con, schema, table)
            target = sql.Identifier(schema, table)
            pg.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            pg.execute(sql.SQL("drop table if exists {} cascade").format(target))
            pg.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(POSTGRES_TYPES.get(t, "text")))
                for c, t in columns)))
            csv_path = scratch / f"{schema}.{table}.csv"
            con.execute(f"copy (select * from {quote_identifier(schema)}.{quote_identifier(table)}) "
                        f"to {sql_string(csv_path)} (header false)")
            with pg.cursor().copy(sql.SQL("copy {} from stdin (format csv)").format(target)) as copy, \
                    csv_path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            csv_path.unlink()
            copied.append(f"{schema}.{table}")
    finally:
        con.close()
        pg.close()
    return copied


def copy_to_spark(source: Path, scratch: Path, spark=None) -> list[str]:
    """raw.* and ops.load_manifest into the Spark session's warehouse, as Parquet tables. Into `spark`
    when given (left open), else into a session of its own, stopped at the end."""
    from cdp.engines.spark_engine import spark_session, stop_spark

    con = duckdb.connect(str(source), read_only=True)
    own_session = spark is None
    spark = spark or spark_session()
    copied = []
    try:
        for schema, table in landed_tables(con):
            select = ", ".join(
                f"cast({quote_identifier(c)} as {SPARK_CASTS[t]}) as {quote_identifier(c)}" if t in SPARK_CASTS
                else quote_identifier(c) for c, t in duckdb_columns(con, schema, table))
            folder = scratch / f"{schema}.{table}"
            folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy (select {select} from {quote_identifier(schema)}.{quote_identifier(table)}) "
                        f"to {sql_string(folder / 'data.parquet')} (format parquet)")
            name = f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}"
            spark.sql(f"create database if not exists {quote_identifier(schema, '`')}")
            spark.sql(f"drop table if exists {name}")
            spark.read.parquet(str(folder)).write.format("parquet").saveAsTable(name)
            copied.append(f"{schema}.{table}")
    finally:
        con.close()
        if own_session:
            stop_spark(spark)
    return copied


#: DuckDB types Arrow would hand over in a form the target does not take, and what to send instead
SEND_AS = {"JSON": "varchar", "UBIGINT": "decimal(20, 0)"}
#: rows per Arrow batch sent to the target (bounded memory whatever the file sizes)
BATCH_ROWS = 200_000


def sendable_select(columns: list[tuple[str, str]], relation: str) -> str:
    """A select of `relation` whose columns Arrow hands to any engine as it takes them."""
    return "select " + ", ".join(
        f"cast({quote_identifier(c)} as {SEND_AS[t]}) as {quote_identifier(c)}" if t in SEND_AS
        else quote_identifier(c) for c, t in columns) + f" from {relation}"


def stream_into(engine, con: duckdb.DuckDBPyConnection, query: str, schema: str, table: str) -> int:
    """Stream a DuckDB query's rows into `schema.table` of the target, batch by batch."""
    import pyarrow as pa

    reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
    sent = 0
    for batch in reader:
        sent += engine.append_arrow(schema, table, pa.Table.from_batches([batch]))
    return sent
