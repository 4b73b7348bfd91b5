"""Running one sync: stream an audience out of the warehouse into its destination, and record it.

The audience is read with a cursor in `batch_rows` batches (Arrow record batches), so memory does
not grow with the audience. Every run is recorded in `ops.sync_runs`: planned, sent and failed rows,
status and any error. A sync refuses to run when its audience table does not exist (a failed or
skipped build never sends anything).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from reverse_etl.config import SyncDefinition
from reverse_etl.destinations import build_destination

AUDIENCE_SCHEMA = "audiences"
log = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """A sync could not run or did not finish; the message says which and why."""


@dataclass(frozen=True)
class SyncOutcome:
    sync_name: str
    destination: str
    rows_planned: int
    rows_sent: int
    rows_failed: int
    status: str


def _columns(con: duckdb.DuckDBPyConnection, sync: SyncDefinition) -> list[str]:
    present = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [AUDIENCE_SCHEMA, sync.audience]).fetchall()]
    if not present:
        raise SyncError(f"sync {sync.name}: audience table {AUDIENCE_SCHEMA}.{sync.audience} does not exist; "
                        "build it first (cdp run)")
    wanted = list(sync.columns) or present
    missing = [c for c in wanted if c not in present]
    if missing:
        raise SyncError(f"sync {sync.name}: {AUDIENCE_SCHEMA}.{sync.audience} has no column(s) {missing}; "
                        f"it has {present}")
    return wanted


def run_sync(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, export_dir: Path,
             run_id: str | None = None, progress: Callable[[str], None] | None = None) -> SyncOutcome:
    say = progress or log.info
    started = datetime.now(UTC)
    destination = build_destination(sync.kind, sync.destination, export_dir)
    columns = _columns(con, sync)
    relation = f'{AUDIENCE_SCHEMA}."{sync.audience}"'
    planned = con.execute(f"select count(*) from {relation}").fetchall()[0][0]
    select = ", ".join(f'"{c}"' for c in columns)
    sent = failed = 0
    errors: list[str] = []
    status = "failed"
    try:
        reader = con.cursor().sql(f'select {select} from {relation} order by "{sync.key}"').to_arrow_reader(
            sync.batch_rows)
        destination.open(reader.schema)
        for number, batch in enumerate(reader, start=1):
            result = destination.write(batch)
            sent += result.rows_sent
            failed += result.rows_failed
            errors.extend(result.errors[:10])
            say(f"[{sync.name}] batch {number}: sent {sent:,}/{planned:,} rows")
        if sent + failed != planned:
            raise SyncError(f"sync {sync.name}: planned {planned} rows but sent {sent} and failed {failed}")
        destination.commit()
        status = "succeeded" if failed == 0 else "partial"
    except Exception as exc:
        destination.abort()
        errors.append(str(exc))
        raise
    finally:
        con.execute(
            "insert into ops.sync_runs values (?, ?, ?, ?, now(), ?, ?, ?, ?, ?)",
            [sync.name, run_id, destination.description, started, status, planned, sent, failed,
             "; ".join(errors)[:4000] or None],
        )
    say(f"[{sync.name}] {status}: {sent:,} rows to {destination.description}")
    return SyncOutcome(sync.name, destination.description, planned, sent, failed, status)
