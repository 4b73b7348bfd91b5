"""PostgreSQL, at the address the dbt `postgres` target uses (CDP_POSTGRES_*)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from cdp.engines.base import Column, Engine, Result, bind_values
from cdp.engines.dialect import is_transaction_control, translate
from cdp.settings import postgres_parameters

#: a `%` of the SQL text itself (not a `%s` placeholder): doubled when values are bound
_LITERAL_PERCENT = re.compile(r"%(?!s)")


def postgres_conninfo() -> str:
    """The connection string of the `postgres` target (CDP_POSTGRES_URL, or the CDP_POSTGRES_* parts
    that profiles.yml reads)."""
    parts = postgres_parameters()
    return psycopg.conninfo.make_conninfo(
        host=parts["host"], port=parts["port"], user=parts["user"], password=parts["password"] or None,
        dbname=parts["dbname"])


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, conninfo: str | None = None) -> None:
        try:
            # autocommit: every statement is its own transaction unless the caller says `begin`
            self.con = psycopg.connect(conninfo or postgres_conninfo(), autocommit=True)
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"Could not connect to PostgreSQL (CDP_POSTGRES_URL): {exc}") from exc

    def execute(self, sql_text: str, params: Sequence[Any] | None = None) -> Result:
        control = is_transaction_control(sql_text)
        if control:
            self.con.execute(control)
            return Result([], [], 0)
        result = Result([], [], 0)
        with self.con.cursor() as cursor:
            for statement in translate(sql_text, "postgres"):
                if params:
                    cursor.execute(_LITERAL_PERCENT.sub("%%", statement).encode(), list(params))
                else:
                    cursor.execute(statement.encode())
                columns = [d.name for d in cursor.description or []]
                result = Result(cursor.fetchall() if columns else [], columns, cursor.rowcount)
        return result

    def executemany(self, sql_text: str, rows: Sequence[Sequence[Any]]) -> None:
        (statement,) = translate(sql_text, "postgres")
        with self.con.cursor() as cursor:
            cursor.executemany(_LITERAL_PERCENT.sub("%%", statement).encode(), [list(r) for r in rows])

    def execute_native(self, sql_text: str) -> None:
        self.con.execute(sql_text.encode())

    def arrow_batches(self, sql_text: str, rows: int) -> Iterator[Any]:
        import pyarrow as pa

        (statement,) = translate(sql_text, "postgres")
        # a named (server-side) cursor streams; it needs a transaction of its own
        with self.con.transaction(), self.con.cursor(name="cdp_arrow") as cursor:
            cursor.execute(statement.encode())
            columns = None
            while chunk := cursor.fetchmany(rows):
                columns = columns or [d.name for d in cursor.description]
                yield pa.RecordBatch.from_pylist([dict(zip(columns, r, strict=True)) for r in chunk])

    def append_arrow(self, schema: str, table: str, data: Any) -> int:
        """COPY the rows in, as CSV written by Arrow (set-based: no row passes through Python)."""
        import pyarrow.csv as pacsv

        if not data.num_rows:
            return 0
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in data.column_names)
        copy_sql = sql.SQL("copy {} ({}) from stdin (format csv)").format(sql.Identifier(schema, table), columns)
        with self.con.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(buffer.getvalue())
        return data.num_rows

    def fetch(self, query: str) -> list[dict[str, Any]]:
        with self.con.cursor() as cursor:
            cursor.execute(query)
            names = [d.name for d in cursor.description or []]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        self.con.commit()
        return rows

    def replace_table(self, schema: str, table: str, columns: Sequence[Column], rows: Sequence[tuple]) -> None:
        target = sql.Identifier(schema, table)
        ddl = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(self.column_type(c)))
                                 for c in columns)
        insert = sql.SQL("insert into {} values ({})").format(
            target, sql.SQL(", ").join(sql.Placeholder() for _ in columns))
        # One transaction: readers see the old table until the new one is complete.
        with self.con.transaction(), self.con.cursor() as cursor:
            cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            cursor.execute(sql.SQL("drop table if exists {} cascade").format(target))
            cursor.execute(sql.SQL("create table {} ({})").format(target, ddl))
            if rows:
                cursor.executemany(insert, bind_values(columns, rows))

    def close(self) -> None:
        self.con.close()
