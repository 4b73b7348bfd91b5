"""PostgreSQL, at the address the dbt `postgres` target uses (CDP_POSTGRES_*)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from orchestration.engines.base import Column, Engine, bind_values
from orchestration.settings import ENVIRONMENT


def postgres_conninfo() -> str:
    """The connection string of the dbt `postgres` target (profiles.yml reads the same variables)."""
    def env(name: str) -> str:
        return os.environ.get(name) or ENVIRONMENT[name][0]

    return psycopg.conninfo.make_conninfo(
        host=env("CDP_POSTGRES_HOST"), port=env("CDP_POSTGRES_PORT"), user=env("CDP_POSTGRES_USER"),
        password=os.environ.get("CDP_POSTGRES_PASSWORD") or None, dbname=env("CDP_POSTGRES_DB"),
    )


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, conninfo: str | None = None) -> None:
        try:
            self.con = psycopg.connect(conninfo or postgres_conninfo())
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"Could not connect to PostgreSQL (CDP_POSTGRES_HOST/PORT/USER/DB): {exc}") from exc

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
