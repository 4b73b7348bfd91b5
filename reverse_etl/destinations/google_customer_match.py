"""Google Customer Match lists, through the Google Ads API's offline user data jobs, as Google
documents them (developers.google.com/google-ads/api: OfflineUserDataJobService, "Customer Match",
GoogleAdsService.Search):

- credentials: an OAuth 2.0 access token from the refresh-token grant (`token_url`, by default
  https://oauth2.googleapis.com/token), renewed when the API answers 401; every request carries the
  `developer-token` header and, for a manager account, `login-customer-id`;
- one job per outbox batch: `POST /{version}/customers/{id}/offlineUserDataJobs:create` with type
  `CUSTOMER_MATCH_USER_LIST`, the user list, and the consent the sync checked (`adUserData` and
  `adPersonalization` granted: only members whose ads consent is granted are ever sent);
- the batch's members go to `{job}:addOperations` in requests of at most 100,000 operations, adds as
  `create` and removals as `remove`, each with its user identifiers (hashed email, hashed phone, and
  an address only when first name, last name, country and postal code are all there, as Google
  requires); `enablePartialFailure` is on, and an operation Google refuses fails its own row (the
  error's `location` names the operation's index);
- the batch ends with `{job}:run`, before the batch is recorded as sent: a crash before that sends
  the batch again in a new job, never records a job that was not run;
- Google processes jobs asynchronously (up to a day): the job's status and the match rate range it
  reports (`operation_metadata.match_rate_range`) are read back with a GoogleAdsService search when
  the sync ends and at the start of its later runs, and kept per sync run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa

from reverse_etl.destinations.base import KEY_COLUMN, Rejections, UploadStatus, redacted_url
from reverse_etl.destinations.http import HttpDestination
from reverse_etl.destinations.oauth import credentials_from_environment, refresh_access_token
from reverse_etl.reliability import DestinationError, TransientError

API_VERSION = "v21"
TOKEN_URL = "https://oauth2.googleapis.com/token"
#: operations per addOperations request (Google's limit)
MAX_OPERATIONS = 100_000
JOB_NAME = re.compile(r"^customers/(\d+)/offlineUserDataJobs/(\d+)\Z")
#: OfflineUserDataJobMatchRateRange -> (low, high) as shares
MATCH_RANGES = {
    "MATCH_RANGE_LESS_THAN_20": (0.0, 0.19), "MATCH_RANGE_20_TO_30": (0.20, 0.30),
    "MATCH_RANGE_31_TO_40": (0.31, 0.40), "MATCH_RANGE_41_TO_50": (0.41, 0.50),
    "MATCH_RANGE_51_TO_60": (0.51, 0.60), "MATCH_RANGE_61_TO_70": (0.61, 0.70),
    "MATCH_RANGE_71_TO_80": (0.71, 0.80), "MATCH_RANGE_81_TO_90": (0.81, 0.90),
    "MATCH_RANGE_91_TO_100": (0.91, 1.0),
}
FINAL_STATES = ("SUCCESS", "FAILED")


@dataclass
class GoogleCustomerMatchDestination(HttpDestination):
    customer_id: str = ""
    user_list_id: str = ""
    login_customer_id: str | None = None
    developer_token: str = ""
    token_url: str = TOKEN_URL
    api_version: str = API_VERSION
    credentials: tuple[str, str, str] = ("", "", "")
    _job: str | None = None
    _sent: int = field(default=0)

    @classmethod
    def from_settings(cls, url: str, settings: dict[str, Any], options: dict[str, Any], key_field: str,
                      timeout_seconds: float) -> GoogleCustomerMatchDestination:
        credentials = credentials_from_environment(settings, "google customer match",
                                                   "an OAuth client's credentials")
        token_env = str(settings.get("developer_token_env"))
        customer_env = str(settings.get("customer_id_env"))
        missing = [name for name in (token_env, customer_env) if not os.environ.get(name)]
        if missing:
            raise DestinationError("google customer match needs the developer token and customer id: set "
                                   + ", ".join(missing))
        customer = os.environ[customer_env].replace("-", "")
        if not customer.isdigit():
            raise DestinationError(f"{customer_env} must be a Google Ads customer id (digits, dashes allowed)")
        login = settings.get("login_customer_id_env")
        login_id = os.environ.get(str(login), "").replace("-", "") if login else ""
        if login_id and not login_id.isdigit():
            raise DestinationError(f"{login} must be a Google Ads manager customer id (digits, dashes allowed)")
        rows = min(int(options.get("request_rows", MAX_OPERATIONS)), MAX_OPERATIONS)
        return cls(url.rstrip("/"), key_field, {}, timeout_seconds, rows, customer_id=customer,
                   user_list_id=str(options["user_list_id"]),
                   login_customer_id=login_id or None,
                   developer_token=os.environ[token_env], token_url=str(settings.get("token_url", TOKEN_URL)),
                   api_version=str(settings.get("api_version", API_VERSION)), credentials=credentials)

    @property
    def description(self) -> str:
        return f"google_customer_match:{redacted_url(self.url)} list {self.user_list_id}"

    def open(self, schema: pa.Schema) -> None:
        super().open(schema)
        assert self._client is not None
        self._client.headers["developer-token"] = self.developer_token
        if self.login_customer_id:
            self._client.headers["login-customer-id"] = self.login_customer_id
        self._authenticate()

    def _authenticate(self) -> None:
        assert self._client is not None
        answer = refresh_access_token(self._client, self.token_url, self.credentials, "google customer match",
                                      "check the OAuth client id, secret and refresh token")
        self._client.headers["Authorization"] = f"Bearer {answer['access_token']}"

    def refresh_credentials(self, response: httpx.Response) -> bool:
        self._authenticate()
        return True

    def _api(self, path: str) -> str:
        return f"{self.url}/{self.api_version}/{path}"

    def _post(self, path: str, body: dict[str, Any], key: str) -> Any:
        return self.json_body(self.request("POST", self._api(path), json.dumps(body).encode(), key))

    def send(self, op: str, rows: pa.Table, idempotency_key: str, *, new_members: bool = False) -> Rejections:
        if self._job is None:
            self._job = self._create_job(idempotency_key)
        action = "remove" if op == "delete" else "create"
        keys = [str(k) for k in rows.column(KEY_COLUMN).to_pylist()]
        operations, sent_keys, rejections = [], [], []
        for key, identifiers in zip(keys, self._identifiers(rows), strict=True):
            if identifiers:
                operations.append({action: {"userIdentifiers": identifiers}})
                sent_keys.append(key)
            else:
                rejections.append((key, "google customer match: no identifier to match on (email, phone, or a "
                                        "full address with postal code)"))
        if operations:
            answer = self._post(f"{self._job}:addOperations", {"operations": operations, "enablePartialFailure": True},
                                idempotency_key)
            rejections += _partial_failures(answer, sent_keys)
        self._sent += len(operations)
        return rejections

    def _create_job(self, key: str) -> str:
        job = {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {
            "userList": f"customers/{self.customer_id}/userLists/{self.user_list_id}",
            "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}}}
        answer = self._post(f"customers/{self.customer_id}/offlineUserDataJobs:create", {"job": job}, f"{key}-job")
        name = answer.get("resourceName") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not JOB_NAME.match(name):
            raise TransientError(f"google answered the job creation without a job resource name ({answer!r:.120})")
        return name

    def _identifiers(self, rows: pa.Table) -> list[list[dict[str, Any]]]:
        names = set(rows.column_names)
        column = {n: rows.column(n).to_pylist() if n in names else [None] * rows.num_rows
                  for n in ("email", "phone", "first_name", "last_name", "country", "postal_code")}
        out = []
        for i in range(rows.num_rows):
            identifiers: list[dict[str, Any]] = []
            if column["email"][i]:
                identifiers.append({"hashedEmail": column["email"][i]})
            if column["phone"][i]:
                identifiers.append({"hashedPhoneNumber": column["phone"][i]})
            address = {"hashedFirstName": column["first_name"][i], "hashedLastName": column["last_name"][i],
                       "countryCode": column["country"][i], "postalCode": column["postal_code"][i]}
            if all(address.values()):
                identifiers.append({"addressInfo": address})
            out.append(identifiers)
        return out

    def end_batch(self) -> str | None:
        """Run the batch's job (Google then processes it on its own time); None when nothing was added."""
        job, sent = self._job, self._sent
        self._job, self._sent = None, 0
        if job is None or not sent:  # a job no operation reached is left to expire, not run or tracked
            return None
        self._post(f"{job}:run", {}, f"{job}:run")
        return job

    def upload_status(self, reference: str) -> UploadStatus | None:
        match = JOB_NAME.match(reference)
        if not match:
            return None
        customer, job_id = match.groups()
        query = ("SELECT offline_user_data_job.resource_name, offline_user_data_job.status, "
                 "offline_user_data_job.failure_reason, offline_user_data_job.operation_metadata.match_rate_range "
                 f"FROM offline_user_data_job WHERE offline_user_data_job.id = {int(job_id)}")
        answer = self._post(f"customers/{customer}/googleAds:search", {"query": query}, f"{reference}:status")
        results = answer.get("results") if isinstance(answer, dict) else None
        if not results:
            return None
        job = results[0].get("offlineUserDataJob") or {}
        state = str(job.get("status") or "UNKNOWN")
        low, high = MATCH_RANGES.get(str((job.get("operationMetadata") or {}).get("matchRateRange")), (None, None))
        failure = job.get("failureReason")
        return UploadStatus(state, state in FINAL_STATES, low, high,
                            detail=f"failure reason {failure}" if failure and failure != "UNSPECIFIED" else None)


def _partial_failures(answer: Any, keys: list[str]) -> Rejections:
    """The operations Google refused (partial failure): each error's location names the operation's
    index in the request; its message and error code become the row's reason."""
    failure = answer.get("partialFailureError") if isinstance(answer, dict) else None
    if not failure:
        return []
    reasons: dict[int, str] = {}
    for detail in failure.get("details") or []:
        for error in (detail.get("errors") or []) if isinstance(detail, dict) else []:
            elements = (error.get("location") or {}).get("fieldPathElements") or []
            index = next((e.get("index") for e in elements if e.get("fieldName") == "operations"), None)
            if isinstance(index, int) and 0 <= index < len(keys):
                code = ", ".join(f"{k}={v}" for k, v in (error.get("errorCode") or {}).items())
                reasons.setdefault(index, f"google customer match: {code or 'error'}: {error.get('message') or ''}"
                                   .rstrip(": "))
    if not reasons:
        raise TransientError(f"google reported a partial failure it did not place on an operation "
                             f"({failure.get('message')!r:.160}); sending the batch again")
    return [(keys[i], reason) for i, reason in sorted(reasons.items())]
