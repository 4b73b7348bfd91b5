"""Activation rules on hand-made people (reverse_etl/activation.py): a priority list, a frequency cap
that holds the fourth email of a week, and a holdout whose membership is stable and never sent.
The warehouse is test_reverse_etl's: prf_00000.. with email consent granted except every i % 10 in
(0, 1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from reverse_etl.config import SyncConfig, SyncConfigError, parse_sync_config
from reverse_etl.sync import run_sync
from tests.test_reverse_etl import build_warehouse, eligible, sql

MAPPING = {"profile_id": "profile_id", "email": "email", "first_name": "first_name"}


def _config(**extra: object) -> SyncConfig:
    syncs = extra.pop("syncs", {})
    member_sync = {"audience": "aud_members", "destination": "files", "mode": "mirror", "key": "profile_id",
                   "consent_purpose": "email_marketing", "channel": "email", "mapping": MAPPING,
                   "options": {"path": "members.csv", "format": "csv"}, **extra.pop("members", {})}
    return parse_sync_config({"destinations": {"files": {"kind": "file"}}, "suppression": ["aud_suppression"],
                              "syncs": {"members": member_sync, **syncs}, **extra}, Path("test-syncs.yml"))


def _run(path: Path, config: SyncConfig, name: str = "members"):
    con = duckdb.connect(str(path))
    try:
        return run_sync(con, config.syncs[name], config, path.parent / "exports", progress=lambda _m: None)
    finally:
        con.close()


def _sent(path: Path, sync_name: str = "members") -> set[str]:
    return {r[0] for r in sql(path, "select member_key from ops.sync_state where sync_name = ?", [sync_name])}


def _held(path: Path, sync_name: str = "members") -> dict[str, str]:
    """Who the sync's latest plan held back, and why."""
    return dict(sql(path, """select member_key, reason from ops.sync_log where sync_name = ? and status = 'held_back'
                             and plan_id = (select plan_id from ops.sync_plans where sync_name = ?
                                            order by planned_at desc limit 1)""",
                    [sync_name, sync_name]))


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    build_warehouse(path, people=200)
    return path


def test_a_person_in_a_higher_priority_audience_syncs_only_there(warehouse: Path) -> None:
    sql(warehouse, "create table audiences.aud_vip as select profile_id, email, first_name from audiences.aud_members "
                   "where profile_id in ('prf_00002', 'prf_00003', 'prf_00010')")
    config = _config(priorities={"email_programs": ["aud_vip", "aud_members"]}, syncs={"vip": {
        "audience": "aud_vip", "destination": "files", "mode": "mirror", "key": "profile_id",
        "consent_purpose": "email_marketing", "channel": "email", "mapping": MAPPING,
        "options": {"path": "vip.csv", "format": "csv"}}})
    _run(warehouse, config)
    _run(warehouse, config, "vip")
    assert _sent(warehouse) == eligible(warehouse) - {"prf_00002", "prf_00003"}
    assert _sent(warehouse, "vip") == {"prf_00002", "prf_00003"}   # prf_00010 revoked its consent
    held = _held(warehouse)
    for person in ("prf_00002", "prf_00003"):
        assert held[person] == "priority: also in aud_vip, ranked above aud_members in priority list email_programs"
    assert held["prf_00010"].startswith("no granted consent"), "consent decides before priority"
    assert _held(warehouse, "vip").keys() == {"prf_00010"}, "the top of the list is held by nothing above it"


def test_a_frequency_cap_holds_the_fourth_email_of_a_week_without_removing_anyone(warehouse: Path) -> None:
    config = _config(frequency_caps=[{"channel": "email", "max_sends": 3, "window_days": 7}],
                     syncs={"newsletter": {"audience": "aud_members", "destination": "files", "mode": "mirror",
                                           "key": "profile_id", "consent_purpose": "email_marketing",
                                           "channel": "email", "mapping": MAPPING,
                                           "options": {"path": "newsletter.csv", "format": "csv"}}})
    _run(warehouse, config)                      # one email each
    assert "prf_00002" in _sent(warehouse)
    # two newsletters this week to prf_00002 (three emails), one this week and one nine days ago to prf_00003
    sends = [("p1", "prf_00002", "upsert", 2), ("p2", "prf_00002", "upsert", 1), ("p1", "prf_00003", "upsert", 2),
             ("p0", "prf_00003", "upsert", 9), ("p0", "prf_00004", "delete", 0)]
    for plan, person, op, days_ago in sends:
        sql(warehouse, "insert into ops.sync_log (sync_name, plan_id, member_key, profile_id, op, status, reason, "
                       "logged_at) values ('newsletter', ?, ?, ?, ?, 'sent', 'new member', now() - to_days(?))",
            [plan, person, person, op, days_ago])
    sql(warehouse, "update audiences.aud_members set first_name = first_name || ' (new)' "
                   "where profile_id in ('prf_00002', 'prf_00003', 'prf_00004')")
    before = dict(sql(warehouse, "select member_key, row_hash from ops.sync_state where sync_name = 'members'"))
    _run(warehouse, config)                      # the fourth email to prf_00002 in seven days is held
    held = _held(warehouse)
    assert held == {**{p: held[p] for p in held if not held[p].startswith("frequency cap")},
                    "prf_00002": "frequency cap: 3 email sends in the last 7 days (at most 3)"}
    after = dict(sql(warehouse, "select member_key, row_hash from ops.sync_state where sync_name = 'members'"))
    assert after["prf_00002"] == before["prf_00002"], "held for this run: not sent, and not removed"
    assert after["prf_00003"] != before["prf_00003"] and after["prf_00004"] != before["prf_00004"]
    assert not sql(warehouse, "select * from ops.sync_log where sync_name = 'members' and op = 'delete'")


