"""The Braze destination against a local fake that holds requests to Braze's published contract
(tests/fake_braze.py): batches of at most 75 attributes objects and 50 deletes, a refused object
failing its own row with Braze's reason, and a wrong key stopping the sync."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reverse_etl.reliability import DestinationError
from tests.fake_braze import FakeBraze, FakeBrazeServer
from tests.test_reverse_etl import build_warehouse, config_for, eligible, sql, sync

KEY = "braze-test-key"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path, people=200)
    return path


def _braze(server: FakeBrazeServer) -> dict:
    return {"kind": "braze", "default_url": server.url, "auth_env": "CDP_TEST_BRAZE_KEY", "backoff_seconds": 0.05,
            "max_attempts": 3}


def test_braze_receives_what_the_sync_sends_in_batches_of_75_and_refuses_a_bad_email_per_row(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_BRAZE_KEY", KEY)
    sql(warehouse, "update audiences.aud_members set email = 'not-an-email' where profile_id = 'prf_00007'")
    api = FakeBraze(KEY)
    with FakeBrazeServer(api) as server:
        config = config_for(_braze(server), mode="mirror", guardrails={"max_delete_share": 0.5},
                            mapping={"profile_id": "profile_id", "email": "email", "first_name": "first_name"})
        outcome = sync(warehouse, config)
        people = eligible(warehouse)
        tracks = [body["attributes"] for path, body in api.requests if path == "/users/track"]
        assert max(len(t) for t in tracks) <= 75 and len(tracks) >= 3
        assert set(api.users) == people - {"prf_00007"}
        assert api.users["prf_00002"] == {"external_id": "prf_00002", "email": "person2@example.com",
                                          "first_name": "First2"}
        assert outcome.rows_failed == 1
        assert sql(warehouse, "select status, reason from ops.sync_log where member_key = 'prf_00007' "
                              "and status <> 'held_back'") == [("failed", "braze: Invalid email address")]

        # 60 members leave: deleted in requests of at most 50 external ids
        gone = sorted(people - {"prf_00007"})[:60]
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        sync(warehouse, config)
        deletes = [body["external_ids"] for path, body in api.requests if path == "/users/delete"]
        assert sorted(i for d in deletes for i in d) == gone and max(len(d) for d in deletes) <= 50
        assert not set(gone) & set(api.users)


def test_the_fake_refuses_what_braze_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeBraze(KEY)
    with FakeBrazeServer(api) as server:
        auth = {"Authorization": f"Bearer {KEY}"}
        too_many = {"attributes": [{"external_id": str(i)} for i in range(76)]}
        assert httpx.post(f"{server.url}/users/track", json=too_many, headers=auth).status_code == 400
        anonymous = httpx.post(f"{server.url}/users/track", json={"attributes": [{"first_name": "A"}]}, headers=auth)
        assert anonymous.status_code == 201 and anonymous.json()["errors"][0]["index"] == 0
        both = {"external_ids": ["a"], "braze_ids": ["b"]}
        assert httpx.post(f"{server.url}/users/delete", json=both, headers=auth).status_code == 400
        assert httpx.post(f"{server.url}/users/delete", json={"external_ids": [str(i) for i in range(51)]},
                          headers=auth).status_code == 400
        assert httpx.post(f"{server.url}/users/track", json=too_many).status_code == 401


def test_a_wrong_braze_key_stops_the_sync_naming_the_credentials(warehouse: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_BRAZE_KEY", "wrong")
    with FakeBrazeServer(FakeBraze(KEY)) as server, \
            pytest.raises(DestinationError, match=r"answered HTTP 401 .*check the URL and the credentials"):
        sync(warehouse, config_for(_braze(server), mode="upsert"))
