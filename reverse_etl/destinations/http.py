"""HTTP JSON destination: a generic REST endpoint or webhook, in batches, with an idempotency key.

Request: `POST <url>` (deletes too, with `"operation": "delete"`), headers `Content-Type:
application/json`, `Idempotency-Key: <key>` and, when configured, an auth header whose value comes
from an environment variable (`auth_env`, optional `auth_scheme` such as Bearer). Body:

    {"operation": "upsert", "idempotency_key": "...", "records": [{<mapped fields>}, ...]}

Response: any 2xx accepts the batch; a JSON body may list rows it refused,
`{"rejected": [{"key": <key value> | "index": <position>, "reason": "..."}]}`, which fail one by
one. 429 (honouring Retry-After), 408, 5xx, timeouts and connection errors are retried; 400, 413
and 422 reject the batch (the engine splits it to find the bad rows); 401, 403 and 404 stop the
sync with a message about credentials or the URL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, PAYLOAD_COLUMN, Rejections, redacted_url
from reverse_etl.reliability import BatchRejected, DestinationError, TransientError, parse_retry_after


def auth_headers(settings: dict[str, Any]) -> dict[str, str]:
    env = settings.get("auth_env")
    if not env:
        return {}
    token = os.environ.get(env)
    if not token:
        raise DestinationError(f"environment variable {env} (the destination's auth_env) is not set")
    scheme = settings.get("auth_scheme")
    return {str(settings.get("auth_header", "Authorization")): f"{scheme} {token}" if scheme else token}


@dataclass
class HttpDestination:
    url: str
    key_field: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    max_request_rows: int = 1_000
    snapshot: bool = False
    _client: httpx.Client | None = None

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> HttpDestination:
        path = str(options.get("path", ""))
        full = url.rstrip("/") + ("/" + path.lstrip("/") if path else "")
        rows = int(options.get("request_rows", settings.get("request_rows", 1_000)))
        return cls(full, key_field, auth_headers(settings), timeout_seconds, rows)

    @property
    def description(self) -> str:
        return f"http:{redacted_url(self.url)}"

    def open(self, schema: pa.Schema) -> None:
        self._client = httpx.Client(timeout=self.timeout_seconds, headers=self.headers)

    def render(self, op: str, rows: pa.Table, idempotency_key: str) -> tuple[str, bytes]:
        """(HTTP method, JSON body) of one request. The records are the payloads as planned."""
        records = ",".join(rows.column(PAYLOAD_COLUMN).to_pylist())
        head = json.dumps({"operation": op, "idempotency_key": idempotency_key})[:-1]
        return "POST", f'{head}, "records": [{records}]}}'.encode()

    def member_fields(self, rows: pa.Table) -> list[tuple[str, dict[str, Any]]]:
        """(member key, mapped fields other than the key) of each row, for APIs that take the key apart."""
        return [(str(key), {name: value for name, value in json.loads(payload).items() if name != self.key_field})
                for key, payload in zip(rows.column(KEY_COLUMN).to_pylist(), rows.column(PAYLOAD_COLUMN).to_pylist(),
                                        strict=True)]

    def rejected_key(self, item: dict[str, Any], rows: pa.Table) -> str | None:
        if "index" in item:
            index = int(item["index"])
            return rows.column(KEY_COLUMN)[index].as_py() if 0 <= index < rows.num_rows else None
        return None if item.get("key") is None else str(item["key"])

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        method, body = self.render(op, rows, idempotency_key)
        return self._rejections(self.request(method, self.url, body, idempotency_key), rows)

    def request(self, method: str, url: str, body: bytes, idempotency_key: str) -> httpx.Response:
        """One request; a 2xx answer is returned, anything else raised as transient (retried),
        a rejected batch (split to find the bad rows) or a destination error (the sync stops)."""
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__}.send called before open()")
        response = self._exchange(method, url, body, idempotency_key)
        if response.status_code == 401 and self.refresh_credentials(response):
            response = self._exchange(method, url, body, idempotency_key)
        special = self.platform_error(response)
        if special is not None:
            raise special
        status = response.status_code
        if status == 429:
            raise TransientError("429 Too Many Requests", parse_retry_after(response.headers.get("Retry-After")))
        if status == 408 or status >= 500:
            raise TransientError(f"HTTP {status}: {response.text[:200]}",
                                 parse_retry_after(response.headers.get("Retry-After")))
        if status in (400, 413, 422):
            raise BatchRejected(f"HTTP {status}: {response.text[:300]}")
        if status >= 300:
            raise DestinationError(f"{self.description} answered HTTP {status} ({response.text[:200]}); "
                                   "check the URL and the credentials in the auth_env variable")
        return response

    def _exchange(self, method: str, url: str, body: bytes, idempotency_key: str) -> httpx.Response:
        assert self._client is not None
        try:
            return self._client.request(method, url, content=body, headers={
                "Content-Type": "application/json", "Idempotency-Key": idempotency_key})
        except httpx.TimeoutException as exc:
            raise TransientError(f"timeout after {self.timeout_seconds}s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"connection failed: {exc}") from exc

    def platform_error(self, response: httpx.Response) -> Exception | None:
        """An error the platform signals its own way (a throttle in a 400's body), to raise instead of
        the generic reading of the status code; None for the generic reading."""
        return None

    def refresh_credentials(self, response: httpx.Response) -> bool:
        """A 401 answered `response`: get new credentials and say whether the request is worth
        sending once more (destinations with expiring access tokens; the generic one has none)."""
        return False

    @staticmethod
    def json_body(response: httpx.Response) -> Any:
        """The answer's JSON; a 2xx that is not JSON (a proxy's or captive portal's page) says nothing
        about the rows: try again (the idempotency key makes a resend safe), never count them sent."""
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"answered HTTP {response.status_code} with a body that is not JSON "
                                 f"({response.text[:80]!r})") from None

    def _rejections(self, response: httpx.Response, rows: pa.Table) -> Rejections:
        if not response.content:
            return []
        body = self.json_body(response)
        rejected = body.get("rejected") if isinstance(body, dict) else None
        out: Rejections = []
        for item in rejected or []:
            key = self.rejected_key(item, rows) if isinstance(item, dict) else None
            if key is not None:
                out.append((key, str(item.get("reason") or "rejected by the destination")))
        return out

    def commit(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
