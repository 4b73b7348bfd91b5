"""Reverse ETL against real destinations: a local HTTP server the test drives, and PostgreSQL.

The warehouse here is a small DuckDB file with the tables a sync reads (an audience, a suppression
audience, marts.dim_profiles for consent, the deletion-request model), so each test states its
members exactly. The full pipeline's syncs are covered in test_pipeline.py.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from cdp.settings import REPO_ROOT
from reverse_etl.config import SyncConfig, SyncConfigError, parse_sync_config
from reverse_etl.hashing import identifier_expression
from reverse_etl.state import ensure_sync_tables
from reverse_etl.sync import GuardrailError, SyncOutcome, run_sync
from tests.conftest import POSTGRES_URL, connect_test_postgres
from tests.fake_api import FakeApi, FakeApiServer

PEOPLE = 200


def build_warehouse(path: Path, people: int = PEOPLE) -> None:
    """Members prf_00000.. with email person<i>@example.com; every 10th revoked email consent, every
    10th + 1 never gave it; nobody suppressed or deleted yet."""
    con = duckdb.connect(str(path))
    try:
        ensure_sync_tables(con)
        con.execute("create schema audiences; create schema marts; create schema intermediate")
        con.execute(f"""
            create table marts.dim_profiles as
            select 'prf_' || lpad(i::varchar, 5, '0') as profile_id,
                   case i % 10 when 0 then 'revoked' when 1 then 'unknown' else 'granted' end
                       as email_marketing_consent,
                   'unknown' as sms_consent, 'granted' as ads_targeting_consent, 'unknown' as analytics_consent
            from range({people}) as r(i)""")
        con.execute(f"""
            create table audiences.aud_members as
            select 'prf_' || lpad(i::varchar, 5, '0') as profile_id, 'person' || i || '@example.com' as email,
                   'First' || i as first_name, (i * 1.5)::double as score, timestamptz '2026-11-01 10:00:00+00' as since
            from range({people}) as r(i)""")
        con.execute("create table audiences.aud_suppression (profile_id varchar, suppression_reason varchar)")
        con.execute("create table intermediate.int_privacy__deleted_profiles (profile_id varchar, request_id varchar)")
    finally:
        con.close()


def eligible(path: Path) -> set[str]:
    return set(r[0] for r in sql(path, """
        select a.profile_id from audiences.aud_members as a
        inner join marts.dim_profiles as p using (profile_id)
        where p.email_marketing_consent = 'granted'
          and a.profile_id not in (select profile_id from audiences.aud_suppression)
          and a.profile_id not in (select profile_id from intermediate.int_privacy__deleted_profiles)"""))


def sql(path: Path, statement: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path))
    try:
        result = con.execute(statement, params or [])
        return result.fetchall() if result.description else []
    finally:
        con.close()


def config_for(destination: dict, **sync: object) -> SyncConfig:
    spec = {"audience": "aud_members", "destination": "dest", "mode": "upsert", "key": "profile_id",
            "consent_purpose": "email_marketing", "batch_rows": 50,
            "mapping": {"profile_id": "profile_id", "email": "email", "first_name": "first_name", "score": "score"}}
    spec.update(sync)
    return parse_sync_config({"destinations": {"dest": destination}, "suppression": ["aud_suppression"],
                              "syncs": {"members": spec}}, Path("test-syncs.yml"))


def http_destination(server: FakeApiServer, **extra: object) -> dict:
    return {"kind": "http", "default_url": server.url, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2,
            "timeout_seconds": 1.0, "max_attempts": 6, **extra}


def sync(path: Path, config: SyncConfig, export_dir: Path | None = None, **options: object) -> SyncOutcome:
    con = duckdb.connect(str(path))
    try:
        return run_sync(con, config.syncs["members"], config, export_dir or path.parent, progress=lambda _m: None,
                        **options)
    finally:
        con.close()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path)
    return path


# ---------------------------------------------------------------------------------------------- HTTP


def test_http_sync_retries_429_500_timeouts_and_retries_rejected_rows_next_run(warehouse: Path) -> None:
    sql(warehouse, "update audiences.aud_members set email = 'bad-' || email where profile_id in "
                   "('prf_00002', 'prf_00013', 'prf_00155')")
    api = FakeApi(script=["429", "500", "timeout"], retry_after="1", timeout_seconds=1.5,
                  reject_when=lambda r: "mailbox does not exist" if r["email"].startswith("bad-") else None)
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server, request_rows=25, requests_per_second=100))
        outcome = sync(warehouse, config)
        expected = eligible(warehouse)
        bad = {"prf_00002", "prf_00013", "prf_00155"}
        assert outcome.status == "partial"
        assert outcome.rows_failed == 3 and outcome.rows_succeeded == len(expected) - 3
        assert set(api.records) == expected - bad
        assert set(api.applied.values()) == {1}                      # nothing applied twice
        # The 429 answer was followed by a wait of at least its Retry-After.
        first, second = api.requests[0], api.requests[1]
        assert second["at"] - first["at"] >= 1.0
        assert all(r["headers"].get("idempotency-key") for r in api.requests)
        failed = sql(warehouse, "select member_key, reason from ops.sync_log where status = 'failed' order by 1")
        assert failed == [(k, "mailbox does not exist") for k in sorted(bad)]
        held = sql(warehouse, "select count(*) from ops.sync_log where status = 'held_back' "
                              "and reason like 'no granted consent for email_marketing%'")[0][0]
        assert held == PEOPLE - len(expected) == 40

        # The destination fixed its side: the next run sends exactly the failed rows again.
        api.reject_when = None
        second_run = sync(warehouse, config)
        assert second_run.status == "succeeded"
        assert (second_run.plan.rows_added, second_run.plan.rows_changed) == (3, 0)
        assert set(api.records) == expected and set(api.applied.values()) == {1}
        runs = sql(warehouse, "select status, rows_planned, rows_succeeded, rows_failed, rows_skipped_consent "
                              "from ops.sync_runs order by started_at")
        assert runs == [("partial", len(expected), len(expected) - 3, 3, 40), ("succeeded", 3, 3, 0, 40)]


def test_a_state_hashed_as_text_is_migrated_and_another_hash_version_resends_everyone(warehouse: Path) -> None:
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server))
        first = sync(warehouse, config)
        expected = eligible(warehouse)
        assert first.rows_succeeded == len(expected) and len(api.requests) > 0
        # The state as an earlier version wrote it: '<duckdb version>:<hash>' text, no hash_version column.
        sql(warehouse, "alter table ops.sync_state alter column row_hash set data type varchar "
                       "using hash_version || ':' || row_hash::varchar")
        sql(warehouse, "alter table ops.sync_state drop column hash_version")
        sql(warehouse, "update audiences.aud_members set score = score + 1 where profile_id = 'prf_00002'")
        sent_before = len(api.requests)
        second = sync(warehouse, config)
        assert (second.plan.rows_added, second.plan.rows_changed, second.plan.full_resync) == (0, 1, False)
        assert sql(warehouse, "select distinct typeof(row_hash) from ops.sync_state") == [("UBIGINT",)]
        assert len(api.requests) == sent_before + 1
        # Hashes from another DuckDB version cannot be compared: everyone is sent again, once.
        sql(warehouse, "update ops.sync_state set hash_version = 'duckdb0.0.1'")
        third = sync(warehouse, config)
        assert third.plan.full_resync and third.rows_succeeded == len(expected)
        assert sql(warehouse, "select count(*) from ops.sync_log where plan_id = ? and reason = 'full resync'",
                   [third.plan.plan_id])[0][0] == len(expected)


def test_a_rejected_batch_is_split_until_the_bad_row_is_isolated(warehouse: Path) -> None:
    sql(warehouse, "update audiences.aud_members set email = 'poison@example.com' where profile_id = 'prf_00027'")
    api = FakeApi(poison_when=lambda r: r["email"] == "poison@example.com")
    with FakeApiServer(api) as server:
        outcome = sync(warehouse, config_for(http_destination(server, request_rows=50)))
    assert outcome.rows_failed == 1
    assert set(api.records) == eligible(warehouse) - {"prf_00027"}
    assert set(api.applied.values()) == {1}
    reason = sql(warehouse, "select reason from ops.sync_log where status = 'failed'")
    assert reason == [("HTTP 422: {\"error\": \"batch contains an invalid record\"}",)]
    # halving a 50-row request down to the one bad row takes about log2(50) rejected requests
    rejected = [r for r in api.requests if r["key"].count(":") >= 2 and r["key"].endswith(("a", "b"))]
    assert 5 <= len(rejected) <= 14


def test_mirror_removes_only_its_own_rows_for_consent_suppression_and_departures(warehouse: Path) -> None:
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="mirror")
        sync(warehouse, config)
        first = eligible(warehouse)
        assert set(api.records) == first
        api.records["someone_else"] = {"profile_id": "someone_else"}     # not sent by this sync
        sql(warehouse, "update marts.dim_profiles set email_marketing_consent = 'revoked' "
                       "where profile_id in ('prf_00003', 'prf_00004')")
        sql(warehouse, "insert into audiences.aud_suppression values ('prf_00005', 'competitor')")
        sql(warehouse, "delete from audiences.aud_members where profile_id = 'prf_00006'")
        sql(warehouse, "update audiences.aud_members set score = 999 where profile_id = 'prf_00007'")
        outcome = sync(warehouse, config)
        assert (outcome.plan.rows_added, outcome.plan.rows_changed, outcome.plan.rows_removed) == (0, 1, 4)
        assert set(api.records) == eligible(warehouse) | {"someone_else"}
        assert api.records["prf_00007"]["score"] == 999
        reasons = dict(sql(warehouse, "select member_key, reason from ops.sync_log where op = 'delete'"))
        assert reasons == {
            "prf_00003": "held back: no granted consent for email_marketing (revoked)",
            "prf_00004": "held back: no granted consent for email_marketing (revoked)",
            "prf_00005": "held back: suppressed: competitor",
            "prf_00006": "left audience",
        }
        state = {r[0] for r in sql(warehouse, "select member_key from ops.sync_state")}
        assert state == eligible(warehouse)


def test_a_deletion_request_is_sent_as_a_delete_in_upsert_mode_and_ledgered(warehouse: Path) -> None:
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="upsert")
        sync(warehouse, config)
        assert "prf_00012" in api.records
        sql(warehouse, "insert into intermediate.int_privacy__deleted_profiles values ('prf_00012', 'req-77')")
        sql(warehouse, "delete from audiences.aud_members where profile_id = 'prf_00012'")   # marts drop them
        sql(warehouse, "delete from audiences.aud_members where profile_id = 'prf_00013'")   # upsert keeps it
        outcome = sync(warehouse, config)
    assert outcome.plan.rows_removed == 1
    assert "prf_00012" not in api.records and "prf_00013" in api.records
    assert api.requests[-1]["body"]["operation"] == "delete"
    assert sql(warehouse, "select request_id, profile_id, step, target from ops.deletion_ledger") == [
        ("req-77", "prf_00012", "destination_delete", "sync:members")]
    assert sql(warehouse, "select count(*) from ops.sync_state where member_key = 'prf_00012'") == [(0,)]


def test_guardrails_block_before_anything_is_sent(warehouse: Path) -> None:
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="mirror",
                            guardrails={"max_delete_share": 0.3, "min_change_rows": 10, "max_change_multiple": 3})
        sync(warehouse, config)
        sent = len(api.requests)

        # A sudden 50% drop of the audience: mirror would delete half of what the destination holds.
        sql(warehouse, "create table audiences.kept as select * from audiences.aud_members")
        sql(warehouse, "delete from audiences.aud_members where cast(substr(profile_id, 5) as integer) % 2 = 0")
        with pytest.raises(GuardrailError, match="delete_share"):
            sync(warehouse, config)
        assert len(api.requests) == sent
        # reviewed and intended: the override lets exactly that plan through
        assert sync(warehouse, config, override_guardrails=True).status == "succeeded"
        assert set(api.records) == eligible(warehouse)

        # An empty audience while the destination holds members.
        sql(warehouse, "delete from audiences.aud_members")
        with pytest.raises(GuardrailError, match="empty_source"):
            sync(warehouse, config)

        # Small changes make a history; then a change far above it is blocked.
        sql(warehouse, "insert into audiences.aud_members select * from audiences.kept")
        sync(warehouse, config, override_guardrails=True)
        for i in range(3):
            sql(warehouse, f"update audiences.aud_members set score = score + 1 where profile_id = 'prf_0000{i + 2}'")
            sync(warehouse, config)
        sql(warehouse, "update audiences.aud_members set score = score + 1")
        with pytest.raises(GuardrailError, match="change_spike"):
            sync(warehouse, config)

        # Duplicate keys are never sent, override or not.
        sql(warehouse, "insert into audiences.aud_members select * from audiences.kept where profile_id = 'prf_00002'")
        sent = len(api.requests)
        with pytest.raises(GuardrailError, match="duplicate_keys"):
            sync(warehouse, config, override_guardrails=True)
        assert len(api.requests) == sent
    statuses = [r[0] for r in sql(warehouse, "select status from ops.sync_runs order by started_at")]
    assert statuses.count("blocked") == 4


def test_a_run_with_nothing_to_send_is_no_baseline_for_the_change_spike(warehouse: Path) -> None:
    """A rerun over unchanged data changes nothing; the next ordinary day (scores that moved for the
    same members as before) is measured against the days that changed something, not against that 0."""
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="upsert",
                            guardrails={"min_change_rows": 5, "max_change_multiple": 2, "history_runs": 1})
        sync(warehouse, config)

        def a_day_of_changes() -> SyncOutcome:
            sql(warehouse, "update audiences.aud_members set score = score + 1 "
                           "where cast(substr(profile_id, 5) as integer) between 2 and 41")
            return sync(warehouse, config)

        # 40 members' scores move; 8 of them lack email consent (every 10th and 10th + 1) and are held back
        assert a_day_of_changes().plan.rows_changed == 32
        quiet = sync(warehouse, config)
        assert (quiet.status, quiet.plan.rows_planned) == ("succeeded", 0)
        assert a_day_of_changes().plan.rows_changed == 32
        # still a guardrail: every eligible member (160) is more than twice an ordinary day's 32

        sql(warehouse, "update audiences.aud_members set score = score + 1")
        with pytest.raises(GuardrailError, match="change_spike: 160 changes planned, more than 64"):
            sync(warehouse, config)


def test_dry_run_prints_the_plan_and_sends_nothing(warehouse: Path) -> None:
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="mirror")
        sync(warehouse, config)
        sql(warehouse, "delete from audiences.aud_members where profile_id in ('prf_00002', 'prf_00003')")
        sql(warehouse, "update audiences.aud_members set score = -1 where profile_id = 'prf_00004'")
        before = (len(api.requests), sql(warehouse, "select * from ops.sync_state order by member_key"))
        outcome = sync(warehouse, config, dry_run=True)
        assert outcome.status == "dry_run"
        assert (outcome.plan.rows_added, outcome.plan.rows_changed, outcome.plan.rows_removed) == (0, 1, 2)
        assert dict(((op, reason), n) for op, reason, n in outcome.preview) == {
            ("delete", "left audience"): 2, ("upsert", "changed"): 1}
        assert (len(api.requests), sql(warehouse, "select * from ops.sync_state order by member_key")) == before
        assert sql(warehouse, "select count(*) from information_schema.tables where table_name like 'sync_outbox%'"
                   ) == [(0,)]


def test_a_sync_killed_mid_run_resumes_without_losing_or_double_applying(warehouse: Path, tmp_path: Path) -> None:
    """`cdp sync` in its own process, killed (SIGKILL) while a request it sent is applied but not yet
    answered; the next run resumes the outbox and resends that batch under the same idempotency key."""
    api = FakeApi(delay_after_apply=0.4)
    with FakeApiServer(api) as server:
        syncs_file = tmp_path / "syncs.yml"
        syncs_file.write_text(yaml.safe_dump({
            "destinations": {"dest": http_destination(server, request_rows=20, timeout_seconds=5)},
            "suppression": ["aud_suppression"],
            "syncs": {"members": {"audience": "aud_members", "destination": "dest", "mode": "upsert",
                                  "key": "profile_id", "consent_purpose": "email_marketing", "batch_rows": 20,
                                  "mapping": {"profile_id": "profile_id", "email": "email"}}}}))
        env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "CDP_SYNCS_FILE": str(syncs_file)}
        command = [sys.executable, "-m", "cdp.cli", "sync", "members"]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(api.applied) < 60 and time.monotonic() < deadline:   # three batches applied ...
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)                             # ... the third still unanswered
        process.wait()
        applied_before = len(api.applied)
        assert 60 <= applied_before < len(eligible(warehouse))

        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "resuming plan" in done.stdout
    assert set(api.records) == eligible(warehouse)
    assert set(api.applied.values()) == {1}          # the resent in-flight batch changed nothing
    assert api.replays >= 1
    runs = sql(warehouse, "select status, resumed from ops.sync_runs")
    assert runs == [("succeeded", True)]
    assert sql(warehouse, "select count(*) from ops.sync_state") == [(len(eligible(warehouse)),)]


def test_the_dagster_sync_asset_fails_naming_the_guardrail(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.assets.resources import WarehouseResource
    from orchestration.assets.syncs import build_sync_asset

    resources = {"warehouse": WarehouseResource()}

    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    api = FakeApi()
    # A Dagster instance of the test's own, entered for both runs: without one, `materialize` resolves
    # the definitions against whatever instance state an earlier test in this worker process left.
    with FakeApiServer(api) as server, dg.instance_for_test() as instance:
        config = config_for(http_destination(server), mode="mirror")
        asset = build_sync_asset(config.syncs["members"], config)
        assert dg.materialize([asset], instance=instance, raise_on_error=False, resources=resources).success
        sql(warehouse, "delete from audiences.aud_members where profile_id < 'prf_00150'")
        sent = len(api.requests)
        result = dg.materialize([asset], instance=instance, raise_on_error=False, resources=resources)
    assert not result.success
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [(c.check_name, c.passed) for c in checks] == [("guardrails", False)]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "delete_share" in failure.message or "delete_share" in str(failure.event_specific_data.error)
    assert len(api.requests) == sent


# ------------------------------------------------------------------------------------------- files


def test_file_destinations_write_csv_parquet_and_json_lines(warehouse: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    for fmt, name in (("csv", "m.csv"), ("parquet", "m.parquet"), ("jsonl", "m.jsonl")):
        config = config_for({"kind": "file"}, mode="mirror", options={"path": name, "format": fmt})
        sync(warehouse, config, export_dir=tmp_path / "exports")
        sql(warehouse, "delete from ops.sync_state")
    expected = eligible(warehouse)
    import csv
    import json

    with (tmp_path / "exports" / "m.csv").open() as handle:
        assert {r["profile_id"] for r in csv.DictReader(handle)} == expected
    assert set(pq.read_table(tmp_path / "exports" / "m.parquet").column("profile_id").to_pylist()) == expected
    lines = (tmp_path / "exports" / "m.jsonl").read_text().splitlines()
    assert {json.loads(line)["profile_id"] for line in lines} == expected
    assert not list((tmp_path / "exports").glob("*.partial"))


# --------------------------------------------------------------------------------------- PostgreSQL

@pytest.fixture
def postgres(tmp_path: Path):
    con = connect_test_postgres()
    # a name of this test's own: two suites sharing the database never touch each other's schema
    schema = f"cdp_test_{uuid.uuid4().hex[:12]}"
    con.execute(f"create schema {schema}")
    yield con, schema
    con.execute(f"drop schema if exists {schema} cascade")
    con.close()


def pg_destination(schema: str) -> dict:
    return {"kind": "postgres", "default_url": POSTGRES_URL, "schema": schema, "max_attempts": 3,
            "backoff_seconds": 0.05}


def test_postgres_upsert_sends_only_what_changed(postgres, tmp_path: Path) -> None:
    con, schema = postgres
    path = tmp_path / "big.duckdb"
    build_warehouse(path, people=5_000)
    config = config_for(pg_destination(schema), options={"table": "members"}, batch_rows=1_000,
                        mapping={"profile_id": "profile_id", "email": "email", "score": "score", "since": "since"})
    first = sync(path, config)
    expected = eligible(path)
    assert first.status == "succeeded" and first.rows_succeeded == len(expected)
    rows = con.execute(f"select profile_id, email, score, since from {schema}.members").fetchall()
    audience = {r[0]: r[1:] for r in sql(path, "select profile_id, email, score, since from audiences.aud_members")}
    assert {r[0] for r in rows} == expected
    assert all(tuple(r[1:]) == audience[r[0]] for r in rows)
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = %s and table_name = 'members'", [schema]).fetchall())
    assert types["score"] == "double precision" and types["since"] == "timestamp with time zone"

    # 1% of the members change: only those are sent, and PostgreSQL has the new values.
    sql(path, "update audiences.aud_members set score = score + 0.25 where cast(substr(profile_id, 5) as integer) "
              "% 100 = 42")
    changed = len([k for k in expected if int(k[4:]) % 100 == 42])
    con.execute(f"update {schema}.members set _cdp_synced_at = 'epoch'")
    second = sync(path, config)
    assert (second.plan.rows_added, second.plan.rows_changed, second.plan.rows_removed) == (0, changed, 0)
    touched = con.execute(f"select profile_id, score from {schema}.members where _cdp_synced_at > 'epoch'").fetchall()
    assert len(touched) == changed and all(score == int(pid[4:]) * 1.5 + 0.25 for pid, score in touched)

    # Replaying the same upsert (a resent batch) changes nothing.
    totals = (len(expected), sum(audience[k][1] for k in expected) + 0.25 * changed)
    assert sync(path, config, full_resync=True).status == "succeeded"
    assert con.execute(f"select count(*), sum(score) from {schema}.members").fetchone() == totals
    # A lost state makes every member "new": the straight COPY meets existing keys, rolls back, and the
    # rows are upserted instead, with the same result.
    sql(path, "delete from ops.sync_state")
    again = sync(path, config)
    assert again.status == "succeeded" and again.plan.rows_added == len(expected)
    assert con.execute(f"select count(*), sum(score) from {schema}.members").fetchone() == totals


def test_postgres_mirror_never_deletes_rows_it_did_not_send(postgres, warehouse: Path) -> None:
    con, schema = postgres
    config = config_for(pg_destination(schema), mode="mirror", options={"table": "members"})
    sync(warehouse, config)
    con.execute(f"insert into {schema}.members (profile_id, email) values ('crm_native_1', 'native@example.com')")
    sql(warehouse, "delete from audiences.aud_members where profile_id in ('prf_00002', 'prf_00003', 'prf_00004')")
    outcome = sync(warehouse, config)
    assert outcome.plan.rows_removed == 3
    keys = {r[0] for r in con.execute(f"select profile_id from {schema}.members").fetchall()}
    assert keys == eligible(warehouse) | {"crm_native_1"}


def test_postgres_rejected_rows_are_isolated_and_update_mode_never_inserts(postgres, warehouse: Path) -> None:
    con, schema = postgres
    con.execute(f"""create table {schema}.members (profile_id text primary key, email text, first_name text,
                    score double precision check (score < 250), _cdp_synced_at timestamptz not null default now())""")
    config = config_for(pg_destination(schema), options={"table": "members"})
    outcome = sync(warehouse, config)
    too_big = {k for k in eligible(warehouse) if int(k[4:]) * 1.5 >= 250}
    assert too_big and outcome.rows_failed == len(too_big)
    stored = {r[0] for r in con.execute(f"select profile_id from {schema}.members").fetchall()}
    assert stored == eligible(warehouse) - too_big
    reasons = {r[0] for r in sql(warehouse, "select reason from ops.sync_log where status = 'failed'")}
    assert len(reasons) == 1 and "members_score_check" in reasons.pop()

    con.execute(f"delete from {schema}.members where profile_id in ('prf_00002', 'prf_00003')")
    sql(warehouse, "update audiences.aud_members set first_name = 'Renamed' where profile_id in "
                   "('prf_00002', 'prf_00003', 'prf_00004')")
    update = config_for(pg_destination(schema), mode="update", options={"table": "members"})
    sql(warehouse, "delete from ops.sync_state")          # a new sync of its own, in update mode
    result = sync(warehouse, update)
    assert con.execute(f"select count(*) from {schema}.members where profile_id in ('prf_00002', 'prf_00003')"
                       ).fetchone() == (0,)
    assert con.execute(f"select first_name from {schema}.members where profile_id = 'prf_00004'").fetchone() == (
        "Renamed",)
    skipped = dict(sql(warehouse, "select member_key, reason from ops.sync_log where status = 'skipped' "
                                  "and plan_id = ?", [result.plan.plan_id]))
    # the two deleted there, and the ones the destination refused before: none of them is there
    assert set(skipped) == {"prf_00002", "prf_00003"} | too_big
    assert skipped["prf_00002"].startswith("no row with this key at the destination")
    assert result.rows_failed == 0 and result.status == "succeeded"  # skipped members are not failures
    # not retried until they change (as Hightouch and Census treat update mode)
    again = sync(warehouse, update)
    assert again.plan.rows_added + again.plan.rows_changed == 0
    sql(warehouse, "update audiences.aud_members set first_name = 'Again' where profile_id = 'prf_00002'")
    changed = sync(warehouse, update)
    assert changed.plan.rows_changed == 1
    assert sql(warehouse, "select member_key, status from ops.sync_log where plan_id = ? and status <> 'held_back'",
               [changed.plan.plan_id]) == [("prf_00002", "skipped")]


def test_full_resync_in_insert_mode_sends_every_member_again(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse, people=40)
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode="insert")
        assert sync(warehouse, config).status == "succeeded"
        members = eligible(warehouse)
        assert set(api.records) == members
        api.records.clear()                        # the destination lost its list
        assert sync(warehouse, config).plan.rows_added == 0   # an ordinary run sends nothing new
        resync = sync(warehouse, config, full_resync=True)
        assert resync.status == "succeeded" and resync.rows_succeeded == len(members)
    assert set(api.records) == members
    ops = {op for (op,) in sql(warehouse, "select distinct op from ops.sync_log where plan_id = ? "
                               "and status = 'sent'", [resync.plan.plan_id])}
    assert ops == {"insert"}


# -------------------------------------------------------------------------------- hashing and config


def _normalised(platform: str, kind: str, value: str) -> str | None:
    con = duckdb.connect()
    try:
        return con.execute(f"select {identifier_expression(platform, kind, 'v')} from (select ?::varchar as v)",
                           [value]).fetchone()[0]
    finally:
        con.close()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(("platform", "kind", "raw", "published"), [
    # Google: trim, lower case; gmail.com / googlemail.com drop the dots of the local part; E.164 phones
    # (Google Ads API team: "+12125650000"); names lower case without spaces; country code not hashed.
    ("google", "email", "  Jane.Doe@GMail.com ", "janedoe@gmail.com"),
    ("google", "email", "John.Smith@Example.COM", "john.smith@example.com"),
    ("google", "phone", "+1 (212) 565-0000", "+12125650000"),
    ("google", "phone", "+44 20 7031 3000", "+442070313000"),
    ("google", "first_name", "  Mary Ann ", "maryann"),
    # Meta: trim and lower case only (dots and plus tags stay); phone digits with country code, no '+',
    # no leading zeros ("+1 (616) 954-78 88" -> "16169547888"); names without punctuation; country hashed.
    ("meta", "email", "  John_Smith@Gmail.com ", "john_smith@gmail.com"),
    ("meta", "email", "Jane.Doe+news@gmail.com", "jane.doe+news@gmail.com"),
    ("meta", "phone", "+1 (616) 954-78 88", "16169547888"),
    ("meta", "first_name", "Mary-Ann", "maryann"),
    ("meta", "country", "US", "us"),
])
def test_ad_platform_hashes_match_published_normalisation(platform: str, kind: str, raw: str, published: str) -> None:
    assert _normalised(platform, kind, raw) == _sha(published)


def test_google_country_is_sent_unhashed_and_empty_values_hash_to_null() -> None:
    assert _normalised("google", "country", " us ") == "US"
    assert _normalised("meta", "email", "   ") is None
    assert _normalised("google", "phone", "") is None


def test_sync_definitions_errors_name_the_entry_and_key() -> None:
    base = {"destinations": {"d": {"kind": "http", "url_env": "X_URL"}},
            "syncs": {"s": {"audience": "a", "destination": "d", "mode": "upsert", "key": "id",
                            "mapping": {"id": "id"}}}}
    with pytest.raises(SyncConfigError, match=r"syncs\.s lacks 'consent_purpose'"):
        parse_sync_config(base, Path("syncs.yml"))
    base["syncs"]["s"]["consent_purpose"] = "email_marketing"
    base["syncs"]["s"]["destination"] = "nowhere"
    with pytest.raises(SyncConfigError, match=r"syncs\.s\.destination 'nowhere' is not defined"):
        parse_sync_config(base, Path("syncs.yml"))
    base["syncs"]["s"]["destination"] = "d"
    base["syncs"]["s"]["mode"] = "replace"
    with pytest.raises(SyncConfigError, match=r"syncs\.s\.mode must be one of 'insert', 'update', 'upsert' or "
                                              r"'mirror', got 'replace'"):
        parse_sync_config(base, Path("syncs.yml"))
    base["syncs"]["s"]["mode"] = "upsert"
    # a misspelt setting is an error, not silently ignored; each kind is checked with its own keys
    base["destinations"]["d"]["auth_evn"] = "TOKEN"
    with pytest.raises(SyncConfigError, match=r"syncs\.yml: destinations\.d: unknown key 'auth_evn'"):
        parse_sync_config(base, Path("syncs.yml"))
    base["destinations"]["d"] = {"kind": "ad_audience", "platform": "tiktok", "url_env": "X_URL"}
    with pytest.raises(SyncConfigError, match=r"destinations\.d: kind must be one of .*got \{'kind': 'ad_audience', "
                                              r"'platform': 'tiktok'\}"):
        parse_sync_config(base, Path("syncs.yml"))
    base["destinations"]["d"] = {"kind": "http", "url_env": "X_URL", "max_attempts": 0}
    with pytest.raises(SyncConfigError, match=r"destinations\.d\.max_attempts must be at least 1, got 0"):
        parse_sync_config(base, Path("syncs.yml"))
    base["destinations"]["d"] = {"kind": "postgres", "url_env": "X_URL"}
    with pytest.raises(SyncConfigError, match=r"syncs\.s\.options lacks 'table'"):
        parse_sync_config(base, Path("syncs.yml"))


def test_rate_limit_and_auth_header_from_the_environment(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_API_TOKEN", "s3cret")
    api = FakeApi()
    with FakeApiServer(api) as server:
        sync(warehouse, config_for(http_destination(server, request_rows=16, requests_per_second=8,
                                                    auth_env="CDP_TEST_API_TOKEN", auth_scheme="Bearer")))
    assert {r["headers"]["authorization"] for r in api.requests} == {"Bearer s3cret"}
    times = [r["at"] for r in api.requests]
    assert len(times) >= 10
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.1                      # 8 per second: 0.125 s apart, less scheduling noise


def test_people_erased_in_an_earlier_run_are_still_deleted_downstream(warehouse: Path) -> None:
    """The erasure removes a person from the warehouse (deletion model included); a destination that
    could not take the delete then still gets it on a later run, from ops.erased_profiles."""
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server, max_attempts=1), mode="upsert")
        sync(warehouse, config)
        sql(warehouse, "insert into ops.erased_profiles values ('prf_00022', 'req-9', now())")
        sql(warehouse, "delete from audiences.aud_members where profile_id = 'prf_00022'")
        api.script = ["500"]
        with pytest.raises(Exception, match="still failing"):
            sync(warehouse, config)
        assert "prf_00022" in api.records
        assert sync(warehouse, config).status == "succeeded"          # resumes the pending delete
    assert "prf_00022" not in api.records
    assert sql(warehouse, "select request_id, step from ops.deletion_ledger") == [("req-9", "destination_delete")]


def test_cdp_sync_dry_run_prints_the_plan(warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    from cdp.cli import main

    syncs_file = tmp_path / "syncs.yml"
    syncs_file.write_text(yaml.safe_dump({
        "destinations": {"files": {"kind": "file"}}, "suppression": ["aud_suppression"],
        "syncs": {"members_csv": {"audience": "aud_members", "destination": "files", "mode": "mirror",
                                  "key": "profile_id", "consent_purpose": "email_marketing",
                                  "mapping": {"profile_id": "profile_id", "email": "email"},
                                  "options": {"path": "members.csv"}}}}))
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CDP_SYNCS_FILE", str(syncs_file))
    monkeypatch.setenv("CDP_EXPORT_DIR", str(tmp_path / "exports"))
    assert main(["sync", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    target = tmp_path / "exports" / "members.csv"
    assert f"[members_csv] plan -> file:{target}: {len(eligible(warehouse))} adds" in printed
    assert "40 held back" in printed
    assert not (tmp_path / "exports").exists()
    assert main(["sync", "members_csv"]) == 0
    assert (tmp_path / "exports" / "members.csv").exists()
    assert main(["sync", "nope"]) == 2
    assert "unknown sync(s) ['nope']" in capsys.readouterr().err
