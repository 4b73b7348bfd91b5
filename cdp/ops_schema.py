"""The `ops` and `raw` schemas: the tables the Python side owns, on whichever engine. The ground floor
holds their definitions so that the warehouse interface creates them without importing the libraries
that write them (ingestion, quality, reverse ETL, the build state), which import these from here.

- `ops.load_manifest`, `ops.quarantine`, ... : ingestion's record of every file and rejected row;
- `ops.build_state`: what each build published;
- `ops.quality_results`: every gate evaluation;
- `ops.sync_*`, `ops.deletion_ledger`, `ops.erased_profiles`, `ops.holdout_assignments`: reverse ETL
  and privacy bookkeeping (described in `reverse_etl/state.py`);
- `ops.propensity_models`: the card of every propensity model trained (`cdp/propensity.py`);
- `ops.identity_probabilistic_models`: the card of every run of the probabilistic identity tier
  (`cdp/identity_probabilistic.py`).
"""

from __future__ import annotations

import re

#: `alter table <t> add column if not exists <c> ...` (Spark has no `if not exists` there)
ADD_COLUMN = re.compile(r"^alter table (\S+) add column if not exists (\w+)", re.I)


def strip_comments(script: str) -> str:
    return re.sub(r"--[^\n]*", "", script)


OPS_DDL = """
create schema if not exists ops;
create schema if not exists raw;
create table if not exists ops.load_manifest (
    file_path varchar not null,
    source varchar not null,
    file_hash varchar not null,
    file_bytes bigint,
    status varchar not null,            -- loaded | quarantined (whole file) | skipped_same_content
    rows_read bigint not null,          -- non-blank lines / records in the file
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    duplicates_skipped bigint not null,
    blank_lines bigint not null,
    reason varchar,                     -- why a whole file was quarantined
    loaded_at timestamptz not null,
    load_seconds double
);
alter table ops.load_manifest add column if not exists rows_erased bigint default 0;  -- privacy erasure
create table if not exists ops.quarantine (
    source varchar not null,
    source_file varchar not null,
    file_hash varchar not null,
    line_number bigint,                 -- null when the whole file is quarantined
    payload varchar,                    -- the original line / record, as it arrived
    reason varchar not null,
    quarantined_at timestamptz not null
);
"""

BUILD_STATE_DDL = """
create table if not exists ops.build_state (
    fingerprint varchar not null,      -- sha256 of `parts`
    parts varchar not null,            -- JSON: raw rows per source and a signature per input
    run_id varchar,
    recorded_at timestamptz not null
)
"""

QUALITY_DDL = """
create schema if not exists ops;
create table if not exists ops.quality_results (
    run_id varchar,                 -- the Dagster run (null outside Dagster)
    checked_at timestamptz not null,
    layer varchar not null,         -- landing | raw | staging | identity | marts | audiences | reverse_etl
    asset varchar not null,         -- the checked asset, e.g. raw/events, marts/dim_profiles
    check_name varchar not null,
    target varchar,                 -- what exactly was checked: a file, a column, a table
    engine varchar not null,        -- great_expectations | dbt | sql
    severity varchar not null,      -- error (blocks downstream) | warn (recorded, run goes on)
    passed boolean not null,
    rows_checked bigint,
    rows_failed bigint,
    observed double,                -- the measured value (a rate, a count, a share)
    threshold varchar,              -- what it was held against
    seconds double,                 -- time the evaluation took
    details varchar                 -- JSON: a sample of failing values, dbt's message, ...
);
"""

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

PROPENSITY_DDL = """
create table if not exists ops.propensity_models (
    model_id varchar not null,
    trained_at timestamptz not null,
    status varchar not null,            -- trained | not_enough_history
    horizon_days bigint,
    training_cutoffs varchar,           -- JSON list
    validation_cutoff timestamptz,
    scoring_cutoff timestamptz,
    training_rows bigint,
    training_positives bigint,
    validation_rows bigint,
    validation_positives bigint,
    auc double,                         -- on the validation cut-off
    lead_score_auc double,              -- the rule-based lead score's, same rows and labels
    features varchar,                   -- JSON: feature, weight per standard deviation, mean, sd
    calibration varchar,                -- JSON: per decile, rows, mean predicted, observed rate
    detail varchar
);
"""

IDENTITY_PROBABILISTIC_DDL = """
create table if not exists ops.identity_probabilistic_models (
    model_id varchar not null,
    trained_at timestamptz not null,
    engine varchar not null,
    status varchar not null,            -- linked | off (...) | nothing to compare (...)
    records bigint,                     -- records compared (intermediate.int_identity__match_records)
    pairs_above_threshold bigint,       -- scored pairs at or above min_probability
    links bigint,                       -- of those, the ones that share no exact email or phone
    min_probability double,
    probability_two_random_records_match double,
    parameters varchar,                 -- JSON: per comparison, m and u per level
    seconds double
);
"""

SCRIPTS = (OPS_DDL, BUILD_STATE_DDL, QUALITY_DDL, SYNC_DDL, PROPENSITY_DDL, IDENTITY_PROBABILISTIC_DDL)


def ensure_ops_tables(con) -> None:
    """Create the `ops` and `raw` schemas and the tables the Python side owns (manifest, quarantine,
    quality results, sync bookkeeping), on whichever engine `con` speaks to."""
    if getattr(con, "name", "duckdb") == "duckdb":
        for script in SCRIPTS:
            con.execute(script)
        return
    for script in SCRIPTS:
        for statement in (s.strip() for s in strip_comments(script).split(";")):
            added = ADD_COLUMN.match(statement)
            if added:
                table, column = added.groups()
                if column in con.columns(*table.split(".")):
                    continue
                statement = statement.replace(" if not exists", "")
            if statement:
                con.execute(statement)
