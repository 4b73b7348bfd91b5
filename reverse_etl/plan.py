"""Planning a sync: what to send, computed set-based inside DuckDB and written to the outbox.

1. The audience is mapped to the destination's fields (`mapping`; ad platforms get normalised,
   hashed identifiers, see `hashing.py`), and every member gets a row hash.
2. Members are held back, with the reason logged, when they are suppressed (any audience listed
   under `suppression`), lack granted consent for the sync's purpose (marts.dim_profiles), or have
   a deletion request; then by the activation rules of `activation.py`: the sync's holdout (a
   stable control group, never sent), priority lists (a person in a higher-ranked audience of the
   same list is held here) and frequency caps (too many sends on the sync's channel lately: held
   for this run only, never removed for it).
3. The rest is diffed against `ops.sync_state` (what this sync last sent successfully): new members,
   changed members, and members to remove (mirror mode: anyone this sync sent who left the
   audience or is now held back; every mode: people with a deletion request, and people this sync
   sent who no longer have granted consent for its purpose, so a revocation reaches the destination
   as a delete whatever the mode). Every send logs the consent record that allowed it. The first pass compares
   keys and 64-bit row hashes only; the second reads, by row id, the payloads of the few members sent
   and what the state holds (profile, last payload) for the few candidates for removal.
4. Guardrails run on the plan before anything is sent (empty audience, duplicate keys, deletes
   above a share of what the destination holds, change far above recent runs); a blocked plan is
   discarded.
5. The plan goes to the sync's outbox, `ops.sync_outbox__<sync>` (typed: the payload is a struct of
   the mapped fields), in numbered batches. A plan left pending by a crashed run is
   resumed as it is (same batches, same idempotency keys) instead of planning again.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

import duckdb

from reverse_etl.activation import ActivationRules, activation_rules, record_holdout_assignments
from reverse_etl.config import SyncConfig, SyncDefinition
from reverse_etl.hashing import IDENTIFIER_KINDS, identifier_expression
from reverse_etl.state import table_exists

AUDIENCE_SCHEMA = "audiences"
#: DuckDB's own 64-bit hash of the mapped row, kept in the state with the DuckDB version that computed it
#: (hashing 1M rows as text, md5 of JSON, cost more than the rest of a 1% diff; comparing numbers instead
#: of '<version>:<hash>' text took another 0.1 s off it). Should an upgrade change the hash function, the
#: state's version no longer matches and the plan becomes a full resync.
HASH_VERSION = f"duckdb{duckdb.__version__}"
ROW_HASH_SQL = "hash(s.payload)"
#: batches never mix operations, nor new members with changed ones (destinations may take a faster path)
OP_RANK_SQL = ("case when op = 'delete' then 0 when op = 'update' then 1 when op = 'upsert' and reason <> 'new member' "
               "then 2 when op = 'upsert' then 3 else 4 end")


class SyncPlanError(RuntimeError):
    """The audience cannot be planned (missing table or column); the message says which."""


@dataclass
class Plan:
    sync_name: str
    plan_id: str
    batches: int
    rows_added: int
    rows_changed: int
    rows_removed: int
    rows_held_back: int
    audience_rows: int
    state_rows: int
    full_resync: bool = False
    resumed: bool = False
    blocked: list[str] = field(default_factory=list)

    @property
    def rows_planned(self) -> int:
        return self.rows_added + self.rows_changed + self.rows_removed


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _audience_columns(con: duckdb.DuckDBPyConnection, audience: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [AUDIENCE_SCHEMA, audience]).fetchall()]


def _field_expression(sync: SyncDefinition, field_name: str, column: str) -> str:
    source = f"a.{_quote(column)}"
    if sync.kind == "ad_audience" and field_name in IDENTIFIER_KINDS and column != sync.key:
        return identifier_expression(sync.destination.settings["platform"], field_name, source)
    return source


def _source_sql(con: duckdb.DuckDBPyConnection, sync: SyncDefinition) -> str:
    present = _audience_columns(con, sync.audience)
    if not present:
        raise SyncPlanError(f"sync {sync.name}: audience table {AUDIENCE_SCHEMA}.{sync.audience} does not exist; "
                            "build it first (cdp run)")
    wanted = {*sync.mapping.values(), "profile_id"}
    missing = sorted(c for c in wanted if c not in present)
    if missing:
        raise SyncPlanError(f"sync {sync.name}: {AUDIENCE_SCHEMA}.{sync.audience} has no column(s) {missing} "
                            f"(mapping and profile_id); it has {present}")
    fields = ", ".join(f"{_quote(f)} := {_field_expression(sync, f, c)}" for f, c in sync.mapping.items())
    return (f"select cast(a.{_quote(sync.key)} as varchar) as member_key, cast(a.profile_id as varchar) as profile_id, "
            f"struct_pack({fields}) as payload, a.rowid as source_row "
            f"from {AUDIENCE_SCHEMA}.{_quote(sync.audience)} as a")


def _suppression_sql(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig) -> str:
    parts = []
    for audience in config.suppression:
        if audience == sync.audience:
            continue
        columns = _audience_columns(con, audience)
        if not columns:
            raise SyncPlanError(f"sync {sync.name}: suppression audience {AUDIENCE_SCHEMA}.{audience} does not exist")
        reason = "suppression_reason" if "suppression_reason" in columns else f"'{audience}'"
        parts.append(f"select profile_id, {reason} as reason from {AUDIENCE_SCHEMA}.{_quote(audience)}")
    if not parts:
        return "select null::varchar as profile_id, null::varchar as reason where false"
    return "select profile_id, min(reason) as reason from (" + " union all ".join(parts) + ") group by profile_id"


def deleted_profiles_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Profiles with a deletion request: this build's (dbt) plus everyone already erased."""
    parts = ["select profile_id, request_id from ops.erased_profiles"]
    if table_exists(con, "intermediate", "int_privacy__deleted_profiles"):
        parts.append("select profile_id, request_id from intermediate.int_privacy__deleted_profiles")
    return "select profile_id, min(request_id) as request_id from (" + " union all ".join(parts) + ") group by 1"


