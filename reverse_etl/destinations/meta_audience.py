"""Meta custom audiences, through the Marketing API's audience users edge, as Meta documents it
(developers.facebook.com/docs/marketing-api: "Custom Audiences", `/{audience-id}/users`, "Custom
Audience Session"):

- `POST /{version}/{audience_id}/users` adds members and `DELETE` on the same edge removes them, with
  `{"payload": {"schema": [...], "data": [[...], ...]}, "session": {...}}`: at most 10,000 members
  per request; the schema names the identifiers mapped (EMAIL, PHONE, FN, LN, COUNTRY, ZIP) and
  EXTERN_ID (the sync's key), every identifier normalised and SHA-256 hashed by Meta's rules in the
  warehouse (`reverse_etl/hashing.py`);
- each run's adds and each run's removals are one upload session: a session id, `batch_seq` counting
  from 1, `estimated_num_total`, and `last_batch_flag` on the request that completes it. A full resync
  (`cdp sync --full-resync`) sends its members to `/{audience_id}/usersreplace` instead, in one replace
  session: when its last batch arrives, the audience holds exactly those members;
- the answer counts what Meta took (`num_received`, `num_invalid_entries`); a request Meta refuses
  (error code 100 and the like) is split to find the rows it refuses, which fail one by one;
  throttling (error codes 4, 17, 32, 613, 80003) is retried with backoff, a bad or expired token
  (190) stops the sync;
- the session's `num_matched` of `num_received` (read from `/{audience_id}/sessions`) is the match
  rate kept per sync run.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, Rejections, UploadStatus, redacted_url
from reverse_etl.destinations.http import HttpDestination, auth_headers
from reverse_etl.reliability import BatchRejected, DestinationError, TransientError

API_VERSION = "v21.0"
MAX_MEMBERS = 10_000
#: mapped field -> Meta's schema key
META_SCHEMA = {"email": "EMAIL", "phone": "PHONE", "first_name": "FN", "last_name": "LN", "country": "COUNTRY",
               "postal_code": "ZIP"}
THROTTLED = {4, 17, 32, 613, 80003}
EXPIRED_TOKEN = 190


@dataclass
class _Session:
    session_id: int
    expected: int
    batch_seq: int = 0
    rows_sent: int = 0
    closed: bool = False
    #: the edge, schema and one row of the last request Meta took: a session whose last row was
    #: refused is closed by sending that row again with last_batch_flag (adding a member twice is a no-op)
    last_taken: tuple[str, str, list[str], list[str]] | None = None


@dataclass
class MetaAudienceDestination(HttpDestination):
    audience_id: str = ""
    api_version: str = API_VERSION
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _used: str | None = None
    _replace: bool = False

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> MetaAudienceDestination:
        rows = min(int(options.get("request_rows", MAX_MEMBERS)), MAX_MEMBERS)
        return cls(url.rstrip("/"), key_field, auth_headers(settings), timeout_seconds, rows,
                   audience_id=str(options["audience_id"]), api_version=str(settings.get("api_version", API_VERSION)))

    @property
    def description(self) -> str:
        return f"meta_audience:{redacted_url(self.url)} audience {self.audience_id}"

    def _edge(self, name: str) -> str:
        return f"{self.url}/{self.api_version}/{self.audience_id}/{name}"

    def expect(self, rows_by_op: dict[str, int], *, replace: bool = False) -> None:
        """A new upload session for each operation of this run (adds, or a replace; removals)."""
        self._replace = replace
        self._sessions = {("remove" if op == "delete" else "add"): _Session(secrets.randbits(62) + 1, total)
                          for op, total in rows_by_op.items() if total}

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        kind = "remove" if op == "delete" else "add"
        session = self._sessions.setdefault(kind, _Session(secrets.randbits(62) + 1, rows.num_rows))
        fields = [name for name in META_SCHEMA if name in rows.column_names]
        columns = [rows.column(name).to_pylist() for name in fields]
        keys = [str(k) for k in rows.column(KEY_COLUMN).to_pylist()]
        data = [[column[i] or "" for column in columns] + [keys[i]] for i in range(rows.num_rows)]
        last = session.rows_sent + rows.num_rows >= session.expected
        body = {"payload": {"schema": [META_SCHEMA[n] for n in fields] + ["EXTERN_ID"], "data": data},
                "session": {"session_id": session.session_id, "batch_seq": session.batch_seq + 1,
                            "last_batch_flag": last, "estimated_num_total": max(session.expected, rows.num_rows)}}
        edge = "usersreplace" if self._replace and kind == "add" else "users"
        try:
            response = self.request("DELETE" if kind == "remove" else "POST", self._edge(edge),
                                    json.dumps(body).encode(), idempotency_key)
        except BatchRejected:
            if rows.num_rows == 1:  # the row fails for good: it counts toward the session's last batch
                session.rows_sent += 1
            raise
        answer = self.json_body(response)
        received = answer.get("num_received") if isinstance(answer, dict) else None
        if not isinstance(received, int) or received != rows.num_rows:
            raise TransientError(f"meta answered num_received={received!r} for {rows.num_rows} members; "
                                 "sending the batch again")
        session.batch_seq += 1
        session.rows_sent += rows.num_rows
        session.closed = last
        session.last_taken = (edge, "DELETE" if kind == "remove" else "POST", body["payload"]["schema"], data[-1])
        self._used = f"{self.audience_id}:{session.session_id}"
        return []

    def commit(self) -> None:
        """Close every session whose last batch Meta refused (else a replace would never complete)."""
        for session in self._sessions.values():
            if session.closed or session.last_taken is None:
                continue
            edge, method, schema, row = session.last_taken
            body = {"payload": {"schema": schema, "data": [row]},
                    "session": {"session_id": session.session_id, "batch_seq": session.batch_seq + 1,
                                "last_batch_flag": True, "estimated_num_total": session.expected}}
            key = f"{self.audience_id}:{session.session_id}:close"
            self.json_body(self.request(method, self._edge(edge), json.dumps(body).encode(), key))
            session.batch_seq += 1
            session.closed = True

    def platform_error(self, response: httpx.Response) -> Exception | None:
        """Meta answers throttling and token errors as 400s with an error code in the body."""
        if response.status_code < 400:
            return None
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            return None
        code = error.get("code") if isinstance(error, dict) else None
        if code in THROTTLED:
            return TransientError(f"meta throttled the request (error code {code})")
        if code == EXPIRED_TOKEN:
            return DestinationError("meta refused the access token (error code 190); renew the token in the "
                                    "destination's auth_env variable")
        return None

    def end_batch(self) -> str | None:
        used, self._used = self._used, None
        return used

    def upload_status(self, reference: str) -> UploadStatus | None:
        audience, _, session_id = reference.partition(":")
        if audience != self.audience_id or not session_id.isdigit():
            return None
        url = self._edge("sessions") + "?" + urlencode({"session_id": session_id})
        answer = self.json_body(self.request("GET", url, b"", f"{reference}:status"))
        sessions = answer.get("data") if isinstance(answer, dict) else None
        if not sessions:
            return None
        found = sessions[0]
        received, matched = _count(found.get("num_received")), _count(found.get("num_matched"))
        rate = matched / received if received and matched is not None else None
        finished = str(found.get("end_time") or "0") not in ("", "0")
        invalid = _count(found.get("num_invalid_entries"))
        return UploadStatus(str(found.get("stage") or "unknown"), finished, rate, rate, received, matched,
                            detail=f"{invalid} invalid entries" if invalid else None)


def _count(value: Any) -> int | None:
    """Meta's counts come as numeric strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

