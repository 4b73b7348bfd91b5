"""Faults an unlucky operator meets, each with its outcome: nothing lost, nothing applied twice, and a
message that says what happened and what to do.

Against real things: a second process holding the warehouse, a local HTTP server answering 429 with an
absurd Retry-After, CSV exports opened as a spreadsheet would read them, credentials in a destination
URL, a BI connection held open across a publish, a landing zone that is missing.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cdp.run_lock import RunLockHeld, lock_path, warehouse_run_lock
from cdp.serving import publish_serving_copy
from cdp.settings import get_settings
from orchestration.run import run_pipeline
from reverse_etl.destinations.file import FileDestination
from reverse_etl.sync import SyncError
from tests.conftest import Workspace
from tests.fake_api import FakeApi, FakeApiServer
from tests.test_reverse_etl import build_warehouse, config_for, eligible, http_destination, sql, sync

HOLDER = """
import sys, time
from pathlib import Path
from cdp.run_lock import warehouse_run_lock
with warehouse_run_lock(Path(sys.argv[1]), "cdp run (test holder)"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(warehouse: Path, seconds: float = 120) -> subprocess.Popen:
    """A process that holds the warehouse's run lock for `seconds`, then finishes (releasing it)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse), str(seconds)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parent.parent)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_two_runs_on_one_warehouse_the_second_is_refused_naming_the_first(
        workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    holder = hold_lock(workspace.settings.warehouse)
    try:
        assert run_pipeline() is False
        printed = capsys.readouterr().out
        assert "cdp run refused" in printed and f"pid {holder.pid}" in printed and "cdp run (test holder)" in printed
        assert not workspace.settings.warehouse.exists(), "the refused run touched the warehouse"
        # the CLI says the same and exits 2 (cdp sync and cdp load take the same lock)
        cli = subprocess.run([sys.executable, "-m", "cdp.cli", "sync"], capture_output=True, text=True,
                             env=os.environ.copy(), cwd=Path(__file__).resolve().parent.parent)
        assert cli.returncode == 2 and f"pid {holder.pid}" in cli.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_run_killed_with_sigkill_releases_the_lock(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    holder = hold_lock(warehouse)
    with pytest.raises(RunLockHeld, match="cdp run \\(test holder\\)"), warehouse_run_lock(warehouse, "second"):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with warehouse_run_lock(warehouse, "after the crash"):
        assert "after the crash" in lock_path(warehouse).read_text()


def test_a_waiting_run_gets_the_lock_when_the_first_finishes(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    holder = hold_lock(warehouse, seconds=1.0)  # finishes on its own after a second
    started = time.monotonic()
    with warehouse_run_lock(warehouse, "patient", wait_seconds=60, poll_seconds=0.1):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.8 <= waited < 60


def test_a_huge_retry_after_stops_the_sync_at_once_and_the_next_run_resumes(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse)
    api = FakeApi(script=["429"], retry_after="100000")
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server, max_retry_after_seconds=5))
        started = time.monotonic()
        with pytest.raises(SyncError, match=r"asked to wait 100,000s.*max_retry_after_seconds of 5s.*next run"):
            sync(warehouse, config)
        assert time.monotonic() - started < 10
        assert sql(warehouse, "select status from ops.sync_runs") == [("interrupted",)]
        assert api.records == {}
        resumed = sync(warehouse, config)
        assert resumed.status == "succeeded"
        assert set(api.records) == eligible(warehouse) and set(api.applied.values()) == {1}


def test_credentials_in_a_destination_url_are_never_stored(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse, people=20)
    api = FakeApi()
    with FakeApiServer(api) as server:
        secret_url = server.url.replace("http://", "http://svc:hunter2@") + "/members?api_key=sk_live_42&list=7"
        config = config_for(http_destination(server, default_url=secret_url))
        assert sync(warehouse, config).status == "succeeded"
    stored = " ".join(str(v) for row in sql(warehouse, "select * from ops.sync_runs") for v in row)
    assert "hunter2" not in stored and "sk_live_42" not in stored
    assert "svc:***@" in stored and "api_key=***" in stored and "list=7" in stored


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_exports_are_safe_in_a_spreadsheet(tmp_path: Path, start: str) -> None:
    """OWASP CSV injection: a cell starting with a formula character is written with a leading quote."""
    value = f"{start}HYPERLINK(\"http://evil.example\",\"x\")"
    destination = FileDestination(tmp_path / "export.csv", "csv")
    rows = pa.table({"_member_key": ["k1", "k2"], "_payload": ["{}", "{}"], "first_name": [value, "Ann"],
                     "score": [-5, 3]})
    destination.open(rows.schema)
    destination.send("insert", rows, "key")
    destination.commit()
    with (tmp_path / "export.csv").open(newline="") as handle:
        read = list(csv.DictReader(handle))
    assert read[0]["first_name"] == "'" + value
    assert read[1]["first_name"] == "Ann"
    assert read[0]["score"] == "-5"  # numbers are numbers, not text


def test_a_pooled_bi_connection_sees_the_new_copy_after_reconnecting(workspace: Workspace) -> None:
    settings = get_settings()
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("create schema marts; create table marts.kpi as select 1 as version")
        publish_serving_copy(con, settings)
        pooled = duckdb.connect(str(settings.serving_warehouse), read_only=True)
        con.execute("update marts.kpi set version = 2")
        publish_serving_copy(con, settings)
    finally:
        con.close()
    try:
        # docs/bi.md's rule: an open connection keeps the copy it opened; a new one sees the new copy
        assert pooled.execute("select version from marts.kpi").fetchall() == [(1,)]
    finally:
        pooled.close()
    fresh = duckdb.connect(str(settings.serving_warehouse), read_only=True)
    try:
        assert fresh.execute("select version from marts.kpi").fetchall() == [(2,)]
    finally:
        fresh.close()


def test_a_missing_landing_folder_is_an_error_not_an_empty_load(workspace: Workspace,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    missing = workspace.root / "no_such_landing"
    monkeypatch.setenv("CDP_LANDING_DIR", str(missing))
    assert run_pipeline() is False
    assert f"the landing folder {missing} does not exist" in capsys.readouterr().out
    cli = subprocess.run([sys.executable, "-m", "cdp.cli", "load"], capture_output=True, text=True,
                         env=os.environ.copy(), cwd=Path(__file__).resolve().parent.parent)
    assert cli.returncode == 2 and "set CDP_LANDING_DIR" in cli.stderr


def test_a_missing_source_folder_warns_or_fails_as_configured(workspace: Workspace,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (workspace.landing / "events").mkdir()
    (workspace.landing / "events" / "a.ndjson").write_text(
        '{"type":"track","messageId":"m1","timestamp":"2026-10-01T00:00:00Z","anonymousId":"a","event":"x"}\n')
    results = workspace.load()
    assert results["events"].total("rows_loaded") == 1
    notice = [n.reason for n in results["consent"].notices]
    assert len(notice) == 1 and "the source folder consent/ does not exist" in notice[0]
    monkeypatch.setenv("CDP_MISSING_SOURCE_FOLDER", "error")
    cli = subprocess.run([sys.executable, "-m", "cdp.cli", "load"], capture_output=True, text=True,
                         env=os.environ.copy(), cwd=Path(__file__).resolve().parent.parent)
    assert cli.returncode == 2 and "crm_contacts/ does not exist" in cli.stderr
    assert "CDP_MISSING_SOURCE_FOLDER=error" in cli.stderr


@pytest.mark.parametrize("mode", ["upsert", "insert"])
def test_revoked_consent_reaches_the_destination_and_every_send_names_its_consent(tmp_path: Path, mode: str) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse, people=30)
    sql(warehouse, "alter table marts.dim_profiles add column email_marketing_consent_record_id varchar")
    sql(warehouse, "update marts.dim_profiles set email_marketing_consent_record_id = 'consent-' || profile_id "
                   "where email_marketing_consent <> 'unknown'")
    api = FakeApi()
    with FakeApiServer(api) as server:
        config = config_for(http_destination(server), mode=mode)
        assert sync(warehouse, config).status == "succeeded"
        sent = sql(warehouse, "select member_key, consent_record_id from ops.sync_log where status = 'sent'")
        assert len(sent) == len(eligible(warehouse)) > 0
        assert all(record == "consent-" + key for key, record in sent)
        held = sql(warehouse, "select member_key, consent_record_id from ops.sync_log where status = 'held_back' "
                              "and member_key = 'prf_00010'")
        assert held == [("prf_00010", "consent-prf_00010")]  # the revocation that withheld it

        # prf_00002 revokes; prf_00003 revokes and leaves the audience; prf_00004 only leaves it
        sql(warehouse, "update marts.dim_profiles set email_marketing_consent = 'revoked', "
                       "email_marketing_consent_record_id = 'revocation-' || profile_id "
                       "where profile_id in ('prf_00002', 'prf_00003')")
        sql(warehouse, "delete from audiences.aud_members where profile_id in ('prf_00003', 'prf_00004')")
        assert sync(warehouse, config).status == "succeeded"
    assert "prf_00002" not in api.records and "prf_00003" not in api.records
    assert "prf_00004" in api.records  # leaving an audience is not a revocation (only mirror mode removes it)
    deletes = sql(warehouse, "select member_key, reason from ops.sync_log where op = 'delete' and status = 'sent' "
                             "order by 1")
    assert [k for k, _ in deletes] == ["prf_00002", "prf_00003"]
    assert all("no granted consent for email_marketing" in reason or "held back" in reason for _, reason in deletes)


def test_a_destination_that_is_down_then_answers_garbage_loses_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse, people=40)
    api = FakeApi(script=["garbage", "garbage"])
    server = FakeApiServer(api)
    config = config_for(http_destination(server, max_attempts=2))
    # down: nothing listens on the destination's port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(SyncError, match="connection failed"):
        sync(warehouse, config_for(http_destination(server, max_attempts=2, default_url=dead)))
    assert sql(warehouse, "select status from ops.sync_runs") == [("interrupted",)]
    with server:
        # up, but answering a proxy's HTML page with 200: not counted as sent
        with pytest.raises(SyncError, match="not JSON"):
            sync(warehouse, config)
        assert api.records == {} and sql(warehouse, "select count(*) from ops.sync_state") == [(0,)]
        resumed = sync(warehouse, config)
    assert resumed.status == "succeeded" and resumed.plan.resumed
    assert set(api.records) == eligible(warehouse) and set(api.applied.values()) == {1}


READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("reading", flush=True)
time.sleep(60)
"""


def test_a_bi_reader_holding_the_warehouse_fails_the_load_clearly_and_loses_nothing(
        workspace: Workspace) -> None:
    (workspace.landing / "events").mkdir()
    (workspace.landing / "events" / "a.ndjson").write_text(
        '{"type":"track","messageId":"m1","timestamp":"2026-10-01T00:00:00Z","anonymousId":"a","event":"x"}\n')
    workspace.load()                                   # the warehouse exists
    reader = subprocess.Popen([sys.executable, "-c", READER, str(workspace.settings.warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        (workspace.landing / "events" / "b.ndjson").write_text(
            '{"type":"track","messageId":"m2","timestamp":"2026-10-01T00:00:00Z","anonymousId":"b","event":"x"}\n')
        blocked = subprocess.run([sys.executable, "-m", "cdp.cli", "load"], capture_output=True,
                                 text=True, env=os.environ.copy(), cwd=Path(__file__).resolve().parent.parent)
        assert blocked.returncode == 2 and "another process holds it" in blocked.stderr
    finally:
        reader.kill()
        reader.wait()
    results = workspace.load()
    assert results["events"].total("rows_loaded") == 1
    assert workspace.query("select count(*) from raw.events") == [(2,)]


def test_revoked_consent_can_reach_the_destination_as_an_unsubscribe_update(tmp_path: Path) -> None:
    """on_consent_revoked: {update: {subscribed: false}}: the record stays at the destination, flagged,
    once; a renewed consent sends the member as they are again."""
    warehouse = tmp_path / "cdp.duckdb"
    build_warehouse(warehouse, people=30)
    sql(warehouse, "alter table audiences.aud_members add column subscribed boolean default true")
    api = FakeApi()
    with FakeApiServer(api) as server:
        mapping = {"profile_id": "profile_id", "email": "email", "subscribed": "subscribed"}
        config = config_for(http_destination(server), mapping=mapping,
                            on_consent_revoked={"update": {"subscribed": False}})
        assert sync(warehouse, config).status == "succeeded"
        assert api.records["prf_00002"]["subscribed"] is True
        sql(warehouse, "update marts.dim_profiles set email_marketing_consent = 'revoked' "
                       "where profile_id = 'prf_00002'")
        revoked = sync(warehouse, config)
        assert revoked.plan.rows_changed == 1 and revoked.plan.rows_removed == 0
        assert api.records["prf_00002"] == {"profile_id": "prf_00002", "email": "person2@example.com",
                                            "subscribed": False}
        logged = sql(warehouse, "select op, status, reason from ops.sync_log where plan_id = ? and member_key = "
                                "'prf_00002' and status = 'sent'", [revoked.plan.plan_id])
        assert logged == [("upsert", "sent", "consent withdrawn for email_marketing: subscribed = false")]
        again = sync(warehouse, config)              # already unsubscribed: nothing more is sent
        assert again.plan.rows_changed == 0 and again.rows_sent == 0
        sql(warehouse, "update marts.dim_profiles set email_marketing_consent = 'granted' "
                       "where profile_id = 'prf_00002'")
        renewed = sync(warehouse, config)
        assert renewed.plan.rows_changed == 1 and api.records["prf_00002"]["subscribed"] is True
    assert set(api.applied.values()) >= {1}


def test_on_consent_revoked_is_checked_where_it_is_written() -> None:
    from reverse_etl.config import SyncConfigError

    with pytest.raises(SyncConfigError, match=r"on_consent_revoked\.update\.unsubscribed is not a mapped"):
        config_for({"kind": "http", "default_url": "http://127.0.0.1:9"},
                   on_consent_revoked={"update": {"unsubscribed": True}})
    with pytest.raises(SyncConfigError, match="must be `delete` or"):
        config_for({"kind": "http", "default_url": "http://127.0.0.1:9"}, on_consent_revoked="unsubscribe")
