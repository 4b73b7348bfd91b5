"""The embedded DuckDB warehouse (the file of CDP_WAREHOUSE, opened by its single writer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdp.engines.base import Column, Engine, bind_values
from cdp.sql_text import quote_identifier
from cdp.warehouse import open_connection


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, con=None) -> None:
        if con is None:
            from cdp.settings import get_settings

            settings = get_settings()
            con = open_connection(settings.warehouse, settings)
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] | None = None):
        # DuckDB's own cursor has the Result interface (fetchone, fetchall, description, df)
        return self.con.execute(sql, list(params) if params else None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.con.executemany(sql, [list(r) for r in rows])

    def execute_native(self, sql: str) -> None:
        self.con.execute(sql)

    def arrow_batches(self, sql: str, rows: int):
        return self.con.sql(sql).to_arrow_reader(rows)

    def append_arrow(self, schema: str, table: str, data: Any) -> int:
        self.con.register("_cdp_append", data)
        try:
            self.con.execute(f"insert into {quote_identifier(schema)}.{quote_identifier(table)} by name "
                             "select * from _cdp_append")
        finally:
            self.con.unregister("_cdp_append")
        return data.num_rows

    def fetch(self, sql: str) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def replace_table(self, schema: str, table: str, columns: Sequence[Column], rows: Sequence[tuple]) -> None:
        target = f"{quote_identifier(schema)}.{quote_identifier(table)}"
        ddl = ", ".join(f"{quote_identifier(c.name)} {self.column_type(c)}" for c in columns)
        self.con.execute("begin")
        try:
            self.con.execute(f"create schema if not exists {quote_identifier(schema)}")
            self.con.execute(f"create or replace table {target} ({ddl})")
            if rows:
                self.con.executemany(f"insert into {target} values ({', '.join('?' for _ in columns)})",
                                     bind_values(columns, rows))
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise

    def create_table_as(self, schema: str, table: str, query: str) -> None:
        self.con.execute(f"create schema if not exists {quote_identifier(schema)}")
        self.con.execute(f"create or replace table {quote_identifier(schema)}.{quote_identifier(table)} as {query}")

    def close(self) -> None:
        self.con.close()
