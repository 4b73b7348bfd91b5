"""Running one sync: plan into the outbox, send batch by batch, commit state per batch, record it.

- The plan (`plan.py`) is in the sync's outbox (`ops.sync_outbox__<sync>`) before the first request
  leaves. Each outbox batch is read back typed from DuckDB (bounded memory), cut into requests of
  the destination's size, rate limited, and sent with retries (`reliability.py`). A request the
  destination rejects as a whole is split in halves until the bad rows are isolated.
- After each batch, one warehouse transaction records the batch in `ops.sync_batches`, updates
  `ops.sync_state` with the rows applied, writes every row sent or failed to `ops.sync_log`, and
  records deletion-request deletes in `ops.deletion_ledger`. A crash therefore loses nothing: the
  next run resumes the batches not yet recorded, and at most the batch in flight is sent again,
  under the same idempotency key (`<sync>:<plan>:<batch>[:<request>]`), so the destination applies
  it once.
- Rows that failed are not in the state, so the next run plans them again.
- Every run gets one row in `ops.sync_runs`: planned, sent, succeeded, failed, held back, status.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from reverse_etl.config import SyncConfig, SyncDefinition
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import KEY_COLUMN, NOT_AT_DESTINATION, PAYLOAD_COLUMN, Destination, Rejections
from reverse_etl.plan import (
    HASH_VERSION,
    Plan,
    SyncPlanError,
    discard_plan,
    outbox_table,
    plan_preview,
    plan_samples,
    plan_sync,
)
from reverse_etl.reliability import BatchRejected, DestinationUnavailable, RateLimiter, call_with_retries
from reverse_etl.state import ensure_sync_tables
from reverse_etl.uploads import end_batch, expect_rows, record_upload, refresh_uploads

log = logging.getLogger(__name__)
#: destinations whose deletes need the identifiers last sent, not only the key (state keeps the payload)
KINDS_DELETING_BY_PAYLOAD = ("http", "ad_audience")


class SyncError(RuntimeError):
    """A sync could not run or did not finish; the message says which and why."""


class GuardrailError(SyncError):
    """A guardrail blocked the plan; nothing was sent."""


@dataclass(frozen=True)
class SyncOutcome:
    sync_name: str
    destination: str
    status: str                       # succeeded | partial | blocked | not_configured | dry_run
    plan: Plan | None
    rows_sent: int = 0
    rows_succeeded: int = 0
    rows_failed: int = 0
    preview: tuple[tuple[str, str, int], ...] = ()
    #: dry runs: a few rows of each action (action, key, reason, payload as JSON), from plan_samples
    samples: tuple[tuple[str, str, str, str | None], ...] = ()

    @property
    def rows_planned(self) -> int:
        return self.plan.rows_planned if self.plan else 0


def _fetch_batch(con: duckdb.DuckDBPyConnection, sync_name: str, batch_no: int | None, wants_json: bool) -> pa.Table:
    """One outbox batch as Arrow: op, is_new, the key, the payload as JSON text (when the destination
    sends JSON) and one typed column per field."""
    where = "batch_no = ?" if batch_no is not None else "false"
    payload = "to_json(payload)::varchar" if wants_json else "null::varchar"
    return con.sql(
        f"select op, is_new, member_key as {KEY_COLUMN}, {payload} as {PAYLOAD_COLUMN}, "
        f"unnest(payload) from {outbox_table(sync_name)} where {where} order by member_key",
        params=[batch_no] if batch_no is not None else []).to_arrow_table()


def _deliver(destination: Destination, sync: SyncDefinition, op: str, rows: pa.Table, key: str,
             limiter: RateLimiter, say: Callable[[str], None], new_members: bool = False) -> Rejections:
    """Send rows, splitting rejected requests until single rows carry the destination's reason."""
    def attempt() -> Rejections:
        limiter.acquire()
        return destination.send(op, rows, key, new_members=new_members)

    try:
        return call_with_retries(sync.destination, attempt, f"[{sync.name}] {key}", on_retry=say)
    except BatchRejected as exc:
        if rows.num_rows == 1:
            return [(rows.column(KEY_COLUMN)[0].as_py(), exc.reason)]
        half = rows.num_rows // 2
        say(f"[{sync.name}] {key}: {rows.num_rows} rows rejected ({exc.reason}); splitting to isolate them")
        return (_deliver(destination, sync, op, rows.slice(0, half), key + "a", limiter, say, new_members)
                + _deliver(destination, sync, op, rows.slice(half), key + "b", limiter, say, new_members))


