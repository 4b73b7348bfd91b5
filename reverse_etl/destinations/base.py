"""What every destination offers the sync engine.

The engine hands a destination one request's worth of rows at a time, all with the same operation
(`insert`, `update`, `upsert` or `delete`), as an Arrow table: `_member_key`, `_payload` (the row as
JSON text) and one typed column per mapped destination field. `send` returns the rows the
destination rejected individually, as (member key, reason); it raises `TransientError` to be
retried, `BatchRejected` to have the batch split, and `DestinationError` to stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa

Rejections = list[tuple[str, str]]

#: how a destination rejects an update for a key it does not hold (update mode never inserts): such a
#: member is skipped, not failed, and not tried again until its row changes
NOT_AT_DESTINATION = "no row with this key at the destination"

KEY_COLUMN = "_member_key"
PAYLOAD_COLUMN = "_payload"
META_COLUMNS = (KEY_COLUMN, PAYLOAD_COLUMN)


#: query parameters whose values are secrets (an API key in a webhook URL, a signed link)
SECRET_PARAMETER = re.compile(r"(?i)(token|key|secret|pass(word)?|sig(nature)?|auth|credential|code)")


def redacted_url(url: str) -> str:
    """`url` as it may be shown and stored: a password in it and the values of secret-looking query
    parameters replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = urlencode([(k, "***" if SECRET_PARAMETER.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class UploadStatus:
    """Where a platform's asynchronous upload (a Google Customer Match job, a Meta upload session)
    stands, as the platform reports it. `final`: the platform will not change it any more. The match
    rate is a range where the platform reports one (Google's 20-30%), a point (low = high) where it
    reports counts (Meta's matched of received), None where it reports nothing yet."""

    state: str
    final: bool
    match_rate_low: float | None = None
    match_rate_high: float | None = None
    received: int | None = None
    matched: int | None = None
    detail: str | None = None


def field_columns(rows: pa.Table) -> list[str]:
    return [c for c in rows.column_names if c not in META_COLUMNS]


class Destination(Protocol):
    description: str
    #: rows per request; the engine cuts outbox batches to this size
    max_request_rows: int
    #: True when every run rewrites the whole audience (files): no resume, deletes are implicit
    snapshot: bool

    def open(self, schema: pa.Schema) -> None:
        """Prepare to receive rows of this schema (create the table, open the file, ...)."""

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        """Apply one operation to these rows; return the rows rejected one by one. `new_members`: the
        plan has never sent these keys (a hint for a faster path; the result must be the same)."""

    def commit(self) -> None:
        """Everything was sent: make it visible where that is a separate step (files)."""

    def abort(self) -> None:
        """The run failed: throw away what only commit() would have published."""

    def close(self) -> None:
        """Release connections."""


class TrackedUploads(Protocol):
    """What a destination whose platform applies uploads asynchronously offers besides (optional; the
    engine looks for these methods): it is told the rows of each operation it will get, closes each
    outbox batch before the batch is recorded as sent, and reads back how an upload it named went."""

    def expect(self, rows_by_op: dict[str, int], *, replace: bool = False) -> None:
        """The rows of each operation this run will send (sessions that count toward a last batch);
        `replace`: a full resync, whose members replace everything the destination holds."""

    def end_batch(self) -> str | None:
        """The outbox batch's rows are all sent: submit what the platform holds for them (Google's job
        run) and return the upload's reference, or None when there is nothing to track."""

    def upload_status(self, reference: str) -> UploadStatus | None:
        """How the upload `reference` went, as the platform reports it now; None if it cannot say."""
