"""A local stand-in for the Meta Marketing API's custom audience users edge, holding requests to the
published contract (developers.facebook.com/docs/marketing-api: "Custom Audiences", "Custom Audience
Session", Graph API error codes):

- the access token as a Bearer header, or 400 with error code 190 (OAuthException);
- `POST` (add) and `DELETE` (remove) `/v21.0/{audience_id}/users` with `{"payload": {"schema", "data"},
  "session"}` for an audience the account holds (else code 100): a schema of known keys without
  repeats, 1 to 10,000 rows each as long as the schema, hashed keys as 64 lower-case hex or empty,
  and a session (`session_id` > 0, `batch_seq` from 1 and rising, a repeated one answered again without
  being applied twice, `last_batch_flag`, `estimated_num_total`); nothing is taken after a session's
  last batch. Anything else is a 400 with error code 100. A row whose hashed keys are all empty is
  counted in `num_invalid_entries`. A request holding a row the test poisons (`refuse_extern_ids`) is
  refused whole, as Meta refuses a request with a parameter it cannot take;
- `POST /v21.0/{audience_id}/usersreplace`: the same body; the session's rows replace the audience's
  members when its last batch arrives, and while it is open the `users` edge takes nothing;
- `throttle_next` requests are answered with error code 80003 (the custom audience rate limit);
- `GET /v21.0/{audience_id}/sessions?session_id=N`: the session's `num_received`, `num_matched` (rows
  whose hashed email belongs to a Meta account, `known_emails`), `num_invalid_entries`, `stage` and
  `end_time` ("0" while the session is open), all as numeric strings.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import JsonApiServer

VERSION = "/v21.0"
LIMIT = 10_000
HASHED = {"EMAIL", "PHONE", "FN", "LN", "COUNTRY", "ZIP", "CT", "ST", "GEN", "DOBY"}
KEYS = HASHED | {"EXTERN_ID", "MADID"}
HEX = re.compile(r"^[0-9a-f]{64}$")
EDGE = re.compile(rf"^{VERSION}/(\d+)/(users|usersreplace|sessions)$")


def _error(code: int, message: str, status: int = 400) -> tuple[int, dict]:
    return status, {"error": {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
                              "fbtrace_id": "AfakeTrace"}}


@dataclass
class Session:
    received: int = 0
    matched: int = 0
    invalid: int = 0
    last_seq: int = 0
    closed: bool = False
    replace: bool = False
    keys: set[str] = field(default_factory=set)      # a replace session's members so far


@dataclass
class FakeMeta:
    token: str
    audiences: frozenset[str] = frozenset({"23850000000001"})
    known_emails: frozenset[str] = frozenset()
    refuse_extern_ids: frozenset[str] = frozenset()
    throttle_next: int = 0
    members: dict[str, set[str]] = field(default_factory=dict)       # audience -> EXTERN_IDs
    sessions: dict[int, Session] = field(default_factory=dict)
    requests: list[tuple[str, str, object]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> tuple[int, object]:
        parts = urlsplit(target)
        with self._lock:
            if authorization != f"Bearer {self.token}":
                return _error(190, "Invalid OAuth access token - Cannot parse access token")
            match = EDGE.match(parts.path)
            if not match or match.group(1) not in self.audiences:
                return _error(100, f"Unsupported request: {method} {parts.path}")
            if self.throttle_next:
                self.throttle_next -= 1
                return _error(80003, "There have been too many calls to this ad-account. Wait a bit and try again.")
            if match.group(2) == "sessions" and method == "GET":
                return self._session(parse_qs(parts.query))
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return _error(100, "Invalid parameter: the body is not JSON")
            self.requests.append((method, target, payload))
            if method in ("POST", "DELETE") and match.group(2) == "users":
                if any(not r.closed for r in self.sessions.values() if r.replace):
                    return _error(100, "Invalid parameter: a replace session of this audience is in progress")
                return self._users(match.group(1), method, payload)
            if method == "POST" and match.group(2) == "usersreplace":
                return self._users(match.group(1), method, payload, replace=True)
        return _error(100, f"Unsupported request: {method} {parts.path}")

    def _users(self, audience: str, method: str, payload: dict, replace: bool = False) -> tuple[int, object]:
        problem = self._malformed(payload)
        if problem:
            return _error(100, f"Invalid parameter: {problem}")
        schema, data = payload["payload"]["schema"], payload["payload"]["data"]
        extern = schema.index("EXTERN_ID") if "EXTERN_ID" in schema else None
        if extern is not None and any(row[extern] in self.refuse_extern_ids for row in data):
            return _error(100, "Invalid parameter: a row of the payload cannot be processed")
        spec = payload["session"]
        session = self.sessions.setdefault(spec["session_id"], Session(replace=replace))
        if session.closed:
            return _error(100, "Invalid parameter: the session has ended (its last batch was sent)")
        if spec["batch_seq"] < session.last_seq:
            return _error(100, "Invalid parameter: batch_seq must rise within a session")
        answer = {"audience_id": audience, "session_id": str(spec["session_id"]), "num_received": len(data),
                  "num_invalid_entries": 0, "invalid_entry_samples": {}}
        if spec["batch_seq"] == session.last_seq:   # the same batch again: answered, not applied twice
            return 200, answer
        hashed = [i for i, key in enumerate(schema) if key in HASHED]
        email = schema.index("EMAIL") if "EMAIL" in schema else None
        invalid = sum(1 for row in data if not any(row[i] for i in hashed))
        members = self.members.setdefault(audience, set())
        for row in data:
            key = row[extern] if extern is not None else json.dumps(row)
            if replace:
                session.keys.add(key)
            elif method == "POST":
                members.add(key)
            else:
                members.discard(key)
        session.received += len(data)
        session.invalid += invalid
        session.matched += sum(1 for row in data if email is not None and row[email] in self.known_emails)
        session.last_seq = spec["batch_seq"]
        session.closed = bool(spec["last_batch_flag"])
        if replace and session.closed:  # the replace completes: the audience is what the session sent
            self.members[audience] = set(session.keys)
        answer["num_invalid_entries"] = invalid
        return 200, answer

    @staticmethod
    def _malformed(payload: object) -> str | None:
        if not isinstance(payload, dict) or set(payload) - {"payload", "session"}:
            return "the body holds payload and session only"
        inner = payload.get("payload")
        if not isinstance(inner, dict) or set(inner) != {"schema", "data"}:
            return "payload must hold schema and data"
        schema, data = inner["schema"], inner["data"]
        if not isinstance(schema, list) or not schema or len(set(schema)) != len(schema) or set(schema) - KEYS:
            return f"schema {schema!r} is not a list of distinct known keys"
        if not isinstance(data, list) or not 1 <= len(data) <= LIMIT:
            return f"data must hold 1 to {LIMIT} rows"
        for row in data:
            if not isinstance(row, list) or len(row) != len(schema) or not all(isinstance(v, str) for v in row):
                return "every row must be a list of strings as long as the schema"
            if any(value and not HEX.match(value) for key, value in zip(schema, row, strict=True) if key in HASHED):
                return "hashed keys must be SHA-256 hex"
        session = payload.get("session")
        if not isinstance(session, dict) or set(session) != {"session_id", "batch_seq", "last_batch_flag",
                                                              "estimated_num_total"}:
            return "session needs session_id, batch_seq, last_batch_flag and estimated_num_total"
        if not (isinstance(session["session_id"], int) and session["session_id"] > 0
                and isinstance(session["batch_seq"], int) and session["batch_seq"] >= 1
                and isinstance(session["last_batch_flag"], bool) and isinstance(session["estimated_num_total"], int)):
            return "session fields have the wrong types"
        return None

    def _session(self, query: dict[str, list[str]]) -> tuple[int, object]:
        wanted = query.get("session_id", [""])[0]
        session = self.sessions.get(int(wanted)) if wanted.isdigit() else None
        if session is None:
            return 200, {"data": []}
        return 200, {"data": [{
            "session_id": wanted, "start_time": "1733300000", "end_time": "1733300100" if session.closed else "0",
            "num_received": str(session.received), "num_matched": str(session.matched),
            "num_invalid_entries": str(session.invalid), "progress": "100" if session.closed else "50",
            "stage": "finished" if session.closed else "uploading"}]}


class FakeMetaServer(JsonApiServer):
    def __init__(self, api: FakeMeta) -> None:
        super().__init__(api.handle)
