"""Gates that really gate: poisoned input fails the run naming the check, nothing is sent, and the
BI serving copy stays byte for byte what it was; the serving copy stays readable while a run writes.

One good run over the bundled sample is made once (the session's `sample_good_run`); every test works on its own
copy of that warehouse, serving copy, exports and landing zone, poisons one thing, runs the whole
pipeline again and checks what happened.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cdp.settings import REPO_ROOT
from orchestration.run import run_pipeline
from tests.conftest import GoodRun, Workspace

pytestmark = pytest.mark.slow(seconds=250)

DBT_PROJECT = REPO_ROOT / "dbt_project"


@pytest.fixture
def after_good_run(sample_good_run: GoodRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    return sample_good_run.workspace(tmp_path, monkeypatch)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(ws: Workspace) -> dict:
    """What must not change when a gate fails: the serving copy, every export, what syncs sent."""
    exports = {p.name: sha256(p) for p in sorted(ws.settings.export_dir.iterdir()) if p.is_file()}
    return {
        "serving": sha256(ws.settings.serving_warehouse),
        "exports": exports,
        "sync_runs": ws.query("select count(*) from ops.sync_runs")[0][0],
        "sync_log": ws.query("select count(*) from ops.sync_log")[0][0],
        "sync_state": ws.query("select count(*), sum(hash(row_hash)) from ops.sync_state")[0],
    }


def assert_fails_naming(ws: Workspace, capsys: pytest.CaptureFixture | None, check: str,
                        env: dict[str, str] | None = None) -> str:
    """Run the pipeline (in this process, or with `env` as `cdp run` in another) and show it failed
    naming `check`, sent nothing and left the serving copy as it was."""
    before = snapshot(ws)
    assert len(before["exports"]) == 3
    if env is None:
        assert run_pipeline() is False
        printed = capsys.readouterr().out if capsys else ""
    else:
        done = subprocess.run([str(Path(sys.executable).with_name("cdp")), "run"], env={**os.environ, **env},
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode != 0
        printed = done.stdout
    assert "cdp run FAILED" in printed
    assert check in printed, printed[-4000:]
    assert snapshot(ws) == before, "a sync sent something or the serving copy changed"
    not_run = "step not run (upstream failed or a blocking gate failed): "
    assert f"{not_run}reverse_etl__recent_form_submitters_csv" in printed
    assert f"{not_run}serving__warehouse_copy" in printed
    failed = ws.query("select count(*) from ops.quality_results where not passed and severity = 'error' "
                      "and checked_at > (select max(recorded_at) from ops.audience_size_history)")[0][0]
    assert failed >= 1, "the failing gate is recorded in ops.quality_results"
    return printed


def test_duplicated_key_in_staging_fails_the_run(after_good_run: Workspace, capsys: pytest.CaptureFixture) -> None:
    """The consent export arrives again from another system that writes timestamps differently: the
    rows differ as text (so loading keeps them) but are the same records, twice, in staging."""
    ws = after_good_run
    source = next((ws.landing / "consent").glob("*.csv"))
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:50]
    for row in rows:
        row["recorded_at"] = row["recorded_at"].replace("T", " ").replace("Z", "+00:00")
    with (ws.landing / "consent" / "reexport.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert_fails_naming(ws, capsys, "unique_stg_consent__records_consent_record_id")


def test_exploded_identity_cluster_fails_the_run(after_good_run: Workspace, capsys: pytest.CaptureFixture) -> None:
    """A load-test script logs in as one QA account from 700 fresh browsers: one profile of 701 ids."""
    ws = after_good_run
    logins = [{"type": "identify", "messageId": f"loadtest-{i}", "timestamp": "2026-10-20T10:00:00Z",
               "anonymousId": f"anon-loadtest-{i}", "userId": "qa-loadtest"} for i in range(700)]
    (ws.landing / "events" / "loadtest.ndjson").write_text("".join(json.dumps(m) + "\n" for m in logins))
    assert_fails_naming(ws, capsys, "identity_gate_largest_profile")
    assert ws.query("select max(largest_profile_identifiers) from marts.identity_health")[0][0] >= 700


def test_attribution_total_that_does_not_match_fails_the_run(after_good_run: Workspace, tmp_path: Path) -> None:
    """A bad deploy (a copy of the dbt project, CDP_DBT_PROJECT_DIR): the unattributed branch of
    attribution_credits credits 99% of the conversion value."""
    ws = after_good_run
    assert ws.query("select count(*) from marts.attribution_credits where channel = 'unattributed' "
                    "and conversion_value_reporting > 0")[0][0] > 0
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "attribution" / "attribution_credits.sql"
    original = model.read_text()
    broken = original.replace("1.0, c.conversion_value_reporting{% if not loop.last %}",
                              "1.0, round(c.conversion_value_reporting * 0.99, 2){% if not loop.last %}")
    assert broken != original
    model.write_text(broken)
    # the workspace's CDP_* variables are in this process's environment; the child inherits them
    assert_fails_naming(ws, None, "attribution_credits_sum_to_conversion_value",
                        env={"CDP_DBT_PROJECT_DIR": str(project)})


def test_sudden_audience_drop_fails_the_run(after_good_run: Workspace, capsys: pytest.CaptureFixture) -> None:
    """A faulty privacy tool files deletion requests for 90% of an audience at once."""
    ws = after_good_run
    members = ws.query("select email from audiences.aud_recent_form_submitters where email is not null "
                       "order by profile_id")
    doomed = members[: int(len(members) * 0.9) + 1]
    lines = ["request_id,identifier_type,identifier,requested_at"]
    lines += [f"bulk-{i},email,{email},2026-11-20T10:00:00Z" for i, (email,) in enumerate(doomed)]
    (ws.landing / "deletion_requests" / "bulk.csv").write_text("\n".join(lines) + "\n")
    printed = assert_fails_naming(ws, capsys, "audiences/aud_recent_form_submitters: size_change")
    assert "step not run (upstream failed or a blocking gate failed): privacy__erasure" in printed
    drop = ws.query("select observed from ops.quality_results where check_name = 'size_change' "
                    "and asset = 'audiences/aud_recent_form_submitters' order by checked_at desc limit 1")[0][0]
    assert drop <= -0.5


def test_landing_file_failing_its_expectations_is_quarantined_and_fails_the_run(
        after_good_run: Workspace, capsys: pytest.CaptureFixture) -> None:
    """Negative spend passes the row contract (it is a number) but not the ad_spend suite."""
    ws = after_good_run
    (ws.landing / "ad_spend" / "credits.csv").write_text(
        "date,channel,source,medium,campaign,spend,currency,impressions,clicks\n"
        "2026-11-01,paid_search,google,cpc,brand,-250.00,USD,1000,10\n"
        "2026-11-01,paid_social,facebook,paid_social,retarget,80.00,USD,900,12\n")
    assert_fails_naming(ws, capsys, "FAILED raw/ad_spend: expectations")
    # every row of the file is held, counted, with its values and the failed expectation as the reason
    quarantined = ws.query("select line_number, reason, payload from ops.quarantine "
                           "where source_file like '%credits.csv' order by line_number")
    assert [q[0] for q in quarantined] == [2, 3]
    assert all("expect_column_values_to_be_between(spend)" in q[1] for q in quarantined)
    assert "-250.00" in quarantined[0][2] and "retarget" in quarantined[1][2]
    assert ws.query("select status, rows_read, rows_quarantined from ops.load_manifest "
                    "where file_path like '%credits.csv'") == [("quarantined", 2, 2)]
    assert ws.query("select count(*) from raw.ad_spend where _source_file like '%credits.csv'") == [(0,)]
    docs = ws.settings.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.exists() and "landing_ad_spend" in docs.read_text()


READER = """
import sys, time, duckdb
path, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
ok = errors = 0
counts = []
import os
while not os.path.exists(stop):
    try:
        con = duckdb.connect(path, read_only=True)
        counts.append(con.execute("select count(*) from marts.dim_profiles").fetchone()[0])
        con.close()
        ok += 1
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr)
    time.sleep(0.05)
