"""Google Customer Match and Meta custom audiences against local fakes that hold requests to the
platforms' published contracts (tests/fake_google_ads.py, tests/fake_meta.py): Google's job lifecycle
(create, add operations, run, read back) with an operation Google refuses failing its own row, Meta's
upload sessions in requests of at most 10,000 with a refused row isolated (a full resync as a replace
session), and each platform's match
rate read back and kept per sync run, also when the platform reports it a run later."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from reverse_etl.config import SyncConfigError
from reverse_etl.reliability import DestinationError
from tests.fake_google_ads import FakeGoogleAds, FakeGoogleAdsServer
from tests.fake_meta import FakeMeta, FakeMetaServer
from tests.test_reverse_etl import build_warehouse, config_for, sql, sync

PEOPLE = 260
GOOGLE_SECRETS = {"CDP_TEST_GADS_CLIENT_ID": "123-client.apps.googleusercontent.com",
                  "CDP_TEST_GADS_CLIENT_SECRET": "GOCSPX-secret", "CDP_TEST_GADS_REFRESH_TOKEN": "1//refresh",
                  "CDP_TEST_GADS_DEVELOPER_TOKEN": "dev-token-abc", "CDP_TEST_GADS_CUSTOMER_ID": "123-456-7890"}
GOOGLE_MAPPING = {"profile_id": "profile_id", "email": "email", "phone": "phone", "first_name": "first_name",
                  "last_name": "last_name", "country": "country", "postal_code": "postal_code"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def known(i: int) -> bool:
    """Whether person i has an account at the platform (three in four do)."""
    return i % 4 != 0


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """Everyone has ads consent. Person 7's country is 'USA' (Google wants two letters); person 9 has
    no email, phone or last name: nothing to match on."""
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path, people=PEOPLE)
    sql(path, """alter table audiences.aud_members add column phone varchar;
                 alter table audiences.aud_members add column last_name varchar;
                 alter table audiences.aud_members add column country varchar;
                 alter table audiences.aud_members add column postal_code varchar;
                 update audiences.aud_members set last_name = 'Last' || substr(profile_id, 5)::int, country = 'us',
                     postal_code = '94043', phone = case when substr(profile_id, 5)::int % 3 = 0
                                                         then '+1 650 555 ' || substr(profile_id, 6) end;
                 update audiences.aud_members set country = 'USA' where profile_id = 'prf_00007';
                 update audiences.aud_members set email = null, phone = null, last_name = null
                     where profile_id = 'prf_00009';""")
    return path


def _google_api() -> FakeGoogleAds:
    s = GOOGLE_SECRETS
    return FakeGoogleAds(s["CDP_TEST_GADS_CLIENT_ID"], s["CDP_TEST_GADS_CLIENT_SECRET"],
                         s["CDP_TEST_GADS_REFRESH_TOKEN"], s["CDP_TEST_GADS_DEVELOPER_TOKEN"], "1234567890",
                         known_emails=frozenset(sha(f"person{i}@example.com") for i in range(PEOPLE) if known(i)))


def _google(server: FakeGoogleAdsServer) -> dict:
    return {"kind": "ad_audience", "platform": "google", "default_url": server.url, "token_url": f"{server.url}/token",
            "client_id_env": "CDP_TEST_GADS_CLIENT_ID", "client_secret_env": "CDP_TEST_GADS_CLIENT_SECRET",
            "refresh_token_env": "CDP_TEST_GADS_REFRESH_TOKEN", "developer_token_env": "CDP_TEST_GADS_DEVELOPER_TOKEN",
            "customer_id_env": "CDP_TEST_GADS_CUSTOMER_ID", "backoff_seconds": 0.02, "max_attempts": 3}


def _run_row(path: Path, nth: int) -> tuple:
    return sql(path, "select status, match_rate_low, match_rate_high, upload_state from ops.sync_runs "
                     "order by started_at")[nth]


def test_google_customer_match_job_lifecycle_with_match_rate_read_back_a_run_later(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOGLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    api = _google_api()
    api.max_operations, api.token_lifetime, api.searches_to_finish = 50, 4, 1
    with FakeGoogleAdsServer(api) as server:
        config = config_for(_google(server), mode="mirror", consent_purpose="ads_targeting", mapping=GOOGLE_MAPPING,
                            batch_rows=120, options={"user_list_id": "7001", "request_rows": 50},
                            guardrails={"max_delete_share": 0.5})
        outcome = sync(warehouse, config)
        # three outbox batches of 120, 120 and 20: a job each, created, filled 50 operations at a time, run
        assert len(api.jobs) == 3 and all(job.status == "RUNNING" for job in api.jobs.values())
        calls = [(target.rsplit(":", 1)[-1], body) for _m, target, body in api.requests if "googleAds" not in target]
        assert [c for c, _ in calls] == ["create", "addOperations", "addOperations", "addOperations", "run"] * 2 + [
            "create", "addOperations", "run"]
        assert max(len(body["operations"]) for c, body in calls if c == "addOperations") == 50
        assert calls[0][1]["job"]["customerMatchUserListMetadata"] == {
            "userList": "customers/1234567890/userLists/7001",
            "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}}
        assert api.tokens_issued > 1                      # access tokens expired mid-sync and were renewed
        assert outcome.rows_failed == 2
        failed = dict(sql(warehouse, "select member_key, reason from ops.sync_log where status = 'failed'"))
        assert "INVALID_COUNTRY_CODE" in failed["prf_00007"] and "no identifier" in failed["prf_00009"]
        # Google is still processing: the run says so, without a match rate yet
        assert _run_row(warehouse, 0) == ("partial", None, None, "RUNNING")

        # the next run (nothing changed) reads the jobs back: the first run gets its match rate, three in
        # four of the people sent have a Google account: OfflineUserDataJobMatchRateRange 71 to 80%
        sync(warehouse, config)
        assert _run_row(warehouse, 0) == ("partial", 0.71, 0.80, "SUCCESS")
        assert api.members["7001"] == {sha(f"person{i}@example.com") for i in range(PEOPLE) if i not in (7, 9)}
        first_op = api.jobs["customers/1234567890/offlineUserDataJobs/1"].operations[0]["create"]["userIdentifiers"]
        assert first_op == [{"hashedEmail": sha("person0@example.com")}, {"hashedPhoneNumber": sha("+16505550000")},
                            {"addressInfo": {"hashedFirstName": sha("first0"), "hashedLastName": sha("last0"),
                                             "countryCode": "US", "postalCode": "94043"}}]
        assert not any("@" in str(body) for _m, _t, body in api.requests)   # no plain-text PII left

        # thirty people leave the audience: removed in a job of their own
        api.searches_to_finish = 0
        gone = [f"prf_{i:05d}" for i in range(100, 130)]
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        outcome = sync(warehouse, config)
        assert outcome.rows_succeeded == 30
        removes = [op for job in api.jobs.values() for op in job.operations if "remove" in op]
        assert len(removes) == 30
        # persons 7 and 9 are planned again each run, and refused again
        assert failed.keys() == {k for (k,) in sql(warehouse, "select member_key from ops.sync_log where "
                                                              "status = 'failed' and plan_id = (select plan_id from "
                                                              "ops.sync_runs order by started_at desc limit 1)")}
        assert api.members["7001"] == {sha(f"person{i}@example.com") for i in range(PEOPLE)
                                       if i not in (7, 9) and not 100 <= i < 130}
        assert _run_row(warehouse, 2)[3] == "SUCCESS"
        # a job per batch: three, then one for persons 7 and 9, then one for them and one for the removals
        assert sql(warehouse, "select count(*), count(*) filter (where final) from ops.sync_uploads") == [(6, 6)]


def test_the_google_fake_refuses_what_google_refuses() -> None:
    api = _google_api()
    api.max_operations = 2
    with FakeGoogleAdsServer(api) as server:
        token = httpx.post(f"{server.url}/token", data={
            "grant_type": "refresh_token", "client_id": api.client_id, "client_secret": api.client_secret,
            "refresh_token": api.refresh_token}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "developer-token": api.developer_token}
        base = f"{server.url}/v21/customers/1234567890"

        def post(path: str, body: dict, auth: dict = headers) -> httpx.Response:
            return httpx.post(f"{base}/{path}" if not path.startswith("customers/") else f"{server.url}/v21/{path}",
                              json=body, headers=auth)

        good_list = {"userList": "customers/1234567890/userLists/7001"}
        assert post("offlineUserDataJobs:create", {"job": {"type": "CUSTOMER_MATCH_USER_LIST",
                                                           "customerMatchUserListMetadata": good_list}},
                    auth={"Authorization": f"Bearer {token}"}).status_code == 401
        assert post("offlineUserDataJobs:create", {"job": {"type": "STORE_SALES_UPLOAD_FIRST_PARTY",
                                                           "customerMatchUserListMetadata": good_list}}
                    ).status_code == 400
        job = post("offlineUserDataJobs:create", {"job": {"type": "CUSTOMER_MATCH_USER_LIST",
                                                          "customerMatchUserListMetadata": good_list}}
                   ).json()["resourceName"]
        email = {"hashedEmail": sha("a@example.com")}
        assert post(f"{job}:addOperations", {"operations": [{"create": {"userIdentifiers": [email]}}] * 3}
                    ).status_code == 400                                        # more than the limit
        assert post(f"{job}:addOperations", {"operations": [{"create": {"userIdentifiers": [email]},
                                                             "remove": {"userIdentifiers": [email]}}]}
                    ).status_code == 400                                        # both at once
        plain = {"create": {"userIdentifiers": [{"hashedEmail": "a@example.com"}]}}
        assert post(f"{job}:addOperations", {"operations": [plain]}).status_code == 400
        partial = post(f"{job}:addOperations", {"operations": [{"create": {"userIdentifiers": [email]}}, plain],
                                                "enablePartialFailure": True}).json()
        error = partial["partialFailureError"]["details"][0]["errors"][0]
        assert error["location"]["fieldPathElements"][0] == {"fieldName": "operations", "index": 1}
        assert post(f"{job}:run", {}).status_code == 200
        assert post(f"{job}:addOperations", {"operations": [{"create": {"userIdentifiers": [email]}}]}
                    ).status_code == 400                                        # the job has run


def test_google_settings_and_credentials_are_checked(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogleAdsServer(_google_api()) as server:
        with pytest.raises(SyncConfigError, match=r"lacks 'developer_token_env', 'customer_id_env'"):
            unset = ("developer_token_env", "customer_id_env")
            config_for({k: v for k, v in _google(server).items() if k not in unset},
                       consent_purpose="ads_targeting", options={"user_list_id": "7001"})
        with pytest.raises(SyncConfigError, match=r"options.user_list_id must be the Customer Match user list id"):
            config_for(_google(server), consent_purpose="ads_targeting", options={"user_list_id": "7001 OR 1=1"})
        config = config_for(_google(server), mode="mirror", consent_purpose="ads_targeting", mapping=GOOGLE_MAPPING,
                            options={"user_list_id": "7001"})
        with pytest.raises(DestinationError, match=r"set CDP_TEST_GADS_CLIENT_ID, CDP_TEST_GADS_CLIENT_SECRET"):
            sync(warehouse, config)
        for name, value in GOOGLE_SECRETS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CDP_TEST_GADS_REFRESH_TOKEN", "revoked")
        with pytest.raises(DestinationError, match=r"refused the refresh token .*invalid_grant|expired"):
            sync(warehouse, config)


def _meta(server: FakeMetaServer) -> dict:
    return {"kind": "ad_audience", "platform": "meta", "default_url": server.url, "auth_env": "CDP_TEST_META_TOKEN",
            "auth_scheme": "Bearer", "backoff_seconds": 0.02, "max_backoff_seconds": 0.05, "max_attempts": 4}


def test_meta_upload_sessions_with_a_refused_row_isolated_and_the_match_rate_kept(
        warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_META_TOKEN", "EAAB-token")
    api = FakeMeta("EAAB-token", refuse_extern_ids=frozenset({"prf_00042"}), throttle_next=1,
                   known_emails=frozenset(sha(f"person{i}@example.com") for i in range(PEOPLE) if known(i)))
    with FakeMetaServer(api) as server:
        config = config_for(_meta(server), mode="mirror", consent_purpose="ads_targeting",
                            mapping={"profile_id": "profile_id", "email": "email", "first_name": "first_name"},
                            batch_rows=120, options={"audience_id": "23850000000001", "request_rows": 100},
                            guardrails={"max_delete_share": 0.5})
        outcome = sync(warehouse, config)
        assert outcome.rows_failed == 1
        assert sql(warehouse, "select member_key, reason from ops.sync_log where status = 'failed'")[0][1].startswith(
            "HTTP 400")
        taken = [body for method, _t, body in api.requests if method == "POST"
                 and "prf_00042" not in str(body["payload"]["data"])]
        sessions = {body["session"]["session_id"] for body in taken}
        assert len(sessions) == 1                                           # one session for the run's adds
        assert [b["session"]["batch_seq"] for b in taken] == list(range(1, len(taken) + 1))
        assert [b["session"]["last_batch_flag"] for b in taken] == [False] * (len(taken) - 1) + [True]
        assert {b["session"]["estimated_num_total"] for b in taken} == {PEOPLE}
        assert max(len(b["payload"]["data"]) for b in taken) <= 100
        assert taken[0]["payload"]["schema"] == ["EMAIL", "FN", "EXTERN_ID"]
        assert taken[0]["payload"]["data"][0] == [sha("person0@example.com"), sha("first0"), "prf_00000"]
        # person 9 has no email but a first name: taken; Meta matched the known emails it received
        received = [i for i in range(PEOPLE) if i != 42]
        rate = sum(1 for i in received if known(i) and i != 9) / len(received)
        assert _run_row(warehouse, 0) == ("partial", pytest.approx(rate), pytest.approx(rate), "finished")
        assert api.members["23850000000001"] == {f"prf_{i:05d}" for i in received}

        gone = [f"prf_{i:05d}" for i in range(100, 130)]
        sql(warehouse, "delete from audiences.aud_members where profile_id in (select unnest(?))", [gone])
        assert sync(warehouse, config).rows_succeeded == 30
        removals = [body for method, _t, body in api.requests if method == "DELETE"]
        assert len({b["session"]["session_id"] for b in removals} | sessions) == 2   # a session of their own
        assert removals[-1]["session"]["last_batch_flag"] is True
        assert api.members["23850000000001"] == {f"prf_{i:05d}" for i in received if not 100 <= i < 130}

        # a full resync replaces the audience: one replace session, and Meta holds exactly the members sent
        api.members["23850000000001"].add("prf_stale")   # held there, unknown to the sync
        assert sync(warehouse, config, full_resync=True).rows_failed == 1   # prf_00042, refused again
        replaced = [body for method, target, body in api.requests if target.endswith("/usersreplace")]
        assert replaced and len({b["session"]["session_id"] for b in replaced}) == 1
        # its last row (prf_00042, planned last as never sent) is refused: the session is closed after
        assert replaced[-1]["session"]["last_batch_flag"] is True and "prf_00042" not in str(replaced[-1])
        assert api.members["23850000000001"] == {f"prf_{i:05d}" for i in received if not 100 <= i < 130}

        monkeypatch.setenv("CDP_TEST_META_TOKEN", "expired")
        sql(warehouse, "delete from audiences.aud_members where profile_id = 'prf_00200'")
        with pytest.raises(DestinationError, match=r"error code 190"):
            sync(warehouse, config)


def test_the_meta_fake_refuses_what_meta_refuses() -> None:
    api = FakeMeta("EAAB-token")
    with FakeMetaServer(api) as server:
        url = f"{server.url}/v21.0/23850000000001/users"
        auth = {"Authorization": "Bearer EAAB-token"}

        def body(data: list, schema: tuple = ("EMAIL", "EXTERN_ID"), **session: object) -> dict:
            return {"payload": {"schema": list(schema), "data": data},
                    "session": {"session_id": 7, "batch_seq": 1, "last_batch_flag": False,
                                "estimated_num_total": 1, **session}}

        row = [sha("a@example.com"), "p1"]
        denied = httpx.post(url, json=body([row]), headers={"Authorization": "Bearer nope"})
        assert denied.json()["error"]["code"] == 190
        for bad in (body([row] * 10_001), body([[sha("a@example.com")]]), body([row], schema=("EMAIL", "NICKNAME")),
                    body([["a@example.com", "p1"]]), {"payload": body([row])["payload"]}):
            answer = httpx.post(url, json=bad, headers=auth)
            assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
        assert httpx.post(url, json=body([row], last_batch_flag=True), headers=auth).json()["num_received"] == 1
        late = httpx.post(url, json=body([row], batch_seq=2), headers=auth)
        assert late.status_code == 400 and "ended" in late.json()["error"]["message"]


def test_meta_settings_are_checked() -> None:
    meta = {"kind": "ad_audience", "platform": "meta", "default_url": "http://127.0.0.1:9"}
    with pytest.raises(SyncConfigError, match=r"lacks 'auth_env'"):
        config_for(meta, consent_purpose="ads_targeting", options={"audience_id": "1"})
    with pytest.raises(SyncConfigError, match=r"options lacks 'audience_id' \(audience_id: the custom audience id"):
        config_for({**meta, "auth_env": "X"}, consent_purpose="ads_targeting")
