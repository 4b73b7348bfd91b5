"""Salesforce records upserted by an external id, as Salesforce's REST API documents it
(developer.salesforce.com: "Upsert Records Using sObject Collections", "Delete Records Using sObject
Collections", "Query", and the OAuth 2.0 refresh token flow):

- credentials: `POST {login url}/services/oauth2/token` with `grant_type=refresh_token`, the
  connected app's client id and secret and a refresh token, each from the environment variable the
  destination names; the answer's `access_token` and `instance_url` are used from then on. When an
  access token expires mid-sync (401 `INVALID_SESSION_ID`), a new one is fetched and the request sent
  once more;
- adds and changes: `PATCH {instance}/services/data/{version}/composite/sobjects/{sObject}/{external id
  field}` with `{"allOrNone": false, "records": [{"attributes": {"type": sObject}, ...}]}`, at most 200
  records; results come back in the same order, and a record Salesforce refuses (`success` false)
  fails on its own row with its `statusCode` and message;
- removals: the records' ids are queried by external id (SOQL, values escaped as SOQL requires) and
  deleted with `DELETE .../composite/sobjects?ids=...&allOrNone=false`, at most 200 ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, Rejections, redacted_url
from reverse_etl.destinations.http import HttpDestination
from reverse_etl.destinations.oauth import credentials_from_environment, refresh_access_token
from reverse_etl.reliability import TransientError

COLLECTION_RECORDS = 200
API_VERSION = "v60.0"


@dataclass
class SalesforceDestination(HttpDestination):
    sobject: str = "Contact"
    external_id_field: str = ""
    api_version: str = API_VERSION
    credentials: tuple[str, str, str] = ("", "", "")
    instance_url: str = ""

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> SalesforceDestination:
        secrets = credentials_from_environment(settings, "salesforce", "its connected app's credentials")
        rows = min(int(options.get("request_rows", COLLECTION_RECORDS)), COLLECTION_RECORDS)
        return cls(url.rstrip("/"), key_field, {}, timeout_seconds, rows,
                   sobject=str(options.get("sobject", "Contact")), external_id_field=key_field,
                   api_version=str(settings.get("api_version", API_VERSION)), credentials=secrets)

    @property
    def description(self) -> str:
        return f"salesforce:{redacted_url(self.url)} {self.sobject}"

    def open(self, schema: pa.Schema) -> None:
        super().open(schema)
        self._authenticate()

    def _authenticate(self) -> None:
        """A new access token from the refresh token (Salesforce's OAuth 2.0 refresh token flow)."""
        assert self._client is not None
        answer = refresh_access_token(self._client, f"{self.url}/services/oauth2/token", self.credentials,
                                      "salesforce", "check the connected app's client id, secret and refresh token")
        self.instance_url = str(answer.get("instance_url") or self.url).rstrip("/")
        self._client.headers["Authorization"] = f"Bearer {answer['access_token']}"

    def refresh_credentials(self, response: httpx.Response) -> bool:
        self._authenticate()
        return True

    def _data(self, path: str) -> str:
        return f"{self.instance_url}/services/data/{self.api_version}{path}"

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        keys = [str(k) for k in rows.column(KEY_COLUMN).to_pylist()]
        if op == "delete":
            return self._delete(keys, idempotency_key)
        records = [{"attributes": {"type": self.sobject}, self.external_id_field: key, **fields}
                   for key, fields in self.member_fields(rows)]
        path = f"/composite/sobjects/{quote(self.sobject)}/{quote(self.external_id_field)}"
        response = self.request("PATCH", self._data(path), json.dumps({"allOrNone": False, "records": records})
                                .encode(), idempotency_key)
        return _refused(self.json_body(response), keys)

    def _delete(self, keys: list[str], idempotency_key: str) -> Rejections:
        soql = (f"SELECT Id, {self.external_id_field} FROM {self.sobject} WHERE {self.external_id_field} IN ("
                + ", ".join(soql_string(key) for key in keys) + ")")
        response = self.request("GET", self._data("/query?" + urlencode({"q": soql})), b"", f"{idempotency_key}-q")
        found = self.json_body(response)
        ids = {str(r["Id"]): str(r.get(self.external_id_field)) for r in (found.get("records") or [])
               if isinstance(r, dict) and r.get("Id")} if isinstance(found, dict) else {}
        if not ids:
            return []  # Salesforce holds none of them: nothing to delete
        query = urlencode({"ids": ",".join(ids), "allOrNone": "false"})
        response = self.request("DELETE", self._data(f"/composite/sobjects?{query}"), b"", idempotency_key)
        answer = self.json_body(response)
        return [(ids[str(r.get("id"))], _reason(r)) for r in answer if isinstance(r, dict)
                and not r.get("success") and str(r.get("id")) in ids and not _already_deleted(r)] \
            if isinstance(answer, list) else []


def soql_string(value: str) -> str:
    """A SOQL string literal: backslash and single quote escaped, as SOQL's reference requires."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _reason(result: dict[str, Any]) -> str:
    errors = result.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    return f"salesforce: {first.get('statusCode') or 'error'}: {first.get('message') or 'refused'}"


def _already_deleted(result: dict[str, Any]) -> bool:
    return any(isinstance(e, dict) and e.get("statusCode") == "ENTITY_IS_DELETED" for e in result.get("errors") or [])


def _refused(answer: Any, keys: list[str]) -> Rejections:
    """UpsertResults come back in the records' order: each `success: false` fails its own row."""
    if not isinstance(answer, list) or len(answer) != len(keys):
        raise TransientError(f"salesforce answered {len(answer) if isinstance(answer, list) else 'no'} results "
                             f"for {len(keys)} records; sending the batch again")
    return [(key, _reason(result)) for key, result in zip(keys, answer, strict=True)
            if isinstance(result, dict) and not result.get("success")]