def _commit_batch(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, plan_id: str, batch_no: int, op: str,
                  rows: int, rejections: Rejections) -> None:
    """One warehouse transaction: the batch is applied, the state holds what was applied, the log says so.

    An update for a key the destination does not hold (update mode never inserts) is `skipped`, not
    failed: the state records it, so it is tried again only when the member's row changes."""
    skipped = {k for k, reason in rejections if op == "update" and reason.startswith(NOT_AT_DESTINATION)}
    if rejections:
        failed = pa.table({"member_key": pa.array([k for k, _ in rejections], pa.string()),
                           "detail": pa.array([r for _, r in rejections], pa.string()),
                           "skipped": pa.array([k in skipped for k, _ in rejections], pa.bool_())})
        con.register("_cdp_failed", failed)
    else:  # building Arrow arrays from Python lists imports pandas: a third of a small run's time
        con.execute("create or replace temp view _cdp_failed as "
                    "select null::varchar as member_key, null::varchar as detail, false as skipped where false")
    outbox = outbox_table(sync.name)
    applied = (f"select * from {outbox} where batch_no = {int(batch_no)} "
               "and member_key not in (select member_key from _cdp_failed where not skipped)")
    # the payload is kept where a delete needs more than the key, and where a revoked consent is sent as an
    # update of the last payload (on_consent_revoked)
    keep_payload = sync.kind in KINDS_DELETING_BY_PAYLOAD or sync.consent_revoked_update is not None
    payload = "to_json(payload)" if keep_payload else "null"
    try:
        con.execute("begin transaction")
        con.execute("insert into ops.sync_batches values (?, ?, ?, ?, ?, ?, now())",
                    [sync.name, plan_id, batch_no, op, rows, len(rejections) - len(skipped)])
        con.execute(f"delete from ops.sync_state where sync_name = ? and member_key in (select member_key from "
                    f"({applied}))", [sync.name])
        con.execute(f"""insert into ops.sync_state
                            (sync_name, member_key, profile_id, row_hash, payload, sent_at, plan_id, hash_version)
                        select ?, member_key, profile_id, row_hash, {payload}, now(), ?, ?
                        from ({applied}) where op <> 'delete'""", [sync.name, plan_id, HASH_VERSION])
        con.execute(f"""insert into ops.sync_log
                        select ?, ?, o.member_key, o.profile_id, o.op,
                               case when f.member_key is null then 'sent' when f.skipped then 'skipped'
                                    else 'failed' end,
                               coalesce(f.detail, o.reason), now(), o.consent_record_id
                        from {outbox} as o
                        left join (select member_key, min(detail) as detail, bool_and(skipped) as skipped
                                   from _cdp_failed group by 1) as f
                            on f.member_key = o.member_key
                        where o.batch_no = ?""", [sync.name, plan_id, batch_no])
        con.execute(f"""insert into ops.deletion_ledger
                        select nullif(trim(substr(reason, length('deletion request ') + 1)), ''), profile_id,
                               'destination_delete', ?, 1, ?, now()
                        from ({applied}) where op = 'delete' and reason like 'deletion request%'""",
                    [f"sync:{sync.name}", f"delete sent to {sync.destination.name}"])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        if rejections:
            con.unregister("_cdp_failed")
        else:
            con.execute("drop view if exists _cdp_failed")