def _consent_sql(con: duckdb.DuckDBPyConnection, sync: SyncDefinition) -> tuple[str, str, str]:
    """(join clause, held-back condition, the deciding consent record) for the sync's consent purpose."""
    if sync.consent_purpose is None:
        return "", "null", "cast(null as varchar)"
    if not table_exists(con, "marts", "dim_profiles"):
        raise SyncPlanError(f"sync {sync.name} needs consent for {sync.consent_purpose} but marts.dim_profiles "
                            "does not exist; build it first (cdp run)")
    column = f"{sync.consent_purpose}_consent"
    join = "left join marts.dim_profiles as c on c.profile_id = s.profile_id"
    held = (f"case when coalesce(c.{column}, 'unknown') <> 'granted' then 'no granted consent for "
            f"{sync.consent_purpose} (' || coalesce(c.{column}, 'unknown') || ')' end")
    has_record = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'marts' and table_name = 'dim_profiles' "
        "and column_name = ?", [f"{column}_record_id"]).fetchone()[0]
    record = f"c.{column}_record_id" if has_record else "cast(null as varchar)"
    return join, held, record


def _sql_text(value: str) -> str:
    """A SQL string literal of configuration text."""
    return "'" + value.replace("'", "''") + "'"


def outbox_table(sync_name: str) -> str:
    """The outbox of one sync: its current plan, typed (payload is a struct of the mapped fields)."""
    return f'ops."sync_outbox__{sync_name}"'


def pending_plan(con: duckdb.DuckDBPyConnection, sync_name: str) -> Plan | None:
    row = con.execute(
        "select plan_id, batches, rows_added, rows_changed, rows_removed, rows_held_back, full_resync "
        "from ops.sync_plans where sync_name = ? and status = 'pending' order by planned_at desc limit 1",
        [sync_name]).fetchone()
    if row is None or not table_exists(con, "ops", f"sync_outbox__{sync_name}"):
        return None
    plan_id, batches, added, changed, removed, held, full = row
    # an outbox planned before sends carried their consent record
    con.execute(f"alter table {outbox_table(sync_name)} add column if not exists consent_record_id varchar")
    return Plan(sync_name, plan_id, batches, added, changed, removed, held, -1, -1, full, resumed=True)


def discard_plan(con: duckdb.DuckDBPyConnection, sync_name: str, plan_id: str, status: str = "discarded") -> None:
    con.execute(f"drop table if exists {outbox_table(sync_name)}")
    con.execute("update ops.sync_plans set status = ? where sync_name = ? and plan_id = ?",
                [status, sync_name, plan_id])


