"""What every engine offers the Python steps, and the choice of engine.

Only small results cross into Python here (channel-level tables, one-row totals): work that grows
with the data stays in the warehouse as SQL. Table and column names are ours (constants in the code
that calls this), quoted by each engine anyway; values are always bound, never pasted into SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cdp.sql_text import quote_identifier

CENT = Decimal("0.01")

#: Portable column types and what each engine calls them.
COLUMN_TYPES = {
    "text": {"duckdb": "varchar", "postgres": "text", "spark": "string"},
    "double": {"duckdb": "double", "postgres": "double precision", "spark": "double"},
    "bigint": {"duckdb": "bigint", "postgres": "bigint", "spark": "bigint"},
    # amounts of money: exact, to the cent, as the money columns of the dbt models are
    "money": {"duckdb": "decimal(18, 2)", "postgres": "numeric(18, 2)", "spark": "decimal(18,2)"},
}


def bind_values(columns: Sequence[Column], rows: Sequence[tuple]) -> list[tuple]:
    """Rows as the drivers bind them: money as Decimal cents (never a binary float)."""
    money = [i for i, c in enumerate(columns) if c.type == "money"]
    if not money:
        return [tuple(r) for r in rows]
    out = []
    for row in rows:
        values = list(row)
        for i in money:
            if values[i] is not None:
                values[i] = Decimal(str(round(float(values[i]), 2))).quantize(CENT)
        out.append(tuple(values))
    return out


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of COLUMN_TYPES

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: type must be one of {sorted(COLUMN_TYPES)}, got {self.type!r}")


class Result:
    """What a statement returned, as DuckDB's cursor gives it: rows, column names, rows affected."""

    def __init__(self, rows: list[tuple], columns: list[str], rowcount: int = -1) -> None:
        self.rows, self.columns, self.rowcount = rows, columns, rowcount

    @property
    def description(self) -> list[tuple[str]]:
        return [(c,) for c in self.columns]

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        # DML: DuckDB answers with the count of rows affected
        return self.rows if self.columns else [(self.rowcount,)]

    def df(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


class Engine(ABC):
    """A connection to the warehouse of one engine: the one interface the Python steps use.

    `execute` takes DuckDB-dialect SQL with `?` placeholders (see `dialect.translate`) and returns
    a `Result`; `begin transaction`, `commit` and `rollback` are honoured where the engine has
    transactions (DuckDB, PostgreSQL) and are no-ops on Spark's Parquet tables, whose writes are
    each one job.
    """

    name: str
    #: how the engine quotes an identifier in its own dialect (Spark: backticks)
    quote: str = '"'

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement (or a script of them) and return its last result."""

    @abstractmethod
    def execute_native(self, sql: str) -> None:
        """Run a statement already in the engine's own dialect (DDL built by the caller for this engine)."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(sql, row)

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.execute("select count(*) from information_schema.tables where table_schema = ? "
                                 "and table_name = ?", [schema, table]).fetchone()[0])

    def arrow_batches(self, sql: str, rows: int) -> Iterator[Any]:
        """The rows of a query as Arrow record batches of at most `rows` rows, streamed."""
        raise NotImplementedError

    def tables(self, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
        marks = ", ".join("?" for _ in schemas)
        return [tuple(r) for r in self.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            f"and table_schema in ({marks})", list(schemas)).fetchall()]

    def drop_scratch(self) -> None:  # noqa: B027 - temporary tables end with the session elsewhere
        """Drop the temporary tables of this connection where they outlive it (Spark's scratch schema)."""

    def truncate(self, schema: str, table: str) -> None:
        """Delete every row of `schema.table` (inside the caller's transaction where there is one)."""
        self.execute(f"delete from {schema}.{table}")

    def column_types(self, relations: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        return information_schema_types(self, relations)

    def columns(self, schema: str, table: str) -> list[str]:
        return [r[0] for r in self.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, table]).fetchall()]

    @abstractmethod
    def append_arrow(self, schema: str, table: str, data: Any) -> int:
        """Append an Arrow table (columns by name) to `schema.table`; returns the rows appended."""

    @abstractmethod
    def fetch(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a small query, as dicts by column name."""

    @abstractmethod
    def replace_table(self, schema: str, table: str, columns: Sequence[Column], rows: Sequence[tuple]) -> None:
        """Create or replace `schema.table` holding exactly `rows`, in one step readers never see half of."""

    def create_table_as(self, schema: str, table: str, query: str) -> None:
        """Create or replace `schema.table` with the rows of `query` (DuckDB dialect), computed in the
        warehouse: the way a Python step writes a table that grows with the data."""
        target = f"{quote_identifier(schema)}.{quote_identifier(table)}"
        self.execute("begin")
        try:
            self.execute(f"create schema if not exists {quote_identifier(schema)}")
            self.execute(f"drop table if exists {target}")
            self.execute(f"create table {target} as {query}")
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    def close(self) -> None:  # noqa: B027 - engines without resources to release keep the default
        """Release the connection."""

    def column_type(self, column: Column) -> str:
        return COLUMN_TYPES[column.type][self.name]


@contextmanager
def open_engine(target: str | None = None) -> Iterator[Engine]:
    """The engine of `target`, default CDP_TARGET; closed when the block ends (Spark: kept, see shared_spark_engine)."""
    from cdp.settings import get_settings

    target = target or get_settings().dbt_target
    engine: Engine
    if target == "duckdb":
        from cdp.engines.duckdb_engine import DuckDBEngine

        engine = DuckDBEngine()
    elif target == "postgres":
        from cdp.engines.postgres_engine import PostgresEngine

        engine = PostgresEngine()
    elif target == "spark":
        from cdp.engines.spark_engine import shared_spark_engine

        # one session per process, kept between steps (see shared_spark_engine)
        yield shared_spark_engine()
        return
    else:
        raise ValueError(f"unknown engine {target!r}: use duckdb, postgres or spark")
    try:
        yield engine
    finally:
        engine.close()


ColumnTypes = dict[tuple[str, str], list[tuple[str, str]]]


def information_schema_types(con: Any, relations: list[tuple[str, str]]) -> ColumnTypes:
    """(schema, table) -> [(column, type)] in column order, for the relations that exist, in one query."""
    wanted = set(relations)
    schemas = sorted({schema for schema, _ in wanted})
    if not schemas:
        return {}
    marks = ", ".join("?" for _ in schemas)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, kind in con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            f"where table_schema in ({marks}) order by table_schema, table_name, ordinal_position", schemas).fetchall():
        if (schema, table) in wanted:
            found.setdefault((schema, table), []).append((column, str(kind)))
    return found
