"""Operations: the daily schedule, the landing sensor, retries and `dg dev` loading it all,
through Dagster's own testing APIs and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from cdp.settings import REPO_ROOT
from tests.conftest import Workspace


def test_daily_schedule_requests_the_whole_pipeline() -> None:
    from orchestration.definitions import defs
    from orchestration.schedules import daily_schedule

    assert daily_schedule.cron_schedule == "0 6 * * *" and daily_schedule.execution_timezone == "UTC"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance,
                                            scheduled_execution_time=datetime.now(UTC))
        data = daily_schedule.evaluate_tick(context)
    assert len(data.run_requests or []) == 1
    job = defs.resolve_job_def(daily_schedule.job_name)
    graph = defs.resolve_asset_graph()
    every = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert job.name == "cdp_pipeline" and set(job.asset_layer.selected_asset_keys) == every
    assert job.tags.get("dagster/max_retries") == "1"


def test_landing_sensor_starts_a_run_for_new_files_with_a_real_instance(sample_workspace: Workspace) -> None:
    from orchestration.schedules import landing_files_sensor

    with dg.instance_for_test() as instance:
        first = landing_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert [r.job_name or landing_files_sensor.job_name for r in first.run_requests] == ["cdp_pipeline"]
        cursor = first.cursor
        quiet = landing_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert quiet.run_requests == [] and "no change" in (quiet.skip_message or "")
        (sample_workspace.landing / "ad_spend" / "late.csv").write_text(
            "date,channel,spend\n2026-11-02,paid_search,10.00\n")
        again = landing_files_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
        assert len(again.run_requests) == 1 and again.cursor != cursor


def test_warehouse_steps_retry_transient_failures_but_gates_do_not() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in (["raw", "events"], ["privacy", "erasure"], ["reverse_etl", "recent_form_submitters_csv"],
                ["serving", "warehouse_copy"]):
        policy = graph.get(dg.AssetKey(key)).assets_def.op.retry_policy
        assert policy is not None and policy.max_retries == 2, key
    dbt_node = graph.get(dg.AssetKey(["marts", "dim_profiles"])).assets_def.op
    assert dbt_node.retry_policy is None, "a failed dbt test must not rebuild the warehouse again"
    instance_config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert instance_config["run_retries"] == {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}
    assert instance_config["concurrency"]["pools"]["default_limit"] == 1


def test_dagster_loads_every_asset_check_schedule_and_sensor(tmp_path: Path) -> None:
    """What `cdp dev` (`dg dev`) does first: load the code location pyproject.toml's [tool.dg] names
    and validate it."""
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run([str(Path(sys.executable).with_name("dg")), "check", "defs"],
                          cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(home), "VIRTUAL_ENV": sys.prefix},
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_every_shipped_expectation_is_one_great_expectations_knows() -> None:
    """The suites load without GX (process start stays fast); their names are checked against GX here
    and by each validator before it validates, naming the file and the rule."""
    import pytest

    from cdp.quality.expectations import (
        SUITES_FILE,
        SuiteConfigError,
        check_expectation_names,
        load_suites,
        parse_suites,
    )
    from orchestration.assets.gates import MART_SUITES_FILE

    for path in (SUITES_FILE, MART_SUITES_FILE):
        suites = load_suites(path, check_names=False)
        assert sum(len(s.rules) for s in suites.sources.values()) >= 5
        check_expectation_names(suites, str(path))
    typo = parse_suites({"sources": {"spend": {"columns": {"spend": "double"}, "expectations": [
        {"expectation": "expect_column_values_to_be_betwen", "kwargs": {"column": "spend"}}]}}},
        "typo.yml", check_names=False)
    with pytest.raises(SuiteConfigError, match=r"typo.yml: sources.spend.expectations\[1\].*betwen"):
        check_expectation_names(typo, "typo.yml")


def test_gates_file_is_typed_and_its_mistakes_name_the_key(tmp_path: Path) -> None:
    """gates.yml is read through its models: every shipped gate loads; a severity that is neither error
    nor warn, a negative share, a missing threshold and a misspelt key are each named."""
    import pytest

    from cdp.gate_thresholds import GatesConfigError, gate, load_gates
    from cdp.settings import get_settings

    shipped = get_settings().gates_file
    assert gate("audiences", "size_change", shipped)["max_drop_share"] == yaml.safe_load(
        shipped.read_text())["audiences"]["size_change"]["max_drop_share"]
    raw = yaml.safe_load(shipped.read_text())
    raw["raw"]["volume"]["severity"] = "fatal"
    raw["audiences"]["size_change"]["max_drop_share"] = -0.5
    raw["audiences"]["size_change"].pop("min_previous_members")
    raw["audiences"]["consent_present"]["sevrity"] = "warn"
    broken = tmp_path / "gates.yml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(GatesConfigError) as error:
        load_gates(broken)
    message = str(error.value)
    assert f"{broken}: raw.volume.severity must be one of 'error' or 'warn', got 'fatal'" in message
    assert "audiences.size_change.max_drop_share must be at least 0, got -0.5" in message
    assert "audiences.size_change lacks 'min_previous_members'" in message
    assert "audiences.consent_present: unknown key 'sevrity'" in message

    raw = yaml.safe_load(shipped.read_text())
    raw["identity"]["largest_profile"]["max_identifiers"] = 0
    raw["raw"]["quarantine_rate"]["max_share"] = 1.5
    raw["reverse_etl"]["guardrails"].pop("history_runs")
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(GatesConfigError) as error:
        load_gates(broken)
    message = str(error.value)
    assert "identity.largest_profile.max_identifiers must be at least 1, got 0" in message
    assert "raw.quarantine_rate.max_share must be at most 1, got 1.5" in message
    assert "reverse_etl.guardrails lacks 'history_runs'" in message


def test_every_gate_threshold_comes_from_gates_yml(tmp_path: Path, monkeypatch) -> None:
    """One file holds the thresholds: a changed gates.yml changes the raw quarantine limit, the identity
    thresholds dbt is given and every sync's guardrails (a sync's own key still wins); the two
    environment overrides replace their one threshold for a run."""
    import json

    from cdp.gate_thresholds import dbt_gates_json, gates_in_force, max_quarantine_rate
    from cdp.settings import get_settings
    from reverse_etl.config import parse_sync_config

    raw = yaml.safe_load(get_settings().gates_file.read_text())
    raw["raw"]["quarantine_rate"]["max_share"] = 0.2
    raw["identity"]["largest_profile"]["max_identifiers"] = 77
    raw["reverse_etl"]["guardrails"]["max_delete_share"] = 0.6
    raw["reverse_etl"]["guardrails"]["min_change_rows"] = 12
    changed = tmp_path / "gates.yml"
    changed.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("CDP_GATES_FILE", str(changed))
    settings = get_settings()
    assert max_quarantine_rate(settings) == (0.2, "gates.yml raw.quarantine_rate")
    assert json.loads(dbt_gates_json(settings))["largest_profile"]["max_identifiers"] == 77
    syncs = parse_sync_config({"destinations": {"files": {"kind": "file"}}, "suppression": [], "syncs": {
        "plain": {"audience": "aud_a", "destination": "files", "mode": "mirror", "key": "profile_id",
                  "mapping": {"profile_id": "profile_id"}, "consent_purpose": "none", "consent_reason": "test",
                  "options": {"path": "a.csv"}},
        "own": {"audience": "aud_a", "destination": "files", "mode": "mirror", "key": "profile_id",
                "mapping": {"profile_id": "profile_id"}, "consent_purpose": "none", "consent_reason": "test",
                "options": {"path": "b.csv"}, "guardrails": {"max_delete_share": 0.1}}}}, Path("syncs.yml"))
    plain, own = syncs.syncs["plain"].guardrails, syncs.syncs["own"].guardrails
    assert (plain.max_delete_share, plain.min_change_rows) == (0.6, 12)
    assert (own.max_delete_share, own.min_change_rows) == (0.1, 12)

    monkeypatch.setenv("CDP_MAX_QUARANTINE_RATE", "0.01")
    monkeypatch.setenv("CDP_IDENTITY_MAX_CLUSTER_SIZE", "9")
    settings = get_settings()
    assert max_quarantine_rate(settings) == (0.01, "CDP_MAX_QUARANTINE_RATE")
    assert json.loads(dbt_gates_json(settings))["largest_profile"]["max_identifiers"] == 9
    shown = {path: (value, source) for path, value, source in gates_in_force(settings)}
    assert shown["identity.largest_profile.max_identifiers"] == (9, "CDP_IDENTITY_MAX_CLUSTER_SIZE")
    assert shown["reverse_etl.guardrails.max_delete_share"] == (0.6, "gates.yml")
