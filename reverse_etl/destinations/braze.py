"""Braze, as its REST API documents it (https://www.braze.com/docs/api/endpoints/user_data/):

- adds and changes: `POST {rest endpoint}/users/track` with `{"attributes": [{"external_id": <key>,
  <mapped fields>...}]}`, at most 75 attributes objects per request;
- deletes: `POST {rest endpoint}/users/delete` with `{"external_ids": [...]}`, at most 50 per request;
- `Authorization: Bearer <REST API key>` from the destination's `auth_env`.

A 201 with `errors` (`{"type", "input_array": "attributes", "index"}`) accepts the request and
refuses those objects: each fails on its own row, logged with Braze's reason. 429 and 5xx are
retried, 400 and 413 split the batch, 401 and 403 stop the sync naming the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, Rejections, redacted_url
from reverse_etl.destinations.http import HttpDestination, auth_headers

TRACK_OBJECTS = 75
DELETE_IDS = 50


@dataclass
class BrazeDestination(HttpDestination):
    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> BrazeDestination:
        rows = min(int(options.get("request_rows", TRACK_OBJECTS)), TRACK_OBJECTS)
        bearer = {**settings, "auth_scheme": settings.get("auth_scheme") or "Bearer"}
        return cls(url.rstrip("/"), key_field, auth_headers(bearer), timeout_seconds, rows)

    @property
    def description(self) -> str:
        return f"braze:{redacted_url(self.url)}"

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        keys = [str(k) for k in rows.column(KEY_COLUMN).to_pylist()]
        if op == "delete":
            for start in range(0, len(keys), DELETE_IDS):
                body = json.dumps({"external_ids": keys[start:start + DELETE_IDS]}).encode()
                self.request("POST", f"{self.url}/users/delete", body, f"{idempotency_key}-{start}")
            return []
        attributes = [{"external_id": key, **fields} for key, fields in self.member_fields(rows)]
        response = self.request("POST", f"{self.url}/users/track", json.dumps({"attributes": attributes}).encode(),
                                idempotency_key)
        answer = self.json_body(response) if response.content else {}
        refused: Rejections = []
        for error in answer.get("errors") or [] if isinstance(answer, dict) else []:
            index = error.get("index") if isinstance(error, dict) else None
            if error.get("input_array") == "attributes" and isinstance(index, int) and 0 <= index < len(keys):
                refused.append((keys[index], f"braze: {error.get('type') or 'refused'}"))
        return refused
