"""Alerts on state changes: what failed in a run (a gate, a sync that was blocked, partial or failed,
the dbt build) and what recovered, sent to the channels of cdp/alerts.yml (a Slack
incoming webhook, email over SMTP). A subject alerts once when it starts failing and once when it
recovers; the last state of each subject is kept in `alert_state.json` beside the warehouse, so
`cdp run` and the Dagster sensor share it. No Dagster here: callers pass what each step did."""

from __future__ import annotations

import json
import os
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import yaml

from cdp.settings import Settings

KINDS = ("slack_webhook", "email")


class AlertConfigError(ValueError):
    """alerts.yml is wrong; the message names the entry and key."""


@dataclass(frozen=True)
class StepOutcome:
    """What one step of a run did: failed (with the error) or succeeded. Skipped steps are left out."""

    step_key: str
    failed: bool
    detail: str = ""


@dataclass(frozen=True)
class Alert:
    subject: str
    failed: bool          # True: started failing; False: recovered
    detail: str
    run_id: str

    @property
    def title(self) -> str:
        return f"{'FAILED' if self.failed else 'RECOVERED'}: {self.subject}"


def subject_of(step_key: str) -> str:
    """A step key as people name the thing: `reverse_etl__x` -> sync x, `raw__x` -> load and gates of x."""
    if step_key.startswith("reverse_etl__"):
        return f"sync {step_key.removeprefix('reverse_etl__')}"
    if step_key.startswith("raw__"):
        return f"load and gates of raw/{step_key.removeprefix('raw__')}"
    if step_key.startswith("cdp_dbt_models"):
        return "dbt build and tests"
    return step_key.replace("__", "/")


def transitions(previous: dict[str, bool], outcomes: list[StepOutcome], run_id: str) -> tuple[list[Alert],
                                                                                              dict[str, bool]]:
    """The alerts a run's outcomes cause against the previous states, and the new states. A subject
    alerts when it fails and did not already (first sight included) and when it succeeds after failing."""
    state = dict(previous)
    alerts: list[Alert] = []
    by_subject: dict[str, StepOutcome] = {}
    for outcome in outcomes:  # a subject made of several steps fails when any of them does
        subject = subject_of(outcome.step_key)
        if subject not in by_subject or outcome.failed:
            by_subject[subject] = outcome
    for subject, outcome in sorted(by_subject.items()):
        was_failing = state.get(subject, False)
        if outcome.failed and not was_failing:
            alerts.append(Alert(subject, True, outcome.detail, run_id))
        elif not outcome.failed and was_failing:
            alerts.append(Alert(subject, False, "", run_id))
        state[subject] = outcome.failed
    return alerts, state


@dataclass(frozen=True)
class Channel:
    kind: str
    settings: dict[str, Any]

    def _env(self, key: str) -> str:
        name = self.settings.get(key)
        return (os.environ.get(name) or "").strip() if name else ""

    @property
    def configured(self) -> bool:
        if self.kind == "slack_webhook":
            return bool(self._env("url_env"))
        return bool(self._env("host_env") and self._env("to_env"))

    def send(self, alerts: list[Alert]) -> None:
        if self.kind == "slack_webhook":
            _send_slack(self._env("url_env"), alerts)
        else:
            recipients = [a.strip() for a in self._env("to_env").split(",") if a.strip()]
            _send_email(self._env("host_env"), int(self._env("port_env") or 25), str(self.settings.get("from")),
                        recipients, alerts, bool(self.settings.get("starttls")), self._env("user_env"),
                        self._env("password_env"))


def load_channels(path: Path) -> list[Channel]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AlertConfigError(f"{path}: cannot read the alert channels: {exc}") from None
    channels = []
    for i, entry in enumerate(raw.get("channels") or []):
        where = f"{path}: channels[{i}]"
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise AlertConfigError(f"{where}.kind must be one of {KINDS}, got {entry!r}")
        needed = ("url_env",) if entry["kind"] == "slack_webhook" else ("host_env", "to_env", "from")
        missing = [k for k in needed if not entry.get(k)]
        if missing:
            raise AlertConfigError(f"{where} ({entry['kind']}) lacks {', '.join(missing)}")
        channels.append(Channel(entry["kind"], {k: v for k, v in entry.items() if k != "kind"}))
    return channels


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters (its formatting guide): data never becomes a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _describe(alert: Alert) -> str:
    line = f"{alert.title} (run {alert.run_id[:8]})"
    return f"{line}\n{alert.detail[:1500]}" if alert.detail else line


def _send_slack(url: str, alerts: list[Alert]) -> None:
    text = "\n\n".join(_slack_escape(_describe(a)) for a in alerts)
    payload = {"text": f"cdp: {len(alerts)} state change(s)\n{text}",
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]}
    response = httpx.post(url, json=payload, timeout=10)
    response.raise_for_status()


def _send_email(host: str, port: int, sender: str, recipients: list[str], alerts: list[Alert], starttls: bool,
                user: str, password: str) -> None:
    message = EmailMessage()
    message["Subject"] = f"[cdp] {alerts[0].title}" + (f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else "")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content("\n\n".join(_describe(a) for a in alerts) + "\n")
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        if starttls:
            smtp.starttls()
        if user:
            smtp.login(user, password)
        smtp.send_message(message)


def state_path(settings: Settings) -> Path:
    return settings.warehouse.parent / "alert_state.json"


def notify(settings: Settings, alerts_file: Path, outcomes: list[StepOutcome], run_id: str) -> list[Alert]:
    """Compare a finished run with the kept states, send what changed to every configured channel,
    keep the new states. Returns the alerts (sent or not: with no channel configured, they are only
    recorded). A channel that cannot be reached is reported and does not fail the caller."""
    path = state_path(settings)
    previous = json.loads(path.read_text()).get("failing", {}) if path.exists() else {}
    alerts, state = transitions(previous, outcomes, run_id)
    problems = []
    if alerts:
        for channel in load_channels(alerts_file):
            if channel.configured:
                try:
                    channel.send(alerts)
                except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
                    problems.append(f"{channel.kind}: {exc}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"failing": state, "updated_at": datetime.now(UTC).isoformat(),
                                "last_run": run_id, "delivery_problems": problems}, indent=2) + "\n")
    if problems:
        print("alerts not delivered: " + "; ".join(problems))
    return alerts