def _record_run(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, run_id: str, destination: str,
                started: datetime, status: str, plan: Plan | None, counts: tuple[int, int, int], detail: str | None,
                ) -> None:
    sent, succeeded, failed = counts
    con.execute(
        "insert into ops.sync_runs (sync_name, run_id, destination, started_at, finished_at, status, rows_planned, "
        "rows_sent, rows_failed, detail, plan_id, rows_succeeded, rows_skipped_consent, rows_added, rows_changed, "
        "rows_removed, resumed, channel) values (?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [sync.name, run_id, destination, started, status, plan.rows_planned if plan else 0, sent, failed,
         (detail or "")[:4000] or None, plan.plan_id if plan else None, succeeded,
         plan.rows_held_back if plan else 0, plan.rows_added if plan else None,
         plan.rows_changed if plan else None, plan.rows_removed if plan else None, plan.resumed if plan else False,
         sync.channel])


def _outbox_counts(con: duckdb.DuckDBPyConnection, sync_name: str, plan_id: str) -> tuple[int, int, int]:
    """(sent, applied, failed) over the plan's committed batches."""
    rows, failed = con.execute(
        "select coalesce(sum(rows), 0), coalesce(sum(rows_failed), 0) from ops.sync_batches "
        "where sync_name = ? and plan_id = ?", [sync_name, plan_id]).fetchone()
    return int(rows), int(rows - failed), int(failed)


def _dry_run(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig, run_id: str, description: str,
             **plan_options: bool) -> SyncOutcome:
    """Plan, read the plan's counts and a sample of each action, and discard it: nothing is sent,
    logged or assigned."""
    try:
        plan = plan_sync(con, sync, config, run_id, log_held_back=False, **plan_options)
    except SyncPlanError as exc:
        raise SyncError(str(exc)) from exc
    preview, samples = tuple(plan_preview(con, sync.name)), tuple(plan_samples(con))
    if not plan.resumed:
        discard_plan(con, sync.name, plan.plan_id)
    return SyncOutcome(sync.name, description, "dry_run", plan, preview=preview, samples=samples)