def _guardrails(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, plan: Plan, duplicates: list[tuple],
                privacy_deletes: int) -> list[str]:
    g = sync.guardrails
    problems = []
    if duplicates:
        examples = ", ".join(f"{k!r} x{n}" for k, n in duplicates[:5])
        problems.append(f"duplicate_keys: {sync.audience}.{sync.key} is not unique ({examples})")
    if plan.audience_rows == 0 and plan.state_rows > 0 and not g.allow_empty:
        problems.append(f"empty_source: audience {sync.audience} has no rows but this sync holds "
                        f"{plan.state_rows:,} at the destination (set guardrails.allow_empty to empty it on purpose)")
    other_deletes = plan.rows_removed - privacy_deletes
    if plan.state_rows > 0 and other_deletes / plan.state_rows > g.max_delete_share:
        problems.append(f"delete_share: {other_deletes:,} of the {plan.state_rows:,} rows this sync holds at the "
                        f"destination would be deleted ({other_deletes / plan.state_rows:.0%} > "
                        f"max_delete_share {g.max_delete_share:.0%})")
    # Recent runs that diffed against a baseline: not the first (it sends everything), not full resyncs,
    # and not runs with nothing to send: a rerun over unchanged data says nothing about how much a day's
    # new data changes, and counting it would make the next ordinary day look like a spike.
    history = [r[0] for r in con.execute("""
        select coalesce(r.rows_added, 0) + coalesce(r.rows_changed, 0) + coalesce(r.rows_removed, 0)
        from ops.sync_runs as r
        left join ops.sync_plans as p on p.sync_name = r.sync_name and p.plan_id = r.plan_id
        where r.sync_name = ? and r.status in ('succeeded', 'partial') and not coalesce(r.resumed, false)
          and r.rows_added is not null and not coalesce(p.full_resync, false)
          and coalesce(r.rows_added, 0) + coalesce(r.rows_changed, 0) + coalesce(r.rows_removed, 0) > 0
          and r.started_at > (select min(started_at) from ops.sync_runs
                              where sync_name = ? and status in ('succeeded', 'partial'))
        order by r.started_at desc limit ?""", [sync.name, sync.name, g.history_runs]).fetchall()]
    if history and not plan.full_resync and plan.state_rows > 0:
        limit = max(g.min_change_rows, g.max_change_multiple * statistics.median(history))
        if plan.rows_planned > limit:
            problems.append(f"change_spike: {plan.rows_planned:,} changes planned, more than {limit:,.0f} "
                            f"({g.max_change_multiple:g}x the median of the last {len(history)} runs "
                            f"that changed something, "
                            f"at least {g.min_change_rows:,})")
    return problems


def plan_sync(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig, plan_id: str, *,
              snapshot: bool, full_resync: bool = False, override_guardrails: bool = False,
              log_held_back: bool = True) -> Plan:
    """Plan one run of `sync` into the outbox (or return the pending plan a crashed run left)."""
    pending = pending_plan(con, sync.name)
    if pending is not None:
        if not snapshot:
            return pending
        discard_plan(con, sync.name, pending.plan_id)

    con.execute(f"create or replace temp view _cdp_source as {_source_sql(con, sync)}")
    payload_type = con.execute("select column_type from (describe select payload from _cdp_source)").fetchone()[0]
    con.execute(f"create or replace temp table _cdp_deleted as {deleted_profiles_sql(con)}")
    rules = activation_rules(con, sync, config)
    _create_eligible_view(con, sync, config, rules)
    if not full_resync and con.execute(
            "select exists (select 1 from ops.sync_state where sync_name = $1) and not exists ("
            "select 1 from ops.sync_state where sync_name = $1 and hash_version = $2)",
            [sync.name, HASH_VERSION]).fetchone()[0]:
        full_resync = True  # the state was hashed by another DuckDB version: compare nothing, send all
    _create_diff(con, sync, rules, payload_type, snapshot=snapshot, full_resync=full_resync)
    plan, privacy_deletes, duplicates = _counted_plan(con, sync, plan_id, full_resync)
    problems = _guardrails(con, sync, plan, duplicates, privacy_deletes)
    plan.blocked = [p for p in problems if p.startswith("duplicate_keys") or not override_guardrails]
    if not plan.blocked:
        _write_outbox(con, sync, plan, plan_id, log_held_back=log_held_back)
    con.execute("insert into ops.sync_plans values (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?)",
                [sync.name, plan_id, payload_type, plan.batches, plan.rows_added, plan.rows_changed,
                 plan.rows_removed, plan.rows_held_back, full_resync, "blocked" if plan.blocked else "pending"])
    return plan


