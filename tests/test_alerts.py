"""Alerts on state changes, sent to a local Slack-style webhook and a local SMTP server: once when a
step starts failing, not again while it keeps failing, once when it recovers; from `cdp run`'s events
and from the Dagster sensor over an instance's runs."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from cdp.alerting import StepOutcome, transitions
from orchestration.alert_sensor import alerts_sensor, notify_run, outcomes_from_events

# ------------------------------------------------------------------------------------------- servers


class _Webhook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost test SMTP\r\n")
        envelope: dict = {"to": []}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 localhost\r\n")
            elif verb == "MAIL":
                envelope["from"] = command.split(":", 1)[1].strip(" <>")
                self.wfile.write(b"250 OK\r\n")
            elif verb == "RCPT":
                envelope["to"].append(command.split(":", 1)[1].strip(" <>"))
                self.wfile.write(b"250 OK\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 end with .\r\n")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                envelope["message"] = message_from_bytes(data)
                self.server.received.append(envelope)  # type: ignore[attr-defined]
                envelope = {"to": []}
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list, list]]:
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    webhook.received, smtp.received = [], []  # type: ignore[attr-defined]
    for server in (webhook, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "warehouse" / "cdp.duckdb"))
    monkeypatch.setenv("CDP_ALERT_SLACK_WEBHOOK_URL", f"http://127.0.0.1:{webhook.server_address[1]}/hooks/T/B/X")
    monkeypatch.setenv("CDP_ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CDP_ALERT_SMTP_PORT", str(smtp.server_address[1]))
    monkeypatch.setenv("CDP_ALERT_EMAIL_TO", "ops@example.com, oncall@example.com")
    try:
        yield webhook.received, smtp.received  # type: ignore[attr-defined]
    finally:
        webhook.shutdown()
        smtp.shutdown()


# ------------------------------------------------------------------------------------------ the rule


def test_one_alert_per_state_change_and_one_on_recovery() -> None:
    states: dict[str, bool] = {}
    sequence = [
        ([StepOutcome("reverse_etl__crm", False)], []),                                   # first seen, fine
        ([StepOutcome("reverse_etl__crm", True, "HTTP 500")], ["FAILED: sync crm"]),
        ([StepOutcome("reverse_etl__crm", True, "HTTP 500")], []),                        # still failing
        ([], []),                                                                         # skipped: no news
        ([StepOutcome("reverse_etl__crm", False)], ["RECOVERED: sync crm"]),
        ([StepOutcome("reverse_etl__crm", False)], []),
        ([StepOutcome("raw__events", True, "gate"), StepOutcome("cdp_dbt_models", False)],
         ["FAILED: load and gates of raw/events"]),
    ]
    for outcomes, expected in sequence:
        alerts, states = transitions(states, outcomes, "run")
        assert [a.title for a in alerts] == expected


# ------------------------------------------------------------------------------- from Dagster's runs

BROKEN = {"now": True}


@dg.asset(key=dg.AssetKey(["reverse_etl", "crm"]))
def crm_sync() -> dg.MaterializeResult:
    if BROKEN["now"]:
        raise dg.Failure("sync crm blocked by guardrails, nothing sent: delete_share: 60 of 100 <b>rows</b>")
    return dg.MaterializeResult(metadata={"status": "succeeded", "rows_failed": 0})


@dg.asset(key=dg.AssetKey(["reverse_etl", "ads"]))
def ads_sync() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": "partial", "rows_failed": 3})


def _run(instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("cdp_pipeline")
    defs = dg.Definitions(assets=[crm_sync, ads_sync], jobs=[job])
    return defs.resolve_job_def("cdp_pipeline").execute_in_process(instance=instance, raise_on_error=False)


def test_a_run_alerts_slack_and_email_once_per_change(channels: tuple[list, list]) -> None:
    slack, mail = channels
    BROKEN["now"] = True
    first = _run()
    assert {(o.step_key, o.failed) for o in outcomes_from_events(first.all_events)} == {
        ("reverse_etl__crm", True), ("reverse_etl__ads", True)}
    assert [a.title for a in notify_run(first.all_events, first.run_id)] == ["FAILED: sync ads", "FAILED: sync crm"]
    assert len(slack) == 1 and len(mail) == 1
    text = slack[0]["blocks"][0]["text"]["text"]
    assert "FAILED: sync crm" in text and "delete_share: 60 of 100" in text and "partial: 3 rows failed" in text
    assert "&lt;b&gt;rows&lt;/b&gt;" in text and "<b>" not in text, "data never becomes Slack markup"
    assert slack[0]["blocks"][0]["type"] == "section" and slack[0]["text"].startswith("cdp: 2 state change(s)")
    assert mail[0]["to"] == ["ops@example.com", "oncall@example.com"]
    assert mail[0]["message"]["Subject"] == "[cdp] FAILED: sync ads (+1 more)"

    again = _run()                                      # still failing: nothing new
    assert notify_run(again.all_events, again.run_id) == [] and len(slack) == len(mail) == 1

    BROKEN["now"] = False
    fixed = _run()
    assert [a.title for a in notify_run(fixed.all_events, fixed.run_id)] == ["RECOVERED: sync crm"]
    assert len(slack) == len(mail) == 2 and "RECOVERED: sync crm" in mail[1]["message"].get_payload()


def test_the_sensor_handles_each_finished_pipeline_run_once(channels: tuple[list, list]) -> None:
    slack, _ = channels
    with dg.instance_for_test() as instance:
        BROKEN["now"] = True
        _run(instance)
        BROKEN["now"] = False
        _run(instance)
        context = dg.build_sensor_context(instance=instance)
        result = alerts_sensor(context)
        assert "2 run(s) handled, 3 state change(s)" in str(result.skip_message)
        titles = [line for message in slack for line in message["blocks"][0]["text"]["text"].splitlines()
                  if line.startswith(("FAILED", "RECOVERED"))]
        assert [t.split(" (run")[0] for t in titles] == ["FAILED: sync ads", "FAILED: sync crm", "RECOVERED: sync crm"]
        again = alerts_sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))
        assert "no finished pipeline run" in str(again.skip_message) and len(slack) == 2
