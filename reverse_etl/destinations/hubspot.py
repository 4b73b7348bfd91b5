"""HubSpot contacts and a static list, as HubSpot's CRM API documents them
(https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts and
.../crm/lists/memberships/add-to-list):

- adds and changes: `POST /crm/v3/objects/contacts/batch/upsert` with `{"inputs": [{"idProperty":
  "email", "id": <email>, "properties": {<mapped fields>}}]}`, at most 100 inputs per request. A 207
  answer lists the inputs HubSpot refused (`errors[].context.ids`): each fails on its own row with
  HubSpot's message. The contact ids of the `results` then join the sync's static list:
  `PUT /crm/v3/lists/{listId}/memberships/add` with their ids (the list's processingType is MANUAL);
- removals: the members' contact ids are read by email (`POST .../contacts/batch/read`, 100 per
  request; one HubSpot does not hold is already gone) and leave the list
  (`PUT .../memberships/remove`); with `archive_on_delete` (the default when the sync names no
  list) the contacts are archived too (`POST .../contacts/batch/archive`);
- `Authorization: Bearer <private app token>` from the destination's `auth_env`.

HubSpot keeps emails in lower case, so refused and returned ids are matched without case. 429 and
5xx are retried; 400 (a property the portal does not define, a malformed batch) splits the batch
down to the row that causes it; 401 and 403 stop the sync naming the token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, Rejections, redacted_url
from reverse_etl.destinations.http import HttpDestination, auth_headers
from reverse_etl.reliability import DestinationError

BATCH_INPUTS = 100
CONTACTS = "/crm/v3/objects/contacts"


@dataclass
class HubSpotDestination(HttpDestination):
    id_property: str = "email"
    list_id: str | None = None
    archive_on_delete: bool = False

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> HubSpotDestination:
        rows = min(int(options.get("request_rows", BATCH_INPUTS)), BATCH_INPUTS)
        bearer = {**settings, "auth_scheme": settings.get("auth_scheme") or "Bearer"}
        list_id = options.get("list_id")
        archive = bool(options.get("archive_on_delete", list_id is None))
        return cls(url.rstrip("/"), key_field, auth_headers(bearer), timeout_seconds, rows,
                   id_property=str(options.get("id_property", "email")),
                   list_id=None if list_id is None else str(list_id), archive_on_delete=archive)

    @property
    def description(self) -> str:
        return f"hubspot:{redacted_url(self.url)}" + (f" list {self.list_id}" if self.list_id else "")

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        keys = [str(k) for k in rows.column(KEY_COLUMN).to_pylist()]
        if op == "delete":
            return self._remove(keys, idempotency_key)
        inputs = [{"idProperty": self.id_property, "id": key,
                   "properties": {name: _property_value(value) for name, value in fields.items()}}
                  for key, fields in self.member_fields(rows)]
        answer = self._post(f"{CONTACTS}/batch/upsert", {"inputs": inputs}, idempotency_key)
        refused = _refused_ids(answer, keys)
        if self.list_id:
            ids = _record_ids(answer, self.id_property)
            joining = [ids[key.lower()] for key in keys if key.lower() in ids and key not in dict(refused)]
            if joining:
                response = self.request("PUT", f"{self.url}/crm/v3/lists/{self.list_id}/memberships/add",
                                        json.dumps(joining).encode(), f"{idempotency_key}-list")
                missing = set(self._answer(response).get("recordIdsMissing") or [])
                by_id = {record_id: key for key, record_id in ((k, ids.get(k.lower())) for k in keys)}
                refused += [(by_id[i], "hubspot: the contact was not found when added to the list")
                            for i in missing if i in by_id]
        return refused

    def _remove(self, keys: list[str], idempotency_key: str) -> Rejections:
        answer = self._post(f"{CONTACTS}/batch/read", {
            "idProperty": self.id_property, "properties": [self.id_property],
            "inputs": [{"id": key} for key in keys]}, f"{idempotency_key}-read")
        ids = list(_record_ids(answer, self.id_property).values())
        if not ids:
            return []  # HubSpot holds none of them: nothing to remove
        if self.list_id:
            self.request("PUT", f"{self.url}/crm/v3/lists/{self.list_id}/memberships/remove",
                         json.dumps(ids).encode(), f"{idempotency_key}-list")
        if self.archive_on_delete:
            self.request("POST", f"{self.url}{CONTACTS}/batch/archive",
                         json.dumps({"inputs": [{"id": i} for i in ids]}).encode(), f"{idempotency_key}-archive")
        return []

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self._answer(self.request("POST", f"{self.url}{path}", json.dumps(body).encode(), idempotency_key))

    def _answer(self, response: Any) -> dict[str, Any]:
        if not response.content:
            return {}
        answer = self.json_body(response)
        if not isinstance(answer, dict):
            raise DestinationError(f"{self.description} answered with {type(answer).__name__}, not a JSON object")
        return answer


def _property_value(value: Any) -> str:
    """HubSpot property values are strings: booleans as true/false, nothing as an empty string
    (which clears the property)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _refused_ids(answer: dict[str, Any], keys: list[str]) -> Rejections:
    """The inputs a 207 answer refused, as (member key, HubSpot's message)."""
    by_lower = {key.lower(): key for key in keys}
    refused: Rejections = []
    for error in answer.get("errors") or []:
        if not isinstance(error, dict):
            continue
        context = error.get("context") if isinstance(error.get("context"), dict) else {}
        message = f"hubspot: {error.get('category') or 'error'}: {error.get('message') or 'refused'}"
        refused += [(by_lower[str(i).lower()], message) for i in context.get("ids") or []
                    if str(i).lower() in by_lower]
    return refused


def _record_ids(answer: dict[str, Any], id_property: str) -> dict[str, str]:
    """Lower-cased id property value -> HubSpot record id, from a batch answer's `results`."""
    ids = {}
    for result in answer.get("results") or []:
        value = (result.get("properties") or {}).get(id_property) if isinstance(result, dict) else None
        if value is not None and result.get("id") is not None:
            ids[str(value).lower()] = str(result["id"])
    return ids
