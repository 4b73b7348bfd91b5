"""A load killed with SIGKILL part-way, and a load on a disk that fills up: what was committed stays
whole, nothing is half-loaded, the message says what to do, and the next run completes the rest.

The full disk is real: the warehouse lives on a 3 MB tmpfs mounted for the test (root only; skipped
elsewhere, never under CI=true).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE_LANDING, make_workspace
from tests.test_ingestion import assert_reconciles

pytestmark = pytest.mark.slow(seconds=85)
REPO = Path(__file__).resolve().parent.parent


def cdp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cdp.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=REPO, timeout=600)


def test_a_load_killed_midway_resumes_without_loss_or_double_load(generated: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ws = make_workspace(tmp_path, generated / "landing", monkeypatch)
    load = subprocess.Popen([sys.executable, "-m", "cdp.cli", "load"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), cwd=REPO)
    assert load.stdout is not None
    for line in load.stdout:  # kill it right after the first file committed
        if ": loaded, read " in line:
            break
    os.kill(load.pid, signal.SIGKILL)
    load.wait()
    committed = ws.query("select count(*) from ops.load_manifest")[0][0]
    total = sum(1 for p in (generated / "landing").rglob("*") if p.is_file())
    assert 1 <= committed < total
    assert_reconciles(ws)                 # what was committed is whole
    again = cdp("load")
    assert again.returncode == 0, again.stderr
    assert ws.query("select count(*) from ops.load_manifest")[0][0] == total
    assert ws.query("select count(*), count(distinct file_path) from ops.load_manifest")[0] == (total, total)
    assert_reconciles(ws)
    events = ws.query("select count(*), count(distinct message_id) from raw.events")[0]
    assert events[0] == events[1]          # no message loaded twice


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def test_a_full_disk_fails_the_load_clearly_and_the_next_run_completes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = tmp_path / "tiny"
    if not _mount_tmpfs(tiny, "3m"):
        if os.environ.get("CI") == "true":
            pytest.fail("cannot mount a tmpfs to fill a disk (run CI as root)")
        pytest.skip("mounting a tmpfs needs root")
    try:
        landing = tmp_path / "landing"
        shutil.copytree(SAMPLE_LANDING, landing)
        make_workspace(tmp_path, landing, monkeypatch)
        monkeypatch.setenv("CDP_WAREHOUSE", str(tiny / "cdp.duckdb"))
        full = cdp("load")
        assert full.returncode == 2
        assert "could not be written" in full.stderr and "Free space" in full.stderr
        assert "Traceback" not in full.stderr
        # more room: move the warehouse to a bigger disk and go on from where it stopped
        moved = tmp_path / "big" / "cdp.duckdb"
        moved.parent.mkdir()
        for part in tiny.glob("cdp.duckdb*"):
            if not part.name.endswith(".run.lock"):
                shutil.copy(part, moved.with_name(part.name))
        monkeypatch.setenv("CDP_WAREHOUSE", str(moved))
        again = cdp("load")
        assert again.returncode == 0, again.stderr
        files = sum(1 for p in landing.rglob("*") if p.is_file())
        con = duckdb.connect(str(moved), read_only=True)
        try:
            assert con.execute("select count(*), count(distinct file_path) from ops.load_manifest").fetchone() == (
                files, files)
            broken = con.execute("select count(*) from ops.load_manifest where rows_read <> "
                                 "rows_loaded + rows_quarantined + duplicates_skipped").fetchone()[0]
            assert broken == 0
            assert con.execute("select count(*), count(distinct message_id) from raw.events").fetchone()[0] > 20000
        finally:
            con.close()
    finally:
        time.sleep(0.2)
        subprocess.run(["umount", "-l", str(tiny)], capture_output=True)


def test_a_run_killed_during_the_dbt_build_recovers_on_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    ws = make_workspace(tmp_path, landing, monkeypatch)
    monkeypatch.setenv("CDP_RECORD_RUNS", "true")  # the killed run is recorded, and closed out by the next
    run = subprocess.Popen([sys.executable, "-m", "cdp.cli", "run"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), cwd=REPO,
                           start_new_session=True)
    assert run.stdout is not None
    for line in run.stdout:  # dbt is building models: kill the run and dbt with it
        if "sql table model" in line and "START" in line:
            break
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not ws.settings.serving_warehouse.exists()       # nothing half-built was published
    # the next run, in this process (as a schedule's would be in Dagster's)
    from orchestration.run import run_pipeline

    capsys.readouterr()
    ok = run_pipeline()
    again = capsys.readouterr().out
    assert ok, again[-3000:]
    assert "cdp run succeeded" in again
    # the killed run is closed out in the Dagster instance, not left "started" (nor holding a pool slot)
    assert re.search(r"^run \w{8} was interrupted \(its process stopped\); marked failed$", again, re.M)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(ws.settings.warehouse.parent / "dagster"),
                                        config_filename="cdp_run.yaml") as instance:
        assert sorted(r.status.value for r in instance.get_runs()) == ["FAILURE", "SUCCESS"]
    # every file once, and raw holds what was loaded less what erasure removed for deletion requests
    assert ws.query("select count(*) = count(distinct file_path) from ops.load_manifest") == [(True,)]
    kept = dict(ws.query("select source, sum(rows_loaded - coalesce(rows_erased, 0)) from ops.load_manifest "
                         "group by source"))
    assert kept["events"] == ws.query("select count(*) from raw.events")[0][0]
    assert kept["crm_contacts"] == ws.query("select count(*) from raw.crm_contacts")[0][0]
    assert ws.query("select count(*) from marts.dim_profiles")[0][0] > 1000