open(out, "w").write(f"{ok} {errors} {min(counts)} {max(counts)}")
"""


def test_serving_copy_stays_readable_while_a_run_writes(after_good_run: Workspace, tmp_path: Path) -> None:
    ws = after_good_run
    # thirty new visitors: enough for the new copy to differ, small enough for the run to stay the sample's
    (ws.landing / "events" / "new.ndjson").write_text("".join(
        json.dumps({"type": "page", "messageId": f"serving-{i}", "anonymousId": f"anon-serving-{i}",
                    "timestamp": "2026-11-20T10:00:00Z", "name": "/pricing"}) + "\n" for i in range(30)))
    stop, out = tmp_path / "stop", tmp_path / "reader.txt"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(ws.settings.serving_warehouse), str(stop), str(out)],
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert run_pipeline() is True
        time.sleep(0.5)
    finally:
        stop.touch()
        _, errors = reader.communicate(timeout=60)
    ok, failed, smallest, largest = map(int, out.read_text().split())
    assert failed == 0, errors
    assert ok > 20
    # the reader saw the old copy during the run, then the new one once it was published
    new_total = ws.query("select count(*) from marts.dim_profiles")[0][0]
    assert smallest < largest == new_total
    # the Great Expectations suites over mart summary extracts ran in this run and passed
    marts_gx = ws.query("select count(*), bool_and(passed) from ops.quality_results where layer = 'marts' "
                        "and engine = 'great_expectations' and checked_at > (select max(checked_at) - interval "
                        "10 minute from ops.quality_results)")[0]
    assert marts_gx[0] >= 8 and marts_gx[1] is True
    con = duckdb.connect(str(ws.settings.serving_warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from marts.data_health_scores").fetchone()[0] >= 14
    finally:
        con.close()