def _control(profile: str, experiment: str, share: float) -> bool:
    """The published rule: MD5 of '<profile>:<experiment>' as a little-endian integer, mod 10,000."""
    bucket = int.from_bytes(hashlib.md5(f"{profile}:{experiment}".encode()).digest(), "little") % 10_000
    return bucket < round(share * 10_000)


def test_holdout_members_are_stable_across_reruns_and_never_sent(warehouse: Path) -> None:
    config = _config(members={"holdout": {"experiment": "welcome_2026", "share": 0.2}})
    _run(warehouse, config)
    people = eligible(warehouse)
    control = {p for p in people if _control(p, "welcome_2026", 0.2)}
    assert 20 <= len(control) <= 60, "about a fifth of 160 eligible people"
    assert _sent(warehouse) == people - control
    assert {p for p, r in _held(warehouse).items() if r == "holdout: control group of experiment welcome_2026"} \
        == control
    first = dict(sql(warehouse, "select profile_id, variant || ' ' || assigned_at from ops.holdout_assignments"))
    assert {p for p, v in first.items() if v.startswith("control")} == control and first.keys() == people

    # a rerun with more people: everyone keeps their variant and first assignment; control is never sent
    sql(warehouse, "insert into audiences.aud_members select 'prf_9' || lpad(i::varchar, 4, '0'), 'new' || i || "
                   "'@example.com', 'New', 0, now() from range(100) as r(i)")
    sql(warehouse, "insert into marts.dim_profiles select 'prf_9' || lpad(i::varchar, 4, '0'), 'granted', 'unknown', "
                   "'granted', 'unknown' from range(100) as r(i)")
    _run(warehouse, config)
    second = dict(sql(warehouse, "select profile_id, variant || ' ' || assigned_at from ops.holdout_assignments"))
    assert {p: second[p] for p in first} == first
    everyone = eligible(warehouse)
    assert {p for p, v in second.items() if v.startswith("control")} == {
        p for p in everyone if _control(p, "welcome_2026", 0.2)}
    assert not _sent(warehouse) & {p for p in everyone if _control(p, "welcome_2026", 0.2)}
    # another experiment draws another group
    assert control != {p for p in people if _control(p, "spring_2026", 0.2)}


def test_activation_rule_errors_name_the_key() -> None:
    with pytest.raises(SyncConfigError, match=r"syncs\.members\.holdout\.share must be above 0 and at most 0\.5"):
        _config(members={"holdout": {"experiment": "x", "share": 0.9}})
    with pytest.raises(SyncConfigError, match=r"aud_a is in both first and second"):
        _config(priorities={"first": ["aud_a", "aud_b"], "second": ["aud_a", "aud_c"]})
    with pytest.raises(SyncConfigError, match=r"frequency_caps\[0\] lacks 'window_days'"):
        _config(frequency_caps=[{"channel": "email", "max_sends": 3}])


def test_dry_run_shows_rows_of_each_action_even_before_the_destination_is_configured(
        warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import yaml

    from cdp.cli import main

    sql(warehouse, "create table audiences.aud_vip as select profile_id, email, first_name "
                   "from audiences.aud_members where profile_id = 'prf_00005'")
    syncs_file = tmp_path / "syncs.yml"
    syncs_file.write_text(yaml.safe_dump({
        "destinations": {"crm": {"kind": "http", "url_env": "CDP_TEST_UNSET_CRM_URL"}},
        "suppression": ["aud_suppression"], "priorities": {"programs": ["aud_vip", "aud_members"]},
        "syncs": {"members_api": {"audience": "aud_members", "destination": "crm", "mode": "upsert",
                                  "key": "profile_id", "consent_purpose": "email_marketing", "mapping": MAPPING,
                                  "holdout": {"experiment": "welcome_2026", "share": 0.2}}}}))
    monkeypatch.delenv("CDP_TEST_UNSET_CRM_URL", raising=False)
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CDP_SYNCS_FILE", str(syncs_file))
    monkeypatch.setenv("CDP_EXPORT_DIR", str(tmp_path / "exports"))
    assert main(["sync", "members_api", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    people = eligible(warehouse)
    control = {p for p in people if _control(p, "welcome_2026", 0.2)}
    assert f"plan -> crm (not configured): {len(people - control - {'prf_00005'})} adds" in printed
    lines = [line.split() for line in printed.splitlines() if line.startswith("      ")]
    adds = [words[1] for words in lines if words[0] == "add"]
    assert adds == sorted(people - control - {"prf_00005"})[:3]
    held = {words[2]: " ".join(words[3:]) for words in lines if words[:2] == ["held", "back"]}
    assert len(held) == 3 and all(reason for reason in held.values())
    assert '"email":"person2@example.com"' in printed, "an add shows the payload it would send"
    # nothing was sent, logged, kept or assigned
    assert sql(warehouse, "select count(*) from ops.sync_log") == [(0,)]
    assert sql(warehouse, "select count(*) from ops.holdout_assignments") == [(0,)]
    assert sql(warehouse, "select status from ops.sync_plans") == [("discarded",)]
