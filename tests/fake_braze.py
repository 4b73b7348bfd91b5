"""A local stand-in for Braze's REST API, holding requests to the published contract
(https://www.braze.com/docs/api/endpoints/user_data/post_user_track/ and post_user_delete/):

- `Authorization: Bearer <key>` or 401 `{"message": "Invalid API Key"}`;
- `POST /users/track`: a JSON object with an `attributes` array of at most 75 objects, or 400; each
  object needs an identifier (external_id, braze_id, user_alias, email or phone) and a valid
  `email` when it has one, or it is refused on its own: 201 with
  `{"errors": [{"type", "input_array": "attributes", "index"}]}`;
- `POST /users/delete`: exactly one identifier array of at most 50, or 400;
- anything else: 404.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field

from tests.fake_http import JsonApiServer

IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email", "phone")
DELETE_IDENTIFIERS = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class FakeBraze:
    api_key: str
    users: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, path: str, authorization: str, body: bytes) -> tuple[int, dict]:
        if authorization != f"Bearer {self.api_key}":
            return 401, {"message": "Invalid API Key"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"message": "Invalid JSON"}
        with self._lock:
            self.requests.append((path, payload))
            if path == "/users/track":
                return self._track(payload)
            if path == "/users/delete":
                return self._delete(payload)
        return 404, {"message": "Not Found"}

    def _track(self, payload: object) -> tuple[int, dict]:
        attributes = payload.get("attributes") if isinstance(payload, dict) else None
        if not isinstance(attributes, list) or not attributes:
            return 400, {"message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."}
        if len(attributes) > 75:
            return 400, {"message": f"Too many attributes objects ({len(attributes)}); the limit is 75 per request"}
        errors = []
        for index, item in enumerate(attributes):
            if not isinstance(item, dict) or not any(item.get(k) for k in IDENTIFIERS):
                errors.append({"type": "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required",
                               "input_array": "attributes", "index": index})
            elif item.get("email") is not None and not EMAIL.match(str(item["email"])):
                errors.append({"type": "Invalid email address", "input_array": "attributes", "index": index})
            else:
                self.users.setdefault(str(item["external_id"]), {}).update(item)
        answer = {"message": "success", "attributes_processed": len(attributes) - len(errors)}
        if errors:
            answer["errors"] = errors
        return 201, answer

    def _delete(self, payload: object) -> tuple[int, dict]:
        present = [k for k in DELETE_IDENTIFIERS if isinstance(payload, dict) and k in payload]
        if len(present) != 1:
            return 400, {"message": "Exactly one of " + ", ".join(DELETE_IDENTIFIERS) + " must be given"}
        ids = payload[present[0]]
        if not isinstance(ids, list) or not 1 <= len(ids) <= 50:
            return 400, {"message": "Between 1 and 50 identifiers may be deleted per request"}
        deleted = sum(self.users.pop(str(i), None) is not None for i in ids) if present[0] == "external_ids" else 0
        return 201, {"deleted": deleted, "message": "success"}


class FakeBrazeServer(JsonApiServer):
    def __init__(self, api: FakeBraze) -> None:
        super().__init__(lambda method, path, authorization, body: (
            api.handle(path, authorization, body) if method == "POST" else (404, {"message": "Not Found"})))
