"""The HubSpot destination against a local fake that holds requests to HubSpot's published contract
(tests/fake_hubspot.py): contacts upserted by email in batches of at most 100, their record ids
mirrored into a MANUAL static list, an input HubSpot refuses failing its own row with HubSpot's
message, rate limits retried, and a wrong token or a misconfigured sync stopping with a clear error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reverse_etl.config import SyncConfigError
from reverse_etl.reliability import DestinationError
from tests.fake_hubspot import FakeHubSpot, FakeHubSpotServer
from tests.test_reverse_etl import build_warehouse, config_for, eligible, sql, sync

TOKEN = "pat-na1-test"
MAPPING = {"email": "email", "firstname": "first_name", "cdp_score": "score"}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path, people=230)
    return path


def _hubspot(server: FakeHubSpotServer) -> dict:
    return {"kind": "hubspot", "default_url": server.url, "auth_env": "CDP_TEST_HUBSPOT_TOKEN",
            "backoff_seconds": 0.02, "max_backoff_seconds": 0.05, "max_attempts": 5}


def _emails(warehouse: Path, profiles: set[str]) -> set[str]:
    return {r[0] for r in sql(warehouse, "select email from audiences.aud_members where profile_id in "
                                         "(select unnest(?))", [sorted(profiles)])}


def test_contacts_upserted_by_email_in_hundreds_join_the_static_list_and_leave_it(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_HUBSPOT_TOKEN", TOKEN)
    sql(warehouse, "update audiences.aud_members set email = 'Person' || substr(profile_id, 5)::int || "
                   "'@Example.com' where profile_id = 'prf_00012'")   # HubSpot keeps emails in lower case
    sql(warehouse, "update audiences.aud_members set email = 'no-at-sign' where profile_id = 'prf_00007'")
    api = FakeHubSpot(TOKEN, rate_limit_every=3)
    with FakeHubSpotServer(api) as server:
        config = config_for(_hubspot(server), mode="mirror", key="email", mapping=MAPPING,
                            options={"list_id": 42}, guardrails={"max_delete_share": 0.5}, batch_rows=500)
        outcome = sync(warehouse, config)
        people = eligible(warehouse)
        upserts = [body["inputs"] for method, path, body in api.requests if path.endswith("/batch/upsert")]
        assert max(len(u) for u in upserts) <= 100 and len(upserts) >= 2
        expected = {e.lower() for e in _emails(warehouse, people - {"prf_00007"})}
        assert {c["email"] for c in api.contacts.values()} == expected
        assert api.list_emails("42") == expected
        assert outcome.rows_failed == 1
        [(status, reason)] = sql(warehouse, "select status, reason from ops.sync_log where member_key = "
                                            "'no-at-sign' and status <> 'held_back'")
        assert status == "failed" and reason.startswith("hubspot: VALIDATION_ERROR: Email address no-at-sign")
        person2 = next(c for c in api.contacts.values() if c["email"] == "person2@example.com")
        assert person2 == {"email": "person2@example.com", "firstname": "First2", "cdp_score": "3.0"}
        assert api.rate_limited >= 1  # every third request is refused with 429, and sent again

        # 40 members leave the audience: they leave the list, and HubSpot keeps the contacts
        gone = sorted(people - {"prf_00007"})[:40]
        left = {e.lower() for e in _emails(warehouse, set(gone))}
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        sync(warehouse, config)
        assert api.list_emails("42") == expected - left
        assert {c["email"] for c in api.contacts.values()} == expected and not api.archived


def test_without_a_list_members_that_leave_are_archived(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_HUBSPOT_TOKEN", TOKEN)
    api = FakeHubSpot(TOKEN)
    with FakeHubSpotServer(api) as server:
        config = config_for(_hubspot(server), mode="mirror", key="email", mapping=MAPPING,
                            guardrails={"max_delete_share": 0.5})
        sync(warehouse, config)
        sent = {c["email"] for c in api.contacts.values()}
        gone = sorted(eligible(warehouse))[:10]
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        sync(warehouse, config)
        archives = [body["inputs"] for _m, path, body in api.requests if path.endswith("/batch/archive")]
        assert len(archives) >= 1 and len(api.archived) == 10
        assert sent - {c["email"] for c in api.contacts.values()} == {f"person{int(p[4:])}@example.com" for p in gone}


def test_a_property_the_portal_does_not_define_fails_every_row_with_hubspots_message(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_HUBSPOT_TOKEN", TOKEN)
    api = FakeHubSpot(TOKEN)
    with FakeHubSpotServer(api) as server:
        config = config_for(_hubspot(server), mode="upsert", key="email",
                            mapping={"email": "email", "first_name": "first_name"})
        outcome = sync(warehouse, config)
        assert outcome.rows_succeeded == 0 and outcome.rows_failed == len(eligible(warehouse)) and not api.contacts
        reasons = {r[0] for r in sql(warehouse, "select reason from ops.sync_log where status = 'failed'")}
        assert len(reasons) == 1 and 'Property \\"first_name\\" does not exist' in reasons.pop()


def test_the_fake_refuses_what_hubspot_refuses() -> None:
    api = FakeHubSpot(TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    upsert = "/crm/v3/objects/contacts/batch/upsert"
    with FakeHubSpotServer(api) as server:
        def post(path: str, body: object, headers: dict | None = None, method: str = "POST") -> httpx.Response:
            return httpx.request(method, server.url + path, json=body, headers=auth if headers is None else headers)

        one = {"idProperty": "email", "id": "a@b.co", "properties": {"firstname": "A"}}
        assert post(upsert, {"inputs": [one] * 101}).status_code == 400
        assert post(upsert, {"inputs": [{**one, "properties": {"firstname": 3}}]}).status_code == 400
        assert post(upsert, {"inputs": [{**one, "properties": {"nickname": "A"}}]}).status_code == 400
        assert post(upsert, {"inputs": [one]}, headers={}).status_code == 401
        created = post(upsert, {"inputs": [one]}).json()["results"][0]["id"]
        assert post("/crm/v3/lists/77/memberships/add", [created], method="PUT").status_code == 400   # DYNAMIC
        assert post("/crm/v3/lists/9/memberships/add", [created], method="PUT").status_code == 404
        assert post("/crm/v3/lists/42/memberships/add", [int(created)], method="PUT").status_code == 400
        added = post("/crm/v3/lists/42/memberships/add", [created, "999999"], method="PUT").json()
        assert added["recordsIdsAdded"] == [created] and added["recordIdsMissing"] == ["999999"]


def test_hubspot_configuration_and_credentials_are_checked(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeHubSpotServer(FakeHubSpot(TOKEN)) as server:
        with pytest.raises(SyncConfigError, match=r"key must map to the destination field 'email'"):
            config_for(_hubspot(server), key="profile_id", mapping={"profile_id": "profile_id", "email": "email"})
        with pytest.raises(SyncConfigError, match=r"list_id must be the numeric id"):
            config_for(_hubspot(server), key="email", mapping=MAPPING, options={"list_id": "vip; drop"})
        with pytest.raises(SyncConfigError, match=r"lacks 'auth_env'"):
            config_for({"kind": "hubspot", "default_url": server.url}, key="email", mapping=MAPPING)
        monkeypatch.setenv("CDP_TEST_HUBSPOT_TOKEN", "wrong")
        with pytest.raises(DestinationError, match=r"answered HTTP 401 .*check the URL and the credentials"):
            sync(warehouse, config_for(_hubspot(server), key="email", mapping=MAPPING))
