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

SYNC_DDL = """
create schema if not exists ops;
create table if not exists ops.sync_state (
    sync_name varchar not null,
    member_key varchar not null,
    profile_id varchar,
    row_hash ubigint not null,           -- DuckDB hash() of the mapped row last sent
    payload json,                        -- kept where a delete needs more than the key (http, ad_audience)
    sent_at timestamptz not null,
    plan_id varchar not null,
    hash_version varchar                 -- DuckDB version that computed row_hash
);
create table if not exists ops.sync_batches (
    sync_name varchar not null,
    plan_id varchar not null,
    batch_no integer not null,
    op varchar not null,
    rows bigint not null,
    rows_failed bigint not null,
    committed_at timestamptz not null
);
create table if not exists ops.sync_plans (
    sync_name varchar not null,
    plan_id varchar not null,
    planned_at timestamptz not null,
    payload_type varchar not null,       -- DuckDB struct type of the payload (typed batches)
    batches integer not null,
    rows_added bigint not null,
    rows_changed bigint not null,
    rows_removed bigint not null,
    rows_held_back bigint not null,
    full_resync boolean not null,
    status varchar not null              -- pending | done | discarded
);
create table if not exists ops.sync_runs (
    sync_name varchar not null,
    run_id varchar,
    destination varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    rows_planned bigint,
    rows_sent bigint,
    rows_failed bigint,
    detail varchar
);
alter table ops.sync_runs add column if not exists plan_id varchar;
alter table ops.sync_runs add column if not exists rows_succeeded bigint;
alter table ops.sync_runs add column if not exists rows_skipped_consent bigint;
alter table ops.sync_runs add column if not exists rows_added bigint;
alter table ops.sync_runs add column if not exists rows_changed bigint;
alter table ops.sync_runs add column if not exists rows_removed bigint;
alter table ops.sync_runs add column if not exists resumed boolean;
alter table ops.sync_runs add column if not exists channel varchar;
-- the match rate the platform reported for the run's uploads (ops.sync_uploads), as a range of shares
alter table ops.sync_runs add column if not exists match_rate_low double;
alter table ops.sync_runs add column if not exists match_rate_high double;
alter table ops.sync_runs add column if not exists upload_state varchar;
create table if not exists ops.sync_uploads (
    sync_name varchar not null,
    run_id varchar not null,
    plan_id varchar,
    batch_no integer,
    reference varchar not null,          -- the platform's name for the upload (Google job, Meta session)
    submitted_at timestamptz not null,
    state varchar,                       -- as the platform last reported it
    final boolean not null default false,
    match_rate_low double,
    match_rate_high double,
    received bigint,
    matched bigint,
    detail varchar,
    checked_at timestamptz
);
create table if not exists ops.sync_log (
    sync_name varchar not null,
    plan_id varchar,
    member_key varchar,
    profile_id varchar,
    op varchar,
    status varchar not null,             -- sent | failed | skipped (update of a key not at the destination) | held_back
    reason varchar,
    logged_at timestamptz not null
);
-- the consent record that allowed a send (or, for a held-back member, the one that withheld it)
alter table ops.sync_log add column if not exists consent_record_id varchar;
create table if not exists ops.deletion_ledger (
    request_id varchar,
    profile_id varchar not null,
    step varchar not null,               -- matched | erased | destination_delete | verified
    target varchar not null,             -- table or sync
    rows_affected bigint,
    detail varchar,
    recorded_at timestamptz not null
);
create table if not exists ops.erased_profiles (
    profile_id varchar not null,
    request_id varchar,
    erased_at timestamptz not null
);
create table if not exists ops.holdout_assignments (
    experiment varchar not null,
    sync_name varchar not null,
    profile_id varchar not null,
    variant varchar not null,            -- control | treatment
    assigned_at timestamptz not null
);
"""


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
