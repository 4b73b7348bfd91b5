"""A local stand-in for the Google Ads API's Customer Match upload, holding requests to the published
contract (developers.google.com/google-ads/api: OfflineUserDataJobService, GoogleAdsService.Search,
OAuth 2.0 for installed and web apps):

- `POST /token`, form `grant_type=refresh_token` with the right client id, secret and refresh token:
  `{"access_token", "expires_in", "token_type": "Bearer"}`, else 400 `invalid_grant`. An access token
  expires after `token_lifetime` API requests. Every API request needs the current token and the
  `developer-token` header: 401 UNAUTHENTICATED otherwise;
- `POST /v21/customers/{id}/offlineUserDataJobs:create`: `{"job": {"type": "CUSTOMER_MATCH_USER_LIST",
  "customerMatchUserListMetadata": {"userList": "customers/{id}/userLists/{list}", "consent"?}}}` for
  a list the account holds, else 400 INVALID_ARGUMENT; answers the job's `resourceName`, PENDING;
- `POST /v21/{job}:addOperations`: only while the job is PENDING; `operations` of 1 to
  `max_operations`, each exactly one of `create` / `remove` with 1 to 20 `userIdentifiers`, each
  exactly one of `hashedEmail`, `hashedPhoneNumber` (64 lower-case hex) or `addressInfo` (hashed first
  and last name, a two-letter `countryCode`, a `postalCode`). A request of the wrong shape is a 400; an
  operation with a bad identifier fails alone when `enablePartialFailure` is on (`partialFailureError`
  whose error `location` names the operation's index), else the whole request is a 400;
- `POST /v21/{job}:run`: PENDING to RUNNING, a long-running operation's `name`;
- `POST /v21/customers/{id}/googleAds:search` with `... FROM offline_user_data_job WHERE
  offline_user_data_job.id = N`: the job's status, and once it is done its match rate range. A RUNNING
  job finishes (its operations applied to the list) after `searches_to_finish` searches; the match
  rate is the share of its operations whose hashed email belongs to a Google account
  (`known_emails`), in the ranges of OfflineUserDataJobMatchRateRange.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qs

from tests.fake_http import JsonApiServer

VERSION = "/v21"
HEX = re.compile(r"^[0-9a-f]{64}$")
JOB_PATH = re.compile(rf"^{VERSION}/customers/(\d+)/offlineUserDataJobs/(\d+):(addOperations|run)$")
SEARCH = re.compile(r"FROM offline_user_data_job WHERE offline_user_data_job\.id = (\d+)$")
#: (lowest share, enum value), from OfflineUserDataJobMatchRateRange
RANGES = [(0.91, "MATCH_RANGE_91_TO_100"), (0.81, "MATCH_RANGE_81_TO_90"), (0.71, "MATCH_RANGE_71_TO_80"),
          (0.61, "MATCH_RANGE_61_TO_70"), (0.51, "MATCH_RANGE_51_TO_60"), (0.41, "MATCH_RANGE_41_TO_50"),
          (0.31, "MATCH_RANGE_31_TO_40"), (0.20, "MATCH_RANGE_20_TO_30"), (0.0, "MATCH_RANGE_LESS_THAN_20")]


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "message": message, "status": code}}


@dataclass
class Job:
    user_list: str
    status: str = "PENDING"
    operations: list[dict] = field(default_factory=list)
    searches: int = 0


@dataclass
class FakeGoogleAds:
    client_id: str
    client_secret: str
    refresh_token: str
    developer_token: str
    customer_id: str
    user_lists: frozenset[str] = frozenset({"7001"})
    max_operations: int = 100_000
    token_lifetime: int = 0
    searches_to_finish: int = 0
    known_emails: frozenset[str] = frozenset()
    jobs: dict[str, Job] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)     # user list -> hashed emails
    requests: list[tuple[str, str, object]] = field(default_factory=list)
    tokens_issued: int = 0
    _token: str = ""
    _uses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, target: str, credentials: str, body: bytes) -> tuple[int, object]:
        with self._lock:
            if target == "/token" and method == "POST":
                return self._grant(parse_qs(body.decode()))
            authorization, _, developer_token = credentials.partition("|")
            if developer_token != self.developer_token:
                return _error(401, "UNAUTHENTICATED", "DEVELOPER_TOKEN_INVALID: the developer token is not valid")
            if not self._token or authorization != f"Bearer {self._token}" or (
                    self.token_lifetime and self._uses >= self.token_lifetime):
                return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            self._uses += 1
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            self.requests.append((method, target, payload))
            prefix = f"{VERSION}/customers/{self.customer_id}"
            if method == "POST" and target == f"{prefix}/offlineUserDataJobs:create":
                return self._create(payload)
            if method == "POST" and target == f"{prefix}/googleAds:search":
                return self._search(payload)
            match = JOB_PATH.match(target)
            if method == "POST" and match and match.group(1) == self.customer_id:
                job = self.jobs.get(f"customers/{match.group(1)}/offlineUserDataJobs/{match.group(2)}")
                if job is None:
                    return _error(404, "NOT_FOUND", "Resource was not found.")
                return self._add(job, payload) if match.group(3) == "addOperations" else self._run(job, match)
        return _error(404, "NOT_FOUND", f"no route for {method} {target}")

    def _grant(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        given = {k: v[0] for k, v in form.items()}
        if given != {"grant_type": "refresh_token", "client_id": self.client_id, "client_secret": self.client_secret,
                     "refresh_token": self.refresh_token}:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        self.tokens_issued += 1
        self._token, self._uses = f"ya29.fake{self.tokens_issued}", 0
        return 200, {"access_token": self._token, "expires_in": 3599, "token_type": "Bearer"}

    def _create(self, payload: dict) -> tuple[int, object]:
        job = payload.get("job") if isinstance(payload, dict) else None
        metadata = (job or {}).get("customerMatchUserListMetadata") or {}
        user_list = str(metadata.get("userList", ""))
        listed = re.match(rf"^customers/{self.customer_id}/userLists/(\d+)$", user_list)
        if set(payload) != {"job"} or not job or job.get("type") != "CUSTOMER_MATCH_USER_LIST" \
                or not listed or listed.group(1) not in self.user_lists:
            return _error(400, "INVALID_ARGUMENT", f"invalid job for user list {user_list!r}")
        name = f"customers/{self.customer_id}/offlineUserDataJobs/{len(self.jobs) + 1}"
        self.jobs[name] = Job(listed.group(1))
        return 200, {"resourceName": name}

    def _add(self, job: Job, payload: dict) -> tuple[int, object]:
        operations = payload.get("operations")
        if set(payload) - {"operations", "enablePartialFailure", "enableWarnings", "validateOnly"} \
                or not isinstance(operations, list) or not 1 <= len(operations) <= self.max_operations:
            return _error(400, "INVALID_ARGUMENT", f"operations must hold 1 to {self.max_operations} operations")
        if job.status != "PENDING":
            return _error(400, "INVALID_ARGUMENT", "OfflineUserDataJobError.INVALID_JOB_STATUS: the job has run")
        errors = {}
        for index, operation in enumerate(operations):
            if not isinstance(operation, dict) or len(operation) != 1 or next(iter(operation)) not in ("create",
                                                                                                       "remove"):
                return _error(400, "INVALID_ARGUMENT", f"operations[{index}] must be exactly one of create, remove")
            reason = self._invalid_identifiers(next(iter(operation.values())).get("userIdentifiers"))
            if reason:
                errors[index] = reason
        if errors and not payload.get("enablePartialFailure"):
            return _error(400, "INVALID_ARGUMENT", f"{len(errors)} operations are invalid")
        job.operations += [op for i, op in enumerate(operations) if i not in errors]
        if not errors:
            return 200, {}
        return 200, {"partialFailureError": {"code": 3, "message": f"{len(errors)} operations failed", "details": [{
            "@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
            "errors": [{"errorCode": {code: value}, "message": message,
                        "location": {"fieldPathElements": [{"fieldName": "operations", "index": index},
                                                           {"fieldName": "create"}]}}
                       for index, (code, value, message) in errors.items()]}]}}

    @staticmethod
    def _invalid_identifiers(identifiers: object) -> tuple[str, str, str] | None:
        if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= 20:
            return "offlineUserDataJobError", "INVALID_USER_IDENTIFIER", "1 to 20 userIdentifiers are required"
        for identifier in identifiers:
            if not isinstance(identifier, dict) or len(identifier) != 1:
                return "fieldError", "REQUIRED", "a user identifier holds exactly one identifier"
            (kind, value), = identifier.items()
            if kind in ("hashedEmail", "hashedPhoneNumber"):
                if not isinstance(value, str) or not HEX.match(value):
                    return "offlineUserDataJobError", "INVALID_SHA256_FORMAT", f"{kind} is not SHA-256 hex"
            elif kind == "addressInfo":
                if set(value) != {"hashedFirstName", "hashedLastName", "countryCode", "postalCode"} or not (
                        HEX.match(str(value["hashedFirstName"])) and HEX.match(str(value["hashedLastName"]))):
                    return ("offlineUserDataJobError", "INCOMPATIBLE_USER_IDENTIFIER",
                            "an address needs hashed first and last name, country code and postal code")
                if not re.match(r"^[A-Z]{2}$", str(value["countryCode"])):
                    return "offlineUserDataJobError", "INVALID_COUNTRY_CODE", "countryCode must be two letters"
            else:
                return "fieldError", "UNRECOGNIZED_FIELD", f"unknown identifier {kind}"
        return None

    def _run(self, job: Job, match: re.Match) -> tuple[int, object]:
        if job.status != "PENDING":
            return _error(400, "INVALID_ARGUMENT", "OfflineUserDataJobError.INVALID_JOB_STATUS: already run")
        job.status = "RUNNING"
        return 200, {"name": f"customers/{self.customer_id}/operations/{match.group(2)}"}

    def _search(self, payload: dict) -> tuple[int, object]:
        match = SEARCH.search(str(payload.get("query", "")))
        if not match:
            return _error(400, "INVALID_ARGUMENT", "unsupported query")
        name = f"customers/{self.customer_id}/offlineUserDataJobs/{match.group(1)}"
        job = self.jobs.get(name)
        if job is None:
            return 200, {"results": [], "fieldMask": "offlineUserDataJob.status"}
        if job.status == "RUNNING":
            job.searches += 1
            if job.searches > self.searches_to_finish:
                self._finish(job)
        found = {"resourceName": name, "status": job.status}
        if job.status == "SUCCESS":
            found["operationMetadata"] = {"matchRateRange": self._match_range(job)}
        return 200, {"results": [{"offlineUserDataJob": found}], "fieldMask": "offlineUserDataJob.status"}

    def _finish(self, job: Job) -> None:
        members = self.members.setdefault(job.user_list, set())
        for operation in job.operations:
            (action, body), = operation.items()
            emails = {i["hashedEmail"] for i in body["userIdentifiers"] if "hashedEmail" in i}
            members.update(emails) if action == "create" else members.difference_update(emails)
        job.status = "SUCCESS"

    def _match_range(self, job: Job) -> str:
        emails = [next((i["hashedEmail"] for i in op["create"]["userIdentifiers"] if "hashedEmail" in i), None)
                  for op in job.operations if "create" in op]
        share = sum(e in self.known_emails for e in emails) / len(emails) if emails else 0.0
        return next(name for low, name in RANGES if share >= low)


def _credentials(headers: Message) -> str:
    return f"{headers.get('Authorization', '')}|{headers.get('developer-token', '')}"


class FakeGoogleAdsServer(JsonApiServer):
    def __init__(self, api: FakeGoogleAds) -> None:
        super().__init__(api.handle, _credentials)
