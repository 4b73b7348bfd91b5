"""A real local HTTP server standing in for a marketing tool's API, driven by the test.

It speaks the generic contract of reverse_etl/destinations/http.py (and accepts the ad-platform
shapes): it applies upserts and deletes to an in-memory table keyed by the key field, remembers
idempotency keys (a replayed key gets the first answer again and changes nothing), and can be told
to answer the next requests with 429 + Retry-After, 500, a timeout, a 200 that is not JSON (a proxy's
page), to reject some rows of a batch,
to refuse whole batches that contain a poisoned row, or to apply a request and then hang (so a
client killed meanwhile never learns it was applied).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeApi:
    key_field: str = "profile_id"
    records: dict[str, dict] = field(default_factory=dict)
    applied: Counter = field(default_factory=Counter)          # key -> times a change was applied
    requests: list[dict] = field(default_factory=list)         # every request as received
    replays: int = 0                                           # requests answered from the idempotency cache
    script: list[str] = field(default_factory=list)            # next answers: "429", "500", "timeout"
    retry_after: str = "1"
    reject_when: Any = None                                    # record -> reason or None (partial rejection)
    poison_when: Any = None                                    # record -> True makes the whole batch 422
    delay_after_apply: float = 0.0
    timeout_seconds: float = 3.0
    _answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        payload = json.loads(body or b"{}")
        key = headers.get("idempotency-key", "")
        with self._lock:
            self.requests.append({"method": method, "key": key, "headers": headers, "body": payload,
                                  "at": time.monotonic()})
            if self.script:
                answer = self.script.pop(0)
                if answer == "429":
                    return 429, {"Retry-After": self.retry_after}, b'{"error": "slow down"}'
                if answer == "500":
                    return 500, {}, b'{"error": "internal"}'
                if answer == "timeout":
                    time.sleep(self.timeout_seconds)
                    return 504, {}, b""
                if answer == "garbage":  # a proxy's login page: 200, and nothing was applied
                    return 200, {"Content-Type": "text/html"}, b"<html><body>Please sign in</body></html>"
            if key and key in self._answers:
                self.replays += 1
                status, answer_body = self._answers[key]
                return status, {}, answer_body
            records = payload.get("records", [])
            if self.poison_when and any(self.poison_when(r) for r in records):
                return 422, {}, b'{"error": "batch contains an invalid record"}'
            rejected = []
            for index, record in enumerate(records):
                reason = self.reject_when(record) if self.reject_when else None
                if reason:
                    rejected.append({"index": index, "reason": reason})
                    continue
                member = str(record[self.key_field])
                if payload.get("operation") == "delete":
                    self.records.pop(member, None)
                else:
                    self.records[member] = record
                self.applied[member] += 1
            answer_body = json.dumps({"accepted": len(records) - len(rejected), "rejected": rejected}).encode()
            if key:
                self._answers[key] = (200, answer_body)
        if self.delay_after_apply:
            time.sleep(self.delay_after_apply)
        return 200, {}, answer_body


class _Handler(BaseHTTPRequestHandler):
    api: FakeApi

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, answer = self.server.api.handle(  # type: ignore[attr-defined]
            self.command, {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) or was killed

    do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, *args: Any) -> None:
        return None


class FakeApiServer:
    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.api = api  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
