"""Where the reverse-ETL engine plans and keeps its books when the warehouse is PostgreSQL or Spark.

The sync engine (`reverse_etl`) plans in DuckDB: typed payloads, 64-bit row hashes and the two-pass
diff are DuckDB SQL. On DuckDB it works in the warehouse itself. On PostgreSQL and Spark it works in
a workspace, a DuckDB file beside the other local state (`sync_workspace_<target>.duckdb`), which
holds the sync bookkeeping between runs (state, outboxes of plans left pending by a crash) and,
during a sync step, a fresh copy of what the plans read from the warehouse:

- the audiences the syncs send and suppress,
- the consent columns of `marts.dim_profiles` (profile id, each purpose's state and record),
- the people with a deletion request (`intermediate.int_privacy__deleted_profiles`,
  `ops.erased_profiles`).

The copies are streamed in Arrow batches and replaced on every sync step (so an erased person, gone
from the warehouse, is gone from them too). After the step, the bookkeeping goes back to the
warehouse's `ops` tables (state, plans, batches and runs replaced; new log and deletion-ledger rows
appended), so `cdp status`, BI and the gates read syncs where they read everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cdp.engines.base import Engine
from cdp.engines.transfer import BATCH_ROWS, duckdb_columns, sendable_select, stream_into
from cdp.settings import Settings
from cdp.sql_text import quote_identifier
from cdp.warehouse import ensure_ops_tables, open_connection
from reverse_etl.config import SyncConfig

#: bookkeeping replaced in the warehouse after each step / appended (only the step's new rows)
REPLACED = ("sync_state", "sync_batches", "sync_plans", "sync_runs", "holdout_assignments")
APPENDED = ("sync_log", "deletion_ledger")
DELETED_PROFILES = (("intermediate", "int_privacy__deleted_profiles"), ("ops", "erased_profiles"))


def workspace_path(settings: Settings) -> Path:
    return settings.warehouse.parent / f"sync_workspace_{settings.dbt_target}.duckdb"


@contextmanager
def sync_connection(settings: Settings, warehouse, config: SyncConfig, run_id: str | None = None) -> Iterator:
    """The connection `reverse_etl.run_sync` works on: the DuckDB warehouse itself, or the workspace
    of a PostgreSQL or Spark warehouse (filled before, written back after; see the module). The
    inputs are copied once per pipeline run (`run_id`): the syncs of one run read the same build."""
    if not isinstance(warehouse, Engine) or warehouse.name == "duckdb":
        yield warehouse
        return
    con = open_connection(workspace_path(settings), settings)
    try:
        ensure_ops_tables(con)
        con.execute("create table if not exists ops.workspace_inputs (run_id varchar, copied_at timestamptz)")
        copied = run_id is not None and con.execute(
            "select count(*) from ops.workspace_inputs where run_id = ?", [run_id]).fetchone()[0]
        if not copied:
            _refresh_inputs(warehouse, con, config)
            con.execute("delete from ops.workspace_inputs")
            con.execute("insert into ops.workspace_inputs values (?, now())", [run_id])
        marks = {t: con.execute(f"select count(*) from ops.{t}").fetchone()[0] for t in APPENDED}
        try:
            yield con
        finally:
            _write_back(warehouse, con, marks)
    finally:
        con.close()


def _copy_table(warehouse: Engine, con: duckdb.DuckDBPyConnection, schema: str, table: str,
                columns: list[str] | None = None) -> None:
    """Replace `schema.table` in the workspace with the warehouse's rows (only `columns`, when given)."""
    import pyarrow as pa

    listed = ", ".join(quote_identifier(c) for c in columns) if columns else "*"
    batches = iter(warehouse.arrow_batches(f"select {listed} from {schema}.{quote_identifier(table)}", BATCH_ROWS))
    first = next(batches, None)
    con.execute(f"create schema if not exists {quote_identifier(schema)}")
    target = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    if first is None:  # no rows: the table with the warehouse's columns, empty
        names = columns or warehouse.columns(schema, table)
        con.execute(f"create or replace table {target} ("
                    + ", ".join(f"{quote_identifier(c)} varchar" for c in names) + ")")
        return
    con.register("_cdp_copy", pa.Table.from_batches([first]))
    con.execute(f"create or replace table {target} as select * from _cdp_copy")
    con.unregister("_cdp_copy")
    for batch in batches:
        con.register("_cdp_copy", pa.Table.from_batches([batch]))
        con.execute(f"insert into {target} by name select * from _cdp_copy")
        con.unregister("_cdp_copy")


def _refresh_inputs(warehouse: Engine, con: duckdb.DuckDBPyConnection, config: SyncConfig) -> None:
    audiences = {s.audience for s in config.syncs.values()} | set(config.suppression)
    for audience in sorted(audiences):
        if warehouse.table_exists("audiences", audience):
            _copy_table(warehouse, con, "audiences", audience)
        else:
            con.execute(f"drop table if exists audiences.{quote_identifier(audience)}")
    if warehouse.table_exists("marts", "dim_profiles"):
        consent = [c for c in warehouse.columns("marts", "dim_profiles")
                   if c.endswith("_consent") or c.endswith("_consent_record_id")]
        _copy_table(warehouse, con, "marts", "dim_profiles", ["profile_id", *consent])
    for schema, table in DELETED_PROFILES:
        if warehouse.table_exists(schema, table):
            if (schema, table) == ("ops", "erased_profiles"):
                con.execute("delete from ops.erased_profiles")
                _append_from(warehouse, con, schema, table)
            else:
                _copy_table(warehouse, con, schema, table)


def _append_from(warehouse: Engine, con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    import pyarrow as pa

    for batch in warehouse.arrow_batches(f"select * from {schema}.{table}", BATCH_ROWS):
        con.register("_cdp_copy", pa.Table.from_batches([batch]))
        con.execute(f"insert into {schema}.{table} by name select * from _cdp_copy")
        con.unregister("_cdp_copy")


def _write_back(warehouse: Engine, con: duckdb.DuckDBPyConnection, marks: dict[str, int]) -> None:
    def every_row(table: str) -> str:
        return sendable_select(duckdb_columns(con, "ops", table), f"ops.{table}")

    warehouse.execute("begin transaction")
    try:
        for table in REPLACED:
            warehouse.truncate("ops", table)
            stream_into(warehouse, con, every_row(table), "ops", table)
        for table, before in marks.items():
            query = every_row(table) + f" where rowid >= {int(before)}"
            stream_into(warehouse, con, query, "ops", table)
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
