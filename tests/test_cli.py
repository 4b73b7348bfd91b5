"""The `cdp` command: its subcommands run, and mistakes end with a message instead of a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp.cli import main
from tests.conftest import GoodRun, Workspace


def test_generate_then_refuse_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["generate", "--people", "40", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "landing" / "events").is_dir()
    assert main(["generate", "--people", "40", "--seed", "3", "--out", str(tmp_path)]) == 2
    assert "cdp generate:" in capsys.readouterr().err


def test_load_and_status(sample_workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    assert main(["status"]) == 0
    assert "No warehouse" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "no_warehouse"
    assert main(["load"]) == 0
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    events = sample_workspace.query("select count(*) from raw.events")[0][0]
    assert events > 0
    assert any(line.split()[:2] == ["raw.events", f"{events:,}"] for line in out.splitlines())


def test_status_json_is_what_the_warehouse_holds(sample_good_run: GoodRun, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    """`cdp status --json` is one JSON document a script can act on, with the same facts as the text."""
    import yaml

    ws = sample_good_run.workspace(tmp_path, monkeypatch)
    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["state"] == "loaded"
    assert report["last_run"]["outcome"] == "published" and report["last_run"]["checks_failed"] == 0
    tables = {(t["schema"], t["table"]): t["rows"] for t in report["tables"]}
    assert tables[("raw", "events")] == ws.query("select count(*) from raw.events")[0][0]
    assert tables[("marts", "dim_profiles")] == ws.query("select count(*) from marts.dim_profiles")[0][0]
    quarantined = dict(ws.query("select source, count(*) from ops.quarantine group by source"))
    assert {q["source"]: q["rows"] for q in report["quarantine"]} == quarantined
    syncs = yaml.safe_load((Path(__file__).parents[1] / "reverse_etl" / "syncs.yml").read_text())["syncs"]
    assert {s["sync_name"] for s in report["syncs"]} == set(syncs)
    assert report["identity"]["profiles"] == ws.query(
        "select profiles from marts.identity_health order by run_at desc limit 1")[0][0]
    assert [c["severity"] for c in report["failing_checks"]] == ["warn"]  # the sample's planted orphan
    assert set(report["freshness"]) >= {"raw", "staging", "marts", "serving copy"}
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert f"{report['last_run']['checks_passed']} checks passed" in text


def test_outputs_live_beside_the_warehouse_they_belong_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cdp.settings import dagster_home, get_settings

    for name in ("CDP_SERVING_WAREHOUSE", "CDP_EXPORT_DIR", "CDP_GX_DIR", "CDP_DASHBOARD_DIR", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "elsewhere" / "cdp.duckdb"))
    settings = get_settings()
    beside = tmp_path / "elsewhere"
    assert (settings.serving_warehouse, settings.export_dir, settings.gx_dir, settings.dashboard_dir,
            dagster_home(settings)) == (beside / "cdp_serving.duckdb", beside / "exports", beside / "gx",
                                        beside / "dashboard", beside / "dagster")
    monkeypatch.setenv("CDP_EXPORT_DIR", str(tmp_path / "exports"))
    assert get_settings().export_dir == tmp_path / "exports"


def test_wrong_settings_are_named_with_what_they_must_be(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings are typed: each wrong variable is named, with what it must hold."""
    from cdp.settings import get_settings

    assert get_settings().dbt_target == "duckdb"
    for name, value in {"CDP_TARGET": "oracle", "CDP_DUCKDB_THREADS": "two", "CDP_MAX_QUARANTINE_RATE": "1.5",
                        "CDP_RECORD_RUNS": "maybe", "CDP_MISSING_SOURCE_FOLDER": "ignore"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as error:
        get_settings()
    message = str(error.value)
    assert "CDP_TARGET must be one of 'duckdb', 'postgres' or 'spark', got 'oracle'" in message
    assert "CDP_DUCKDB_THREADS must be a whole number of threads" in message
    assert "CDP_MAX_QUARANTINE_RATE must be at most 1, got '1.5'" in message
    assert "CDP_RECORD_RUNS must be true or false, got 'maybe'" in message
    assert "CDP_MISSING_SOURCE_FOLDER must be one of 'warn' or 'error', got 'ignore'" in message
