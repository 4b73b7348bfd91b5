"""A local stand-in for Salesforce's REST API, holding requests to the published contract
(developer.salesforce.com: OAuth 2.0 refresh token flow; sObject Collections upsert and delete; Query):

- `POST /services/oauth2/token`, form-encoded `grant_type=refresh_token` with the right client id,
  secret and refresh token: `{"access_token", "instance_url", "token_type": "Bearer"}`; anything else
  400 `{"error": "invalid_grant"}`. An access token expires after `token_lifetime` API requests:
  401 `[{"errorCode": "INVALID_SESSION_ID"}]`;
- `PATCH /services/data/v60.0/composite/sobjects/{sObject}/{externalIdField}`: `{"allOrNone",
  "records"}` of 1 to 200 records, each with `attributes.type` equal to the sObject, no `Id`, the
  external id, and only fields the object defines (or 400). A Contact needs a LastName: without one
  that record alone fails (`success` false, REQUIRED_FIELD_MISSING); results in the records' order;
- `GET /services/data/v60.0/query?q=SELECT Id, <field> FROM <sObject> WHERE <field> IN ('..', ..)`:
  string literals as SOQL escapes them, or 400 MALFORMED_QUERY;
- `DELETE /services/data/v60.0/composite/sobjects?ids=..&allOrNone=false`: 1 to 200 ids.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import JsonApiServer

LIMIT = 200
DATA = "/services/data/v60.0"
LITERAL = r"'(?:[^'\\]|\\.)*'"
QUERY = re.compile(rf"^SELECT Id, (\w+) FROM (\w+) WHERE (\w+) IN \(({LITERAL}(?:, {LITERAL})*)\)$")


def _soql_value(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), literal[1:-1])


@dataclass
class FakeSalesforce:
    client_id: str
    client_secret: str
    refresh_token: str
    external_id_field: str = "CDP_Profile_Id__c"
    fields: frozenset[str] = frozenset({"FirstName", "LastName", "Email", "Lead_Score__c"})
    token_lifetime: int = 0
    records: dict[str, dict] = field(default_factory=dict)        # record id -> fields
    requests: list[tuple[str, str, object]] = field(default_factory=list)
    tokens_issued: int = 0
    url: str = ""
    _token: str = ""
    _uses: int = 0
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> tuple[int, object]:
        parts = urlsplit(target)
        with self._lock:
            if parts.path == "/services/oauth2/token" and method == "POST":
                return self._token_grant(parse_qs(body.decode()))
            if not self._token or authorization != f"Bearer {self._token}" or (
                    self.token_lifetime and self._uses >= self.token_lifetime):
                return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            self._uses += 1
            payload = json.loads(body) if body else None
            self.requests.append((method, target, payload))
            query = parse_qs(parts.query)
            if method == "PATCH" and parts.path.startswith(f"{DATA}/composite/sobjects/"):
                sobject, external = parts.path.rsplit("/", 2)[1:]
                return self._upsert(sobject, external, payload)
            if method == "GET" and parts.path == f"{DATA}/query":
                return self._query(query.get("q", [""])[0])
            if method == "DELETE" and parts.path == f"{DATA}/composite/sobjects":
                return self._delete(query.get("ids", [""])[0].split(","))
        return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    def _token_grant(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        given = {k: v[0] for k, v in form.items()}
        if given != {"grant_type": "refresh_token", "client_id": self.client_id,
                     "client_secret": self.client_secret, "refresh_token": self.refresh_token}:
            return 400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}
        self.tokens_issued += 1
        self._token, self._uses = f"00Dfake!token{self.tokens_issued}", 0
        return 200, {"access_token": self._token, "instance_url": self.url, "token_type": "Bearer",
                     "issued_at": "1733300000000", "id": f"{self.url}/id/00Dfake/005fake"}

    def _upsert(self, sobject: str, external: str, payload: object) -> tuple[int, object]:
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not 1 <= len(records) <= LIMIT:
            return 400, [{"message": f"records must hold 1 to {LIMIT} objects", "errorCode": "EXCEEDED_ID_LIMIT"}]
        if sobject != "Contact" or external != self.external_id_field:
            return 404, [{"message": f"{sobject}.{external} is not an external id field", "errorCode": "NOT_FOUND"}]
        for record in records:
            if not isinstance(record, dict) or (record.get("attributes") or {}).get("type") != sobject:
                return 400, [{"message": "every record needs attributes.type", "errorCode": "INVALID_TYPE"}]
            if "Id" in record or not record.get(external):
                return 400, [{"message": "use the external id, not Id", "errorCode": "INVALID_FIELD"}]
            unknown = sorted(set(record) - self.fields - {"attributes", external})
            if unknown:
                return 400, [{"message": f"No such column '{unknown[0]}' on sobject of type {sobject}",
                              "errorCode": "INVALID_FIELD"}]
        by_external = {r[external]: record_id for record_id, r in self.records.items()}
        results = []
        for record in records:
            fields = {k: v for k, v in record.items() if k != "attributes"}
            record_id = by_external.get(record[external])
            if not (fields.get("LastName") or (record_id and self.records[record_id].get("LastName"))):
                results.append({"success": False, "created": False, "errors": [
                    {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
                     "fields": ["LastName"]}]})
                continue
            created = record_id is None
            if created:
                self._next += 1
                record_id = f"003fake{self._next:011d}"
                by_external[record[external]] = record_id
            self.records.setdefault(record_id, {}).update(fields)
            results.append({"id": record_id, "success": True, "errors": [], "created": created})
        return 200, results

    def _query(self, soql: str) -> tuple[int, object]:
        match = QUERY.match(soql)
        if not match or match.group(1) != match.group(3) or match.group(2) != "Contact":
            return 400, [{"message": f"unexpected token in {soql[:80]!r}", "errorCode": "MALFORMED_QUERY"}]
        field_name = match.group(1)
        wanted = {_soql_value(v) for v in re.findall(LITERAL, match.group(4))}
        found = [{"attributes": {"type": "Contact"}, "Id": i, field_name: r.get(field_name)}
                 for i, r in self.records.items() if r.get(field_name) in wanted]
        return 200, {"totalSize": len(found), "done": True, "records": found}

    def _delete(self, ids: list[str]) -> tuple[int, object]:
        if not 1 <= len(ids) <= LIMIT:
            return 400, [{"message": f"between 1 and {LIMIT} ids", "errorCode": "EXCEEDED_ID_LIMIT"}]
        results = []
        for record_id in ids:
            if self.records.pop(record_id, None) is None:
                results.append({"id": record_id, "success": False, "errors": [
                    {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]})
            else:
                results.append({"id": record_id, "success": True, "errors": []})
        return 200, results

    def external_ids(self) -> set[str]:
        return {r[self.external_id_field] for r in self.records.values()}


class FakeSalesforceServer(JsonApiServer):
    def __init__(self, api: FakeSalesforce) -> None:
        super().__init__(api.handle)
        api.url = self.url
