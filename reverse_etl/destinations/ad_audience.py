"""Ad-platform customer lists (Google Customer Match, Meta custom audiences), sent over HTTP.

Identifiers arrive already normalised and SHA-256 hashed by the planner, inside DuckDB, following
each platform's published rules (`reverse_etl/hashing.py`); plain-text PII never leaves the
warehouse. Mapped fields named `email`, `phone`, `first_name`, `last_name` and `country` are the
identifiers; the key is sent as the external id. Members to add go as adds, members to remove
(mirror removals, deletion requests) as removes, in the platform's request shape:

google  POST {"operations": [{"create" | "remove": {"userIdentifiers": [{"hashedEmail": ...},
        {"hashedPhoneNumber": ...}, {"addressInfo": {"hashedFirstName", "hashedLastName",
        "countryCode"}}]}}], "idempotency_key": ...}   (OfflineUserDataJob operations)
meta    POST (adds) / DELETE (removes) {"payload": {"schema": ["EMAIL", "PHONE", "FN", "LN",
        "COUNTRY", "EXTERN_ID"], "data": [[...], ...]}, "idempotency_key": ...}  (/{audience}/users)

Responses, retries and row rejections work as for the generic HTTP destination (by index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, redacted_url
from reverse_etl.destinations.http import HttpDestination

META_SCHEMA = {"email": "EMAIL", "phone": "PHONE", "first_name": "FN", "last_name": "LN", "country": "COUNTRY"}


@dataclass
class AdAudienceDestination(HttpDestination):
    platform: str = "google"

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> AdAudienceDestination:
        base = HttpDestination.from_settings(url, settings, options, key_field, timeout_seconds)
        limit = 10_000 if settings["platform"] == "meta" else 100_000
        return cls(base.url, key_field, base.headers, timeout_seconds, min(base.max_request_rows, limit),
                   platform=settings["platform"])

    @property
    def description(self) -> str:
        return f"{self.platform}_audience:{redacted_url(self.url)}"

    def render(self, op: str, rows: pa.Table, idempotency_key: str) -> tuple[str, bytes]:
        columns = {name: rows.column(name).to_pylist() for name in rows.column_names if name in META_SCHEMA}
        keys = rows.column(KEY_COLUMN).to_pylist()
        if self.platform == "meta":
            schema = [META_SCHEMA[n] for n in columns] + ["EXTERN_ID"]
            data = [[columns[n][i] or "" for n in columns] + [keys[i]] for i in range(rows.num_rows)]
            body = {"payload": {"schema": schema, "data": data}, "idempotency_key": idempotency_key}
            return ("DELETE" if op == "delete" else "POST"), json.dumps(body).encode()
        action = "remove" if op == "delete" else "create"
        operations = []
        for i in range(rows.num_rows):
            identifiers: list[dict[str, Any]] = []
            if columns.get("email") and columns["email"][i]:
                identifiers.append({"hashedEmail": columns["email"][i]})
            if columns.get("phone") and columns["phone"][i]:
                identifiers.append({"hashedPhoneNumber": columns["phone"][i]})
            address = {k: columns[n][i] for n, k in (("first_name", "hashedFirstName"),
                                                     ("last_name", "hashedLastName"),
                                                     ("country", "countryCode")) if columns.get(n) and columns[n][i]}
            if address:
                identifiers.append({"addressInfo": address})
            operations.append({action: {"userIdentifiers": identifiers}})
        return "POST", json.dumps({"operations": operations, "idempotency_key": idempotency_key}).encode()
