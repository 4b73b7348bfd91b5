"""Apache Spark: the session the dbt `spark` target uses (same master, warehouse folder and
metastore, from settings.spark_conf()), with Parquet tables."""

from __future__ import annotations

import atexit
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from cdp.engines.base import Column, Engine, Result, bind_values
from cdp.engines.dialect import is_transaction_control, translate
from cdp.settings import spark_conf
from cdp.sql_text import quote_identifier

#: `insert into <table> [(columns)] values (<one row>)`: executemany sends many rows in one statement
_INSERT_VALUES = re.compile(r"^(\s*insert\s+into\s+.+?\s+values\s*)(\(.*\))\s*$", re.I | re.S)
#: rows per multi-row insert (each statement is a Spark job and a Parquet file)
INSERT_ROWS = 1000
_DELETE = re.compile(r"^\s*delete\s+from\s+(\S+)\s+as\s+t\s+where\s+(.*)$", re.I | re.S)


def spark_session():
    """The local Spark session with Hive support (tables persist in the metastore between processes)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("The spark engine needs pyspark: pip install -e '.[spark]'") from exc
    # Python tasks (the loaders' file tasks) run this interpreter, with this environment's packages,
    # not whatever `python3` is first on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("cdp").enableHiveSupport()
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkEngine(Engine):
    name = "spark"
    quote = "`"

    def __init__(self) -> None:
        self.spark = spark_session()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        if is_transaction_control(sql):  # Parquet tables: each write is one job, no transactions
            return Result([], [], 0)
        delete = _DELETE.match(sql)
        if delete:  # Parquet tables have no DELETE: keep the other rows
            table, condition = delete.groups()
            schema, name = (part.strip('"') for part in table.split(".", 1))
            self.rewrite_table(schema, name, f"select * from {table} as t where not ({condition})")
            return Result([], [], -1)
        result = Result([], [], 0)
        for statement in translate(sql, "spark"):
            frame = self.spark.sql(statement, args=list(params)) if params else self.spark.sql(statement)
            columns = list(frame.columns)
            result = Result([tuple(r) for r in frame.collect()] if columns else [], columns, -1)
        return result

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One multi-row insert per INSERT_ROWS rows: a statement per row would be a Spark job (and a
        small Parquet file) per row."""
        insert = _INSERT_VALUES.match(sql)
        if not insert:
            super().executemany(sql, rows)
            return
        head, row = insert.groups()
        rows = list(rows)
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start:start + INSERT_ROWS]
            self.execute(head + ", ".join([row] * len(chunk)), [value for r in chunk for value in r])

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{schema}.{table}"))

    def rewrite_table(self, schema: str, table: str, query: str) -> None:
        """Replace the rows of `schema.table` with those of `query` (DuckDB dialect; may read the table):
        computed into a scratch table first, since Spark cannot overwrite a table it is reading."""
        target = f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}"
        scratch = f"{quote_identifier(schema, '`')}.{quote_identifier(table + '__cdp_rewrite', '`')}"
        self.spark.sql(f"drop table if exists {scratch}")
        (select,) = translate(query, "spark")
        self.spark.sql(f"create table {scratch} using parquet as {select}")
        self.spark.sql(f"insert overwrite table {target} select * from {scratch}")
        self.spark.sql(f"drop table {scratch}")

    def create_table_as(self, schema: str, table: str, query: str) -> None:
        target = f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}"
        (select,) = translate(query, "spark")
        self.spark.sql(f"create database if not exists {quote_identifier(schema, '`')}")
        self.spark.sql(f"drop table if exists {target}")
        self.spark.sql(f"create table {target} using parquet as {select}")

    def tables(self, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
        found = []
        for schema in schemas:
            if self.spark.catalog.databaseExists(schema):
                found += [(schema, t.name) for t in self.spark.catalog.listTables(schema)
                          if not t.isTemporary and t.tableType != "VIEW"]
        return found

    def drop_scratch(self) -> None:
        from cdp.engines.dialect import SPARK_SCRATCH

        if self.spark.catalog.databaseExists(SPARK_SCRATCH):
            for table in self.spark.catalog.listTables(SPARK_SCRATCH):
                if not table.isTemporary:
                    self.spark.sql(f"drop view if exists {quote_identifier(table.name, '`')}")
                    self.spark.sql(f"drop table if exists {SPARK_SCRATCH}.{quote_identifier(table.name, '`')}")

    def truncate(self, schema: str, table: str) -> None:
        self.spark.sql(f"truncate table {quote_identifier(schema, '`')}.{quote_identifier(table, '`')}")

    def column_types(self, relations: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """From each table's schema, resolved by the analyser alone (no job runs)."""
        found = {}
        for schema, table in dict.fromkeys(relations):
            if self.table_exists(schema, table):
                fields = self.spark.table(f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}").schema
                found[(schema, table)] = [(f.name, f.dataType.simpleString()) for f in fields]
        return found

    def columns(self, schema: str, table: str) -> list[str]:
        if not self.table_exists(schema, table):
            return []
        return list(self.spark.table(f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}").columns)

    def execute_native(self, sql: str) -> None:
        self.spark.sql(sql)

    def arrow_batches(self, sql: str, rows: int) -> Iterator[Any]:
        (statement,) = translate(sql, "spark")
        yield from self.spark.sql(statement).toArrow().to_batches(max_chunksize=rows)

    def append_arrow(self, schema: str, table: str, data: Any) -> int:
        """Append through a DataFrame made from Arrow, columns in the table's order."""
        if not data.num_rows:
            return 0
        target = f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}"
        order = self.spark.table(target).columns
        frame = self.spark.createDataFrame(data).select(*order)
        frame.write.insertInto(target)
        return data.num_rows

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(sql).collect()]

    def replace_table(self, schema: str, table: str, columns: Sequence[Column], rows: Sequence[tuple]) -> None:
        from pyspark.sql.types import DecimalType, DoubleType, LongType, StringType, StructField, StructType

        types = {"text": StringType(), "double": DoubleType(), "bigint": LongType(), "money": DecimalType(18, 2)}
        structure = StructType([StructField(c.name, types[c.type], nullable=True) for c in columns])
        frame = self.spark.createDataFrame(bind_values(columns, rows), structure)
        self.spark.sql(f"create database if not exists {quote_identifier(schema, '`')}")
        # Parquet tables have no transactions: overwrite replaces the table's files in one job.
        frame.write.mode("overwrite").format("parquet").saveAsTable(
            f"{quote_identifier(schema, '`')}.{quote_identifier(table, '`')}")

    def close(self) -> None:
        stop_spark(self.spark)


def stop_spark(spark) -> None:
    """Stop the session and its JVM. The local metastore (Derby) admits one JVM at a time, so another
    process (a `cdp` command after this one, a test's next warehouse) can open it only then."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None


_shared: SparkEngine | None = None


def shared_spark_engine() -> SparkEngine:
    """The process's Spark engine, opened on first use and kept for the next step: a local session is a
    JVM that takes seconds to start and warm up, more than most steps' work on a small set; dbt runs
    in this process on the same session (assets/dbt_in_process.py). Released by `release_spark()` and at exit."""
    global _shared
    if _shared is None:
        _shared = SparkEngine()
    return _shared


def release_spark() -> None:
    """Stop the process's Spark session, if one is open."""
    global _shared
    if _shared is not None:
        engine, _shared = _shared, None
        engine.close()


atexit.register(release_spark)
