"""A local stand-in for HubSpot's CRM API, holding requests to the published contract
(developers.hubspot.com: crm/objects/contacts batch upsert, read and archive; crm/lists memberships):

- `Authorization: Bearer <private app token>` or 401 `{"status": "error", "category": "INVALID_AUTHENTICATION"}`;
- `POST /crm/v3/objects/contacts/batch/upsert`: `{"inputs": [...]}` of 1 to 100 objects, each with
  `idProperty` "email", a string `id` and a `properties` object of string values, or 400
  VALIDATION_ERROR for the whole batch; a property the portal does not define is a 400 too. An input
  whose email is not valid is refused on its own: 207 with `errors[].context.ids`. Results carry each
  contact's record id and its lower-cased email;
- `POST .../contacts/batch/read` (`idProperty` email, 1 to 100 inputs): 200, or 207 with
  OBJECT_NOT_FOUND errors for the emails it does not hold;
- `POST .../contacts/batch/archive`: 1 to 100 `{"id"}` inputs, 204;
- `PUT /crm/v3/lists/{listId}/memberships/add` and `/remove`: a JSON array of record id strings, for
  a list that exists and is MANUAL (404 or 400 otherwise); ids it does not hold come back in
  `recordIdsMissing`;
- every `rate_limit_every`-th request answers 429 `{"errorType": "RATE_LIMIT"}`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field

from tests.fake_http import JsonApiServer

BATCH_LIMIT = 100
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIST_PATH = re.compile(r"^/crm/v3/lists/(\w+)/memberships/(add|remove)$")


def _error(category: str, message: str) -> dict:
    return {"status": "error", "category": category, "message": message}


@dataclass
class FakeHubSpot:
    token: str
    properties: frozenset[str] = frozenset({"firstname", "lastname", "lifecyclestage", "cdp_score", "company"})
    #: list id -> processing type; memberships hold record ids
    lists: dict[str, str] = field(default_factory=lambda: {"42": "MANUAL", "77": "DYNAMIC"})
    rate_limit_every: int = 0
    contacts: dict[str, dict] = field(default_factory=dict)      # record id -> properties (email included)
    memberships: dict[str, set[str]] = field(default_factory=dict)
    archived: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, object]] = field(default_factory=list)
    rate_limited: int = 0
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, authorization: str, body: bytes) -> tuple[int, object]:
        if authorization != f"Bearer {self.token}":
            return 401, _error("INVALID_AUTHENTICATION", "Authentication credentials not found.")
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "Invalid input JSON")
        with self._lock:
            self.requests.append((method, path, payload))
            if self.rate_limit_every and len(self.requests) % self.rate_limit_every == 0:
                self.rate_limited += 1
                return 429, {"status": "error", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                             "message": "You have reached your ten_secondly_rolling limit."}
            match = LIST_PATH.match(path)
            if method == "PUT" and match:
                return self._membership(match.group(1), match.group(2), payload)
            if method == "POST" and path.startswith("/crm/v3/objects/contacts/batch/"):
                action = path.rsplit("/", 1)[1]
                inputs = payload.get("inputs") if isinstance(payload, dict) else None
                if not isinstance(inputs, list) or not 1 <= len(inputs) <= BATCH_LIMIT:
                    return 400, _error("VALIDATION_ERROR", f"inputs must hold 1 to {BATCH_LIMIT} objects")
                if action == "upsert":
                    return self._upsert(inputs)
                if action == "read":
                    return self._read(payload, inputs)
                if action == "archive":
                    return self._archive(inputs)
        return 404, _error("OBJECT_NOT_FOUND", f"{method} {path} is not an endpoint")

    def _by_email(self) -> dict[str, str]:
        return {c["email"]: record_id for record_id, c in self.contacts.items()}

    def _upsert(self, inputs: list) -> tuple[int, dict]:
        for item in inputs:
            if not isinstance(item, dict) or item.get("idProperty") != "email" or not isinstance(item.get("id"), str):
                return 400, _error("VALIDATION_ERROR", "each input needs idProperty email and a string id")
            properties = item.get("properties")
            if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
                return 400, _error("VALIDATION_ERROR", "properties must be an object of string values")
            unknown = sorted(set(properties) - self.properties - {"email"})
            if unknown:
                return 400, _error("VALIDATION_ERROR", f'Property "{unknown[0]}" does not exist')
        results, errors = [], []
        by_email = self._by_email()
        for item in inputs:
            email = item["id"].lower()
            if not EMAIL.match(email):
                errors.append({**_error("VALIDATION_ERROR", f"Email address {item['id']} is invalid"),
                               "context": {"ids": [item["id"]]}})
                continue
            record_id = by_email.get(email)
            new = record_id is None
            if record_id is None:
                record_id, self._next_id = str(self._next_id), self._next_id + 1
            self.contacts.setdefault(record_id, {"email": email}).update(item["properties"])
            by_email[email] = record_id
            results.append({"id": record_id, "new": new, "properties": {"email": email}})
        answer = {"status": "COMPLETE", "results": results}
        if errors:
            return 207, {**answer, "numErrors": len(errors), "errors": errors}
        return 200, answer

    def _read(self, payload: dict, inputs: list) -> tuple[int, dict]:
        if payload.get("idProperty") != "email":
            return 400, _error("VALIDATION_ERROR", "idProperty must name a unique property")
        by_email = self._by_email()
        results, missing = [], []
        for item in inputs:
            email = str(item.get("id") if isinstance(item, dict) else "").lower()
            if email in by_email:
                results.append({"id": by_email[email], "properties": {"email": email}})
            else:
                missing.append(email)
        answer = {"status": "COMPLETE", "results": results}
        if missing:
            return 207, {**answer, "numErrors": 1, "errors": [
                {**_error("OBJECT_NOT_FOUND", "Could not get some CONTACT objects"), "context": {"ids": missing}}]}
        return 200, answer

    def _archive(self, inputs: list) -> tuple[int, object]:
        for item in inputs:
            record_id = str(item.get("id") if isinstance(item, dict) else "")
            if self.contacts.pop(record_id, None) is not None:
                self.archived.add(record_id)
                for members in self.memberships.values():
                    members.discard(record_id)
        return 204, None

    def _membership(self, list_id: str, action: str, payload: object) -> tuple[int, dict]:
        if list_id not in self.lists:
            return 404, _error("OBJECT_NOT_FOUND", f"List {list_id} does not exist")
        if self.lists[list_id] != "MANUAL":
            return 400, _error("VALIDATION_ERROR", f"List {list_id} is {self.lists[list_id]}; only MANUAL or "
                                                   "SNAPSHOT lists take memberships")
        if not isinstance(payload, list) or not all(isinstance(i, str) and i.isdigit() for i in payload):
            return 400, _error("VALIDATION_ERROR", "the body must be a JSON array of record id strings")
        members = self.memberships.setdefault(list_id, set())
        present = [i for i in payload if i in self.contacts]
        missing = [i for i in payload if i not in self.contacts]
        if action == "add":
            added = [i for i in present if i not in members]
            members.update(present)
            return 200, {"recordsIdsAdded": added, "recordIdsRemoved": [], "recordIdsMissing": missing}
        removed = [i for i in present if i in members]
        members.difference_update(present)
        return 200, {"recordsIdsAdded": [], "recordIdsRemoved": removed, "recordIdsMissing": missing}

    def list_emails(self, list_id: str) -> set[str]:
        return {self.contacts[i]["email"] for i in self.memberships.get(list_id, set()) if i in self.contacts}


class FakeHubSpotServer(JsonApiServer):
    def __init__(self, api: FakeHubSpot) -> None:
        super().__init__(api.handle)