def _create_eligible_view(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig,
                          rules: ActivationRules) -> None:
    """`_cdp_eligible`: every audience row with its row hash and, when it may not be sent, why."""
    consent_join, consent_held, consent_record = _consent_sql(con, sync)
    # A view: the audience is read (and every member hashed) once, by the diff below. The payload itself
    # is not carried: only the members that are sent need it, and they are few on an ordinary run.
    con.execute(f"""
        create or replace temp view _cdp_eligible as
        select s.member_key, s.profile_id, s.source_row, {ROW_HASH_SQL} as row_hash,
               case when s.member_key is null then 'no key'
                    when d.profile_id is not null then 'deletion request ' || coalesce(d.request_id, '')
                    when sup.profile_id is not null then 'suppressed: ' || sup.reason
                    when {consent_held} is not null then {consent_held}
                    {rules.hold_cases} end as hold_reason,
               {consent_held} is not null as lacks_consent,
               {consent_record} as consent_record_id,
               case when s.member_key is not null and d.profile_id is null and sup.profile_id is null
                         and {consent_held} is null then {rules.holdout_variant} end as holdout_variant
        from _cdp_source as s
        left join _cdp_deleted as d on d.profile_id = s.profile_id
        left join ({_suppression_sql(con, sync, config)}) as sup on sup.profile_id = s.profile_id
        {consent_join}
        {rules.joins}
    """)


@dataclass(frozen=True)
class _Revocation:
    """SQL fragments of on_consent_revoked: an update of the last payload sent, with the configured
    fields set, instead of a delete."""

    unsubscribe: str                 # the member lost consent and was sent before
    unsubscribed_already: str        # the last payload sent already has the fields set
    reason: str
    payload: str

    @classmethod
    def of(cls, sync: SyncDefinition, payload_type: str) -> _Revocation:
        revoked = sync.consent_revoked_update
        patch = _sql_text(json.dumps(revoked)) if revoked else "null"
        return cls(
            unsubscribe="false" if not revoked else "lacks_consent and old_payload is not null",
            unsubscribed_already="false" if not revoked else " and ".join(
                f"json_extract(old_payload, {_sql_text('$.' + json.dumps(f))}) = "
                f"cast({_sql_text(json.dumps(v))} as json)" for f, v in revoked.items()),
            reason=_sql_text(f"consent withdrawn for {sync.consent_purpose}: " + ", ".join(
                f"{f} = {json.dumps(v)}" for f, v in (revoked or {}).items())),
            payload=f"cast(json_merge_patch(c.old_payload, {patch}) as {payload_type})")