def run_sync(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig, export_dir: Path,
             run_id: str | None = None, *, full_resync: bool = False, override_guardrails: bool = False,
             dry_run: bool = False, progress: Callable[[str], None] | None = None) -> SyncOutcome:
    """Plan and send one sync. Raises GuardrailError when blocked, SyncError when it could not finish."""
    say = progress or log.info
    run_id = run_id or uuid.uuid4().hex
    ensure_sync_tables(con)
    started = datetime.now(UTC)
    if not sync.destination.configured:
        message = (f"destination {sync.destination.name} not configured (set "
                   f"{sync.destination.settings.get('url_env')}); nothing sent")
        say(f"[{sync.name}] {message}")
        if dry_run:  # what it would send once configured: planned as if it held nothing yet
            return _dry_run(con, sync, config, run_id, f"{sync.destination.name} (not configured)", snapshot=False,
                            full_resync=full_resync, override_guardrails=override_guardrails)
        _record_run(con, sync, run_id, sync.destination.name, started, "not_configured", None, (0, 0, 0), message)
        return SyncOutcome(sync.name, sync.destination.name, "not_configured", None)

    destination = build_destination(sync, export_dir)
    if dry_run:
        return _dry_run(con, sync, config, run_id, destination.description, snapshot=destination.snapshot,
                        full_resync=full_resync, override_guardrails=override_guardrails)
    try:
        plan = plan_sync(con, sync, config, run_id, snapshot=destination.snapshot, full_resync=full_resync,
                         override_guardrails=override_guardrails, log_held_back=not dry_run)
    except SyncPlanError as exc:
        _record_run(con, sync, run_id, destination.description, started, "failed", None, (0, 0, 0), str(exc))
        raise SyncError(str(exc)) from exc
    preview = tuple(plan_preview(con, sync.name))
    if plan.blocked:
        detail = "; ".join(plan.blocked)
        _record_run(con, sync, run_id, destination.description, started, "blocked", plan, (0, 0, 0), detail)
        raise GuardrailError(f"sync {sync.name} blocked by guardrails, nothing sent: {detail}")
    if plan.resumed:
        say(f"[{sync.name}] resuming plan {plan.plan_id[:8]} left pending by an interrupted run")

    limiter = RateLimiter.for_destination(sync.destination)
    batches = [r[0] for r in con.execute(
        f"select distinct batch_no from {outbox_table(sync.name)} where batch_no not in "
        "(select batch_no from ops.sync_batches where sync_name = ? and plan_id = ?) order by 1",
        [sync.name, plan.plan_id]).fetchall()]
    clock = time.perf_counter()
    try:
        wants_json = sync.kind != "postgres" and not (sync.kind == "file" and sync.options.get("format") != "jsonl")
        destination.open(_fetch_batch(con, sync.name, None, wants_json).drop(["op", "is_new"]).schema)
        # a replace drops whoever it does not send: not while a frequency cap pauses members who stay
        expect_rows(destination, con, outbox_table(sync.name), batches,
                    replace=plan.full_resync and not config.caps_for(sync.channel))
        for number, batch_no in enumerate(batches, start=1):
            rows = _fetch_batch(con, sync.name, batch_no, wants_json)
            op, new_members = rows.column("op")[0].as_py(), all(rows.column("is_new").to_pylist())
            rows = rows.drop(["op", "is_new"])
            rejections: Rejections = []
            size = destination.max_request_rows
            for offset in range(0, rows.num_rows, size):
                key = f"{sync.name}:{plan.plan_id}:{batch_no}" + (f":{offset // size}" if rows.num_rows > size else "")
                rejections += _deliver(destination, sync, op, rows.slice(offset, size), key, limiter, say,
                                       new_members)
            upload = end_batch(destination)
            if upload:
                record_upload(con, sync.name, run_id, plan.plan_id, batch_no, upload)
            _commit_batch(con, sync, plan.plan_id, batch_no, op, rows.num_rows, rejections)
            say(f"[{sync.name}] batch {number}/{len(batches)} ({op}): {rows.num_rows - len(rejections):,} ok, "
                f"{len(rejections):,} failed ({time.perf_counter() - clock:.1f}s)")
        destination.commit()
    except DestinationUnavailable as exc:
        destination.abort()
        destination.close()
        _record_run(con, sync, run_id, destination.description, started, "interrupted", plan,
                    _outbox_counts(con, sync.name, plan.plan_id), str(exc))
        raise SyncError(f"sync {sync.name} interrupted, unsent batches resume next run: {exc}") from exc
    except Exception as exc:
        destination.abort()
        destination.close()
        _record_run(con, sync, run_id, destination.description, started, "failed", plan,
                    _outbox_counts(con, sync.name, plan.plan_id), str(exc))
        raise

    counts = _outbox_counts(con, sync.name, plan.plan_id)
    status = "succeeded" if counts[2] == 0 else "partial"
    detail = "; ".join(f"{k}: {d}" for k, d in con.execute(
        "select member_key, reason from ops.sync_log where sync_name = ? and plan_id = ? and status = 'failed' "
        "order by member_key limit 5", [sync.name, plan.plan_id]).fetchall()) or None
    discard_plan(con, sync.name, plan.plan_id, status="done")
    _record_run(con, sync, run_id, destination.description, started, status, plan, counts, detail)
    try:
        open_uploads = refresh_uploads(con, sync.name, destination, say)
    finally:
        destination.close()
    if open_uploads:
        say(f"[{sync.name}] {open_uploads} upload(s) still being processed by the platform; their match rate is "
            "read back on the next run")
    say(f"[{sync.name}] {status}: {counts[1]:,} rows applied, {counts[2]:,} failed, {plan.rows_held_back:,} held "
        f"back -> {destination.description}")
    return SyncOutcome(sync.name, destination.description, status, plan, counts[0], counts[1], counts[2], preview)
