"""The sync engine's bookkeeping tables in the warehouse's `ops` schema.

- `ops.sync_state`    one row per member a sync holds at its destination: key, profile, the hash and
                      payload of what was last sent successfully (the diff baseline; mirror deletes
                      only rows listed here; deletions use the payload to tell the platform whom).
                      The hash is DuckDB's 64-bit `hash()` of the mapped row; `hash_version` names the
                      DuckDB version that computed it (another version: the next plan resends all).
- `ops.sync_outbox__<sync>`  the current plan of a sync, written before anything is sent, one row
                      per operation with its batch (typed payload; made by plan.py, dropped when done).
- `ops.sync_batches`  one row per outbox batch applied (committed with the state); a crash leaves
                      batches without a row, which the next run resumes.
- `ops.sync_plans`    one row per plan: counts, status (pending, done, blocked, discarded).
- `ops.sync_runs`     one row per run: counts planned / sent / succeeded / failed / held back, status, and
                      the sync's contact channel (what frequency caps and marts.contact_ledger count).
- `ops.sync_log`      one row per member sent, failed or held back, with the reason.
- `ops.sync_uploads`  one row per asynchronous upload an ad platform took (a Google Customer Match job,
                      a Meta upload session): its state and match rate as last read back; the run's
                      match rate range is copied to `ops.sync_runs`.
- `ops.deletion_ledger` every step of every deletion request (warehouse erasure, destination deletes).
- `ops.erased_profiles` profiles erased from the warehouse, so later runs still delete them downstream.
- `ops.holdout_assignments` each eligible member of a sync with a holdout: experiment, variant
                      (control: never sent; treatment) and when first assigned (the lift window's start).
"""

from __future__ import annotations

import duckdb

from cdp.ops_schema import SYNC_DDL


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    if hasattr(con, "table_exists"):  # a warehouse engine of the application (PostgreSQL, Spark)
        return bool(con.table_exists(schema, table))
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchone()[0])


def ensure_sync_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SYNC_DDL)
    _migrate_text_hashes(con)


def _migrate_text_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """States (and pending outboxes) from before row hashes were numbers held them as text,
    '<duckdb version>:<hash>'; split them into the number and its version, once."""
    state_type = con.execute("select column_type from (describe ops.sync_state) where column_name = 'row_hash'"
                             ).fetchone()[0]
    if state_type != "VARCHAR":
        return
    tables = ["sync_state", *(r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'ops' "
        "and table_name like 'sync\\_outbox\\_\\_%' escape '\\'").fetchall())]
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        if table == "sync_state":
            con.execute("alter table ops.sync_state add column if not exists hash_version varchar")
            con.execute("update ops.sync_state set hash_version = split_part(row_hash, ':', 1)")
        con.execute(f"alter table ops.{quoted} alter column row_hash set data type ubigint "
                    "using coalesce(try_cast(split_part(row_hash, ':', 2) as ubigint), 0)")