def _create_diff(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, rules: ActivationRules, payload_type: str,
                 *, snapshot: bool, full_resync: bool) -> None:
    """`_cdp_diff`: the members to add, change, unsubscribe or remove, and the held-back ones to log."""
    mode = sync.mode
    # a member who left the audience and no longer has consent is removed too, in every mode
    departed_consent_join = ("" if sync.consent_purpose is None else
                             "left join marts.dim_profiles as pc on pc.profile_id = sp.profile_id")
    departed_without_consent = ("false" if sync.consent_purpose is None else
                                f"sp.profile_id is not null and coalesce(pc.{sync.consent_purpose}_consent, "
                                "'unknown') <> 'granted'")
    revocation = _Revocation.of(sync, payload_type)
    add_op = {"insert": "insert", "update": "update"}.get(mode, "upsert")
    # insert mode sends a member once; a full resync sends everyone again, as new (Census and Hightouch
    # resync that way), so a destination that was emptied gets its members back
    change_op = {"insert": "insert", "update": "update"}.get(mode, "upsert")
    every_row = str(snapshot or full_resync).lower()
    may_change = str(mode != "insert" or snapshot or full_resync).lower()
    may_remove = str(mode == "mirror").lower()
    # Pass 1, keys and hashes only: the audience (held-back members included) against what this sync
    # holds at the destination. It keeps the members to add or change and the candidates for removal
    # (held back, or gone from the audience). Both passes run in one transaction, so the row ids pass 2
    # reads by are the ones pass 1 saw.
    con.execute("begin transaction")
    try:
        con.execute(f"""
            create or replace temp table _cdp_changes as
            with st as (select member_key, row_hash, rowid as state_row from ops.sync_state where sync_name = ?)
            select coalesce(e.member_key, st.member_key) as member_key, e.profile_id as audience_profile_id,
                   e.member_key is not null as in_audience, e.source_row, e.hold_reason, e.row_hash as new_hash,
                   coalesce(starts_with(e.hold_reason, {_sql_text(rules.pause_prefix)}), false) as paused,
                   coalesce(e.lacks_consent, false) as lacks_consent, e.consent_record_id,
                   st.member_key is not null as in_state, st.state_row, st.row_hash as old_hash
            from _cdp_eligible as e
            full outer join st on st.member_key = e.member_key
            where (e.member_key is not null and e.hold_reason is null
                   and (st.member_key is null or ({may_change} and (e.row_hash <> st.row_hash or {every_row}))))
               or (e.member_key is not null and e.hold_reason is not null)
               or (st.member_key is not null and e.member_key is null)
        """, [sync.name])
        # Pass 2, on those few rows: what the state knows of the removal candidates (profile, deletion
        # request, the payload last sent), the classification, and the payloads of the members sent.
        con.execute(f"""
            create or replace temp table _cdp_diff as
            with known as (
                select c.* exclude (lacks_consent), coalesce(c.audience_profile_id, sp.profile_id) as profile_id,
                       d.profile_id is not null as deleted, d.request_id, sp.payload as old_payload,
                       c.lacks_consent or (not c.in_audience and {departed_without_consent}) as lacks_consent
                from _cdp_changes as c
                left join (select rowid as state_row, profile_id, payload from ops.sync_state
                           where rowid in (select state_row from _cdp_changes
                                           where state_row is not null and (not in_audience or hold_reason is not null))
                           ) as sp on sp.state_row = c.state_row
                left join _cdp_deleted as d on d.profile_id = sp.profile_id
                {departed_consent_join}
            ),
            classified as (
                select *, case
                    when in_audience and hold_reason is null and not in_state then 'add'
                    when in_audience and hold_reason is null and in_state then 'change'
                    when in_state and (not in_audience or hold_reason is not null) and deleted then 'remove'
                    when in_state and {revocation.unsubscribe}
                         then case when not ({revocation.unsubscribed_already}) then 'unsubscribe' end
                    when in_state and (not in_audience or hold_reason is not null) and not paused
                         and ({may_remove} or lacks_consent) then 'remove' end as kind
                from known
            )
            select c.member_key, c.profile_id, c.in_audience, c.in_state, c.hold_reason, c.kind, c.consent_record_id,
                   case c.kind when 'add' then '{add_op}' when 'change' then '{change_op}'
                               when 'unsubscribe' then '{"update" if mode == "update" else "upsert"}'
                               when 'remove' then 'delete' end as op,
                   case when c.kind = 'remove' then c.old_hash
                        when c.kind = 'unsubscribe' then hash({revocation.payload})
                        else c.new_hash end as row_hash,
                   case when c.kind = 'remove' then cast(c.old_payload as {payload_type})
                        when c.kind = 'unsubscribe' then {revocation.payload}
                        when c.kind is not null then s.payload end as payload,
                   case c.kind when 'add' then 'new member'
                               when 'change' then case when {str(full_resync).lower()} then 'full resync'
                                                       when c.new_hash <> c.old_hash then 'changed'
                                                       else 'unchanged (snapshot)' end
                               when 'unsubscribe' then {revocation.reason}
                               when 'remove' then case
                                   when c.deleted then 'deletion request ' || coalesce(c.request_id, '')
                                   when c.hold_reason is not null then 'held back: ' || c.hold_reason
                                   when c.lacks_consent
                                       then 'left audience; no granted consent for {sync.consent_purpose}'
                                   else 'left audience' end end as reason
            from classified as c
            left join (select source_row, payload from _cdp_source
                       where source_row in (select source_row from _cdp_changes
                                            where in_audience and hold_reason is null)
                       ) as s on s.source_row = c.source_row
            where c.kind is not null or (c.in_audience and c.hold_reason is not null)   -- sent, removed or logged
        """)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _counted_plan(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, plan_id: str, full_resync: bool,
                  ) -> tuple[Plan, int, list[tuple[str, int]]]:
    """The plan's counts, the deletes that answer deletion requests, and repeated keys (if any)."""
    counts = con.execute("""
        select count(*) filter (where kind = 'add'),
               count(*) filter (where (kind = 'change' and reason in ('changed', 'full resync'))
                                      or kind = 'unsubscribe'),
               count(*) filter (where kind = 'remove'),
               count(*) filter (where kind = 'remove' and reason like 'deletion request%'),
               count(*) filter (where in_audience and hold_reason is not null),
               (select count(*) from ops.sync_state where sync_name = ?)
        from _cdp_diff""", [sync.name]).fetchone()
    added, changed, removed, privacy_deletes, held, state_rows = counts
    # Distinct 64-bit hashes of the keys are cheaper to count than the keys; fewer hashes than rows means
    # a repeated key (or, rarely, a collision), and only then are the keys themselves grouped.
    audience_rows, distinct_hashes = con.execute(
        "select count(*), count(distinct hash(member_key)) from _cdp_source").fetchone()
    duplicates = [] if distinct_hashes == audience_rows else con.execute(
        "select member_key, count(*) from _cdp_source group by 1 having count(*) > 1 order by 2 desc, 1 limit 20"
    ).fetchall()
    plan = Plan(sync.name, plan_id, 0, added, changed, removed, held, audience_rows, state_rows, full_resync)
    return plan, privacy_deletes, duplicates


