"""The Salesforce destination against a local fake that holds requests to Salesforce's published
contract (tests/fake_salesforce.py): records upserted by external id in sObject collections of at
most 200, a record Salesforce refuses failing its own row with its status code, an expired access
token refreshed mid-sync, removals found by a SOQL query whose values are escaped, and bad
credentials stopping the sync with a clear error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reverse_etl.config import SyncConfigError
from reverse_etl.reliability import DestinationError
from tests.fake_salesforce import DATA, FakeSalesforce, FakeSalesforceServer
from tests.test_reverse_etl import build_warehouse, config_for, eligible, sql, sync

SECRETS = {"CDP_TEST_SF_CLIENT_ID": "3MVG9-client", "CDP_TEST_SF_CLIENT_SECRET": "s3cret",
           "CDP_TEST_SF_REFRESH_TOKEN": "5Aep861-refresh"}
MAPPING = {"CDP_Profile_Id__c": "profile_id", "Email": "email", "FirstName": "first_name",
           "LastName": "last_name", "Lead_Score__c": "score"}
ODD_ID = "prf_o'neil\\x"   # a key SOQL must see as a value, not as query text


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path, people=260)
    sql(path, "alter table audiences.aud_members add column last_name varchar")
    sql(path, "update audiences.aud_members set last_name = 'Last' || substr(profile_id, 5)::int")
    sql(path, "update audiences.aud_members set last_name = null where profile_id = 'prf_00008'")
    for table in ("audiences.aud_members", "marts.dim_profiles"):
        sql(path, f"update {table} set profile_id = ? where profile_id = 'prf_00005'", [ODD_ID])
    return path


def _api() -> FakeSalesforce:
    return FakeSalesforce(SECRETS["CDP_TEST_SF_CLIENT_ID"], SECRETS["CDP_TEST_SF_CLIENT_SECRET"],
                          SECRETS["CDP_TEST_SF_REFRESH_TOKEN"])


def _salesforce(server: FakeSalesforceServer) -> dict:
    return {"kind": "salesforce", "default_url": server.url, "client_id_env": "CDP_TEST_SF_CLIENT_ID",
            "client_secret_env": "CDP_TEST_SF_CLIENT_SECRET", "refresh_token_env": "CDP_TEST_SF_REFRESH_TOKEN",
            "backoff_seconds": 0.02, "max_attempts": 3}


def test_records_upserted_by_external_id_in_collections_of_200_with_a_token_refreshed_mid_sync(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    api = _api()
    api.token_lifetime = 1   # every access token expires after one request
    with FakeSalesforceServer(api) as server:
        config = config_for(_salesforce(server), mode="mirror", key="profile_id", mapping=MAPPING,
                            batch_rows=1000, guardrails={"max_delete_share": 0.5})
        outcome = sync(warehouse, config)
        people = eligible(warehouse)
        upserts = [body["records"] for method, _t, body in api.requests if method == "PATCH"]
        assert max(len(u) for u in upserts) <= 200 and len(upserts) >= 2
        assert api.tokens_issued >= len(upserts)  # each expired token refreshed, the request sent again
        assert api.external_ids() == people - {"prf_00008"} and ODD_ID in api.external_ids()
        assert outcome.rows_failed == 1
        assert sql(warehouse, "select status, reason from ops.sync_log where member_key = 'prf_00008' and "
                              "status <> 'held_back'") == [
            ("failed", "salesforce: REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]")]
        person2 = next(r for r in api.records.values() if r["CDP_Profile_Id__c"] == "prf_00002")
        assert person2 == {"CDP_Profile_Id__c": "prf_00002", "Email": "person2@example.com", "FirstName": "First2",
                           "LastName": "Last2", "Lead_Score__c": 3.0}

        # members leave, the odd key among them: found by a query that escapes it, then deleted
        gone = [ODD_ID, *sorted(people - {"prf_00008", ODD_ID})[:29]]
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        outcome = sync(warehouse, config)
        assert outcome.rows_failed == 1 and outcome.rows_succeeded == 30  # prf_00008 is tried, and refused, again
        assert api.external_ids() == people - {"prf_00008"} - set(gone)
        assert any(method == "DELETE" for method, _t, _b in api.requests)


def test_the_fake_refuses_what_salesforce_refuses() -> None:
    api = _api()
    with FakeSalesforceServer(api) as server:
        denied = httpx.post(f"{server.url}/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": "3MVG9-client", "client_secret": "wrong",
            "refresh_token": "5Aep861-refresh"})
        assert denied.status_code == 400 and denied.json()["error"] == "invalid_grant"
        token = httpx.post(f"{server.url}/services/oauth2/token", data={
            "grant_type": "refresh_token", **dict(zip(("client_id", "client_secret", "refresh_token"),
                                                      SECRETS.values(), strict=True))}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        url = f"{server.url}{DATA}/composite/sobjects/Contact/CDP_Profile_Id__c"

        def record(**fields: object) -> dict:
            return {"attributes": {"type": "Contact"}, "CDP_Profile_Id__c": "p1", "LastName": "L", **fields}

        def patch(records: list, headers: dict = auth) -> httpx.Response:
            return httpx.patch(url, json={"allOrNone": False, "records": records}, headers=headers)

        assert patch([record()] * 201).status_code == 400
        assert patch([record(Id="003x")]).status_code == 400
        assert patch([record(Nickname__c="A")]).status_code == 400
        assert patch([record()], headers={}).status_code == 401
        assert patch([record()]).json()[0]["success"] is True
        assert patch([{**record(), "LastName": None, "CDP_Profile_Id__c": "p2"}]).json()[0]["success"] is False
        unescaped = "SELECT Id, CDP_Profile_Id__c FROM Contact WHERE CDP_Profile_Id__c IN ('a'b')"
        assert httpx.get(f"{server.url}{DATA}/query", params={"q": unescaped}, headers=auth).status_code == 400


def test_salesforce_credentials_and_configuration_are_checked(warehouse: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSalesforceServer(_api()) as server:
        with pytest.raises(SyncConfigError, match=r"lacks 'client_secret_env', 'refresh_token_env'"):
            config_for({"kind": "salesforce", "default_url": server.url, "client_id_env": "X"}, mapping=MAPPING)
        with pytest.raises(SyncConfigError, match=r"options.sobject: .* is not a plain identifier"):
            config_for(_salesforce(server), mapping=MAPPING, options={"sobject": "Contact WHERE"})
        config = config_for(_salesforce(server), key="profile_id", mapping=MAPPING)
        with pytest.raises(DestinationError, match=r"set CDP_TEST_SF_CLIENT_ID, CDP_TEST_SF_CLIENT_SECRET"):
            sync(warehouse, config)
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CDP_TEST_SF_REFRESH_TOKEN", "revoked")
        with pytest.raises(DestinationError, match=r"refused the refresh token .*invalid_grant|expired"):
            sync(warehouse, config)
