"""Uploads that ad platforms apply asynchronously (a Google Customer Match job, a Meta upload
session): recorded in `ops.sync_uploads` when the sync submits them, read back from the platform at
the end of the sync's runs until the platform calls them final, and summed up per sync run
(`ops.sync_runs.match_rate_low`, `match_rate_high`, `upload_state`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import duckdb

from reverse_etl.destinations.base import Destination, UploadStatus

log = logging.getLogger(__name__)
#: an upload the platform has not called final after this many days is no longer asked about (Google
#: documents jobs of up to 24 hours; an unfinished Meta session expires)
GIVE_UP_DAYS = 7


def end_batch(destination: Destination) -> str | None:
    """Close the outbox batch at a destination that tracks uploads; its upload's reference, if any."""
    close = getattr(destination, "end_batch", None)
    return close() if close else None


def expect_rows(destination: Destination, con: duckdb.DuckDBPyConnection, outbox: str, batches: list[int], *,
                replace: bool = False) -> None:
    """Tell a destination that counts its upload sessions the rows of each operation of the outbox
    batches this run sends (counted only for such a destination)."""
    expect = getattr(destination, "expect", None)
    if expect:
        expect(dict(con.execute(f"select op, count(*) from {outbox} where batch_no in (select unnest(?)) "
                                "group by op", [batches]).fetchall()), replace=replace)


def record_upload(con: duckdb.DuckDBPyConnection, sync_name: str, run_id: str, plan_id: str, batch_no: int,
                  reference: str) -> None:
    con.execute("""insert into ops.sync_uploads (sync_name, run_id, plan_id, batch_no, reference, submitted_at, state)
                   select ?, ?, ?, ?, ?, now(), 'submitted'
                   where not exists (select 1 from ops.sync_uploads where sync_name = ? and reference = ?)""",
                [sync_name, run_id, plan_id, batch_no, reference, sync_name, reference])


def refresh_uploads(con: duckdb.DuckDBPyConnection, sync_name: str, destination: Destination,
                    say: Callable[[str], None]) -> int:
    """Read back every upload of the sync the platform has not finished with; returns how many are
    still open. A platform that cannot answer now is asked again next run."""
    status_of = getattr(destination, "upload_status", None)
    if status_of is None:
        return 0
    con.execute(f"""update ops.sync_uploads set final = true, checked_at = now(),
                           detail = coalesce(detail || '; ', '') || ?
                    where sync_name = ? and not final and submitted_at < now() - interval {GIVE_UP_DAYS} day""",
                [f"no final answer from the platform within {GIVE_UP_DAYS} days", sync_name])
    pending = con.execute("select reference, run_id from ops.sync_uploads where sync_name = ? and not final "
                          "order by submitted_at", [sync_name]).fetchall()
    runs = set()
    for reference, run_id in pending:
        try:
            status: UploadStatus | None = status_of(reference)
        except Exception as exc:  # the sync itself succeeded; its read-back waits for the next run
            say(f"[{sync_name}] could not read back upload {reference}: {exc}")
            continue
        if status is None:
            continue
        con.execute("""update ops.sync_uploads set state = ?, final = ?, match_rate_low = ?, match_rate_high = ?,
                              received = ?, matched = ?, detail = ?, checked_at = now()
                       where sync_name = ? and reference = ?""",
                    [status.state, status.final, status.match_rate_low, status.match_rate_high, status.received,
                     status.matched, status.detail, sync_name, reference])
        runs.add(run_id)
    for run_id in runs:
        summarise_run(con, sync_name, run_id)
    return con.execute("select count(*) from ops.sync_uploads where sync_name = ? and not final",
                       [sync_name]).fetchone()[0]


def summarise_run(con: duckdb.DuckDBPyConnection, sync_name: str, run_id: str) -> None:
    """The run's match rate: the lowest and highest its uploads reported; its upload state: the
    states they are in (e.g. `SUCCESS`, or `RUNNING, SUCCESS` while one is still processed)."""
    con.execute("""update ops.sync_runs set match_rate_low = u.low, match_rate_high = u.high, upload_state = u.states
                   from (select min(match_rate_low) as low, max(match_rate_high) as high,
                                string_agg(distinct state, ', ' order by state) as states
                         from ops.sync_uploads where sync_name = ? and run_id = ?) as u
                   where sync_runs.sync_name = ? and sync_runs.run_id = ?""",
                [sync_name, run_id, sync_name, run_id])