def _write_outbox(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, plan: Plan, plan_id: str, *,
                  log_held_back: bool) -> None:
    """The plan's rows in the outbox, in batches of batch_rows per operation; the held-back members
    logged and the holdout assignments recorded."""
    # batch_no = operation rank * 10^7 + chunk within the operation
    con.execute(f"""
        create or replace table {outbox_table(sync.name)} as
        select (op_rank * 10000000 + (row_number() over (partition by op_rank order by member_key) - 1) // ?
                )::integer as batch_no, op, reason = 'new member' as is_new, member_key, profile_id, row_hash,
               reason, payload, consent_record_id
        from (select *, {OP_RANK_SQL} as op_rank from _cdp_diff where kind is not null)""", [sync.batch_rows])
    plan.batches = con.execute(f"select count(distinct batch_no) from {outbox_table(sync.name)}").fetchone()[0]
    if log_held_back:
        con.execute("""insert into ops.sync_log select ?, ?, member_key, profile_id, null, 'held_back',
                       hold_reason, now(), consent_record_id
                       from _cdp_diff where in_audience and hold_reason is not null""",
                    [sync.name, plan_id])
        record_holdout_assignments(con, sync)


def plan_preview(con: duckdb.DuckDBPyConnection, sync_name: str) -> list[tuple[str, str, int]]:
    """(op, reason, rows) of the sync's current plan, for dry runs and logs."""
    if not table_exists(con, "ops", f"sync_outbox__{sync_name}"):
        return []
    return con.execute(
        "select op, regexp_replace(reason, '^(deletion request|held back: [a-z ]+|suppressed).*$', '\\1'), count(*) "
        f"from {outbox_table(sync_name)} group by all order by 1, 2").fetchall()


#: how a planned row reads in a dry run's sample
SAMPLE_ACTION_SQL = ("case when kind = 'add' then 'add' when kind = 'unsubscribe' then 'update' "
                     "when kind = 'change' and reason <> 'unchanged (snapshot)' then 'update' "
                     "when kind = 'remove' then 'delete' when kind is null then 'held back' end")
SAMPLE_ORDER = ("add", "update", "delete", "held back")


def plan_samples(con: duckdb.DuckDBPyConnection, per_action: int = 3) -> list[tuple[str, str, str, str | None]]:
    """(action, key, reason, payload as JSON) for a few rows of each action of the plan just made in
    this connection: add, update, delete (with what would be sent) and held back (with the rule)."""
    if not con.execute("select count(*) from duckdb_tables() where temporary and table_name = '_cdp_diff'"
                       ).fetchone()[0]:
        return []  # a resumed plan: its outbox is what it was
    rows = con.execute(f"""
        select action, member_key, reason, payload from (
            select {SAMPLE_ACTION_SQL} as action, member_key,
                   case when kind is null then hold_reason else reason end as reason,
                   case when kind is not null then cast(to_json(payload) as varchar) end as payload
            from _cdp_diff)
        where action is not null
        qualify row_number() over (partition by action order by member_key) <= ?""", [per_action]).fetchall()
    return sorted(rows, key=lambda r: (SAMPLE_ORDER.index(r[0]), r[1] or ""))
