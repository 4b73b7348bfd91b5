"""PostgreSQL destination: bulk COPY into a temporary staging table, then one set-based statement.

Members the plan marks as new are first COPYed straight into the table; if a key already exists
(a resent batch) that COPY rolls back and the rows take the staging path. Otherwise, per request,
in one transaction: `COPY` the rows (CSV written by DuckDB from the Arrow batch, no per-row Python) into a
temporary table shaped like the target, then
  upsert  INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE   (idempotent: a resend changes nothing)
  insert  INSERT ... SELECT ... ON CONFLICT (key) DO NOTHING
  update  UPDATE ... FROM staging; keys with no row at the destination are rejected, with that reason
  delete  DELETE ... USING staging (mirror removals and deletion requests; only keys this sync sent)
The target table is created on first use from the audience's column types, with the key as primary
key and `_cdp_synced_at`. Connection problems are transient (retried); data errors (a value the
table refuses, a constraint) reject the request so the engine can isolate the bad rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql

from reverse_etl.destinations.base import KEY_COLUMN, NOT_AT_DESTINATION, Rejections, field_columns
from reverse_etl.reliability import BatchRejected, DestinationError, TransientError

PG_TYPES = {
    pa.types.is_boolean: "boolean", pa.types.is_integer: "bigint", pa.types.is_floating: "double precision",
    pa.types.is_decimal: "numeric", pa.types.is_date: "date", pa.types.is_timestamp: "timestamptz",
}


@cache
def _csv_writer() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process for writing CSV (starting one per request cost 40 ms)."""
    return duckdb.connect()


def csv_bytes(data: pa.Table) -> bytes:
    """The rows as CSV for COPY (no header; NULL as an empty field, an empty string as ""), written by an
    in-memory DuckDB reading the Arrow table in place: about 2.5x faster than Arrow's own CSV writer on
    timestamp-heavy rows, which mattered at a million members."""
    with tempfile.TemporaryDirectory(prefix="cdp_copy_") as folder:
        path = Path(folder) / "batch.csv"
        con = _csv_writer().cursor()  # a cursor per call: requests may be sent from several threads
        try:
            con.register("batch", data)
            con.execute(f"copy batch to '{path}' (format csv, header false)")
        finally:
            con.close()
        return path.read_bytes()


def pg_type(arrow_type: pa.DataType) -> str:
    for test, name in PG_TYPES.items():
        if test(arrow_type):
            return name
    return "text"


@dataclass
class PostgresDestination:
    url: str
    schema: str
    table: str
    key_field: str
    timeout_seconds: float = 30.0
    max_request_rows: int = 100_000
    snapshot: bool = False
    _con: Any = None
    _fields: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> PostgresDestination:
        if "table" not in options:
            raise ValueError("a postgres sync needs options.table")
        return cls(url, str(options.get("schema", settings.get("schema", "public"))), str(options["table"]),
                   key_field, timeout_seconds, int(options.get("request_rows", 100_000)))

    @property
    def description(self) -> str:
        return f"postgres:{self.schema}.{self.table}"

    def _connect(self) -> Any:
        if self._con is None or self._con.closed:
            try:
                self._con = psycopg.connect(self.url, connect_timeout=max(1, int(self.timeout_seconds)))
            except psycopg.OperationalError as exc:
                raise TransientError(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._con

    def open(self, schema: pa.Schema) -> None:
        self._fields = tuple(n for n in schema.names if not n.startswith("_"))
        columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(pg_type(schema.field(n).type)))
                   for n in self._fields]
        ddl = sql.SQL("create table if not exists {}.{} ({}, _cdp_synced_at timestamptz not null default now(), "
                      "primary key ({}))").format(sql.Identifier(self.schema), sql.Identifier(self.table),
                                                  sql.SQL(", ").join(columns), sql.Identifier(self.key_field))
        con = self._connect()
        try:
            with con.transaction():
                con.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(self.schema)))
                con.execute(ddl)
        except psycopg.OperationalError as exc:
            raise TransientError(f"PostgreSQL: {exc}") from exc
        except psycopg.Error as exc:
            raise DestinationError(f"cannot prepare {self.description}: {exc}") from exc

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        if op == "delete":  # the key is all a delete needs; the state keeps no payload for PostgreSQL
            fields, data = [self.key_field], pa.table({self.key_field: rows.column(KEY_COLUMN)})
        else:
            fields, data = field_columns(rows), rows.select(field_columns(rows))
        buffer = csv_bytes(data)
        target = sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.table))
        cols = sql.SQL(", ").join(sql.Identifier(f) for f in fields)
        key = sql.Identifier(self.key_field)
        con = self._connect()
        try:
            if new_members and op in ("upsert", "insert") and self._copy_straight_in(con, target, cols, buffer):
                return []
            with con.transaction():
                con.execute(sql.SQL("create temp table _cdp_stage on commit drop as select {} from {} limit 0")
                            .format(cols, target))
                with con.cursor().copy(sql.SQL("copy _cdp_stage ({}) from stdin (format csv)").format(cols)) as copy:
                    copy.write(buffer)
                missing = self._apply(con, op, target, cols, key, fields)
        except (psycopg.OperationalError, psycopg.errors.QueryCanceled) as exc:
            self._con = None
            raise TransientError(f"PostgreSQL: {exc}") from exc
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            raise BatchRejected(f"PostgreSQL refused the rows: {str(exc).splitlines()[0]}") from exc
        except psycopg.Error as exc:
            raise DestinationError(f"{self.description}: {exc}") from exc
        return [(k, f"{NOT_AT_DESTINATION} (update mode never inserts)") for k in missing]

    def _copy_straight_in(self, con: Any, target: sql.Composable, cols: sql.Composable, buffer: bytes) -> bool:
        """Members the plan says are new: COPY straight into the table (about twice as fast as staging plus
        upsert). If any key is there already (a batch resent after a crash, a reset state), the COPY rolls
        back and the caller upserts through the staging table instead."""
        try:
            copy_in = sql.SQL("copy {} ({}) from stdin (format csv)").format(target, cols)
            with con.transaction(), con.cursor().copy(copy_in) as copy:
                copy.write(buffer)
            return True
        except psycopg.errors.UniqueViolation:
            return False

    def _apply(self, con: Any, op: str, target: sql.Composable, cols: sql.Composable, key: sql.Identifier,
               fields: list[str]) -> list[str]:
        updates = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(f))
                                     for f in fields if f != self.key_field)
        if op in ("upsert", "insert"):
            action = (sql.SQL("do update set {}, _cdp_synced_at = now()").format(updates)
                      if op == "upsert" and fields != [self.key_field] else sql.SQL("do nothing"))
            con.execute(sql.SQL("insert into {} ({}) select {} from _cdp_stage on conflict ({}) {}")
                        .format(target, cols, cols, key, action))
            return []
        if op == "delete":
            con.execute(sql.SQL("delete from {} as t using _cdp_stage as s where t.{} = s.{}").format(target, key, key))
            return []
        if op == "update":
            sets = sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(f))
                                      for f in fields if f != self.key_field)
            matched = {r[0] for r in con.execute(
                sql.SQL("update {} as t set {}, _cdp_synced_at = now() from _cdp_stage as s where t.{} = s.{} "
                        "returning cast(t.{} as text)").format(target, sets, key, key, key)).fetchall()}
            staged = [r[0] for r in con.execute(sql.SQL("select cast({} as text) from _cdp_stage").format(key))]
            return [k for k in staged if k not in matched]
        raise DestinationError(f"unknown operation {op!r}")

    def commit(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
