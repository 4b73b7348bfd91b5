"""`cdp run`: materialise the whole pipeline in this process and print what happened.

Steps run one after another in-process (so the single-writer rule holds trivially) and are recorded
in a persistent Dagster instance: DAGSTER_HOME when set, else `dagster/` beside the warehouse file,
the instance `cdp dev` opens, so every `cdp run` shows in the UI with its events and checks. The
summary is read back from the run's events and the warehouse: rows per layer, identity resolution in
one line, asset checks passed and failed (and what dbt said about any node that failed), rows
quarantined, syncs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

import dagster as dg

from cdp.ingest.contract import load_contract
from cdp.ingest.landing_zone import LandingZoneError, scan_root
from cdp.run_lock import RunLockHeld, warehouse_run_lock
from cdp.settings import (
    DBT_PROJECT_DIR,
    REPO_ROOT,
    dagster_home,
    get_settings,
    run_lock_anchor,
    warehouse_label,
)
from cdp.status import identity_summary, print_layer_rows, print_run_syncs, quarantine_summary
from cdp.warehouse import connect
from orchestration.alert_sensor import notify_run
from orchestration.assets.dbt import UNCHANGED_SINCE
from orchestration.run_progress import progress_logger


class _QuietUngatedChecks(logging.Filter):
    """Dagster warns once per dbt test and downstream step when a build emits no check results:
    hundreds of lines when the build had nothing to do or failed, both of which the summary states.
    dagster-dbt also logs, twice, the whole list of nodes a subsetted build selects."""

    NOISE = ("emitted no result in step", "A dbt subsetted execution is being performed")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in self.NOISE)


for _name in ("dagster._core.execution.plan.active", "dagster.builtin"):
    logging.getLogger(_name).addFilter(_QuietUngatedChecks())


#: the instance settings `cdp run` opens the warehouse's Dagster instance with: the same storage as
#: `cdp dev` (dagster.yaml beside it), but no pool limits. `cdp run` holds the warehouse's run lock, so
#: it is the one writer without them, and a pool slot a killed run never gave back would block it
#: with nothing to free it (only the daemon of `dagster dev` does)
CLI_INSTANCE_YAML = "cdp_run.yaml"
CLI_INSTANCE_SETTINGS = ("# Written by `cdp run`: its runs share this instance's storage with `cdp dev`.\n"
                         "telemetry:\n  enabled: false\n")
#: tag of the runs `cdp run` made, so the next one can close out a run whose process was killed
LAUNCHED_BY = {"cdp/launched_by": "cdp run"}
UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    if not get_settings().record_runs:
        return dg.DagsterInstance.ephemeral()
    home = dagster_home(get_settings())
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # `cdp dev`: the pool limits and run retries of the repository
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    if not (home / CLI_INSTANCE_YAML).exists():
        (home / CLI_INSTANCE_YAML).write_text(CLI_INSTANCE_SETTINGS)
    return dg.DagsterInstance.from_config(str(home), config_filename=CLI_INSTANCE_YAML)


def close_out_killed_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs an earlier `cdp run` left unfinished (its process was killed): it held the warehouse's run
    lock, which this run now holds, so none of them is still going. Each is marked failed, saying so,
    and any pool slot it held is freed. Returns their ids."""
    closed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags=LAUNCHED_BY)):
        instance.report_run_failed(run, "the process running it stopped before it finished (found by the next "
                                        "`cdp run` on this warehouse)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        closed.append(run.run_id)
    return closed


def _severity(check) -> str:
    return str(getattr(check.severity, "value", check.severity))


def dbt_failures(limit: int = 10) -> list[str]:
    """The dbt nodes that errored in the latest dbt invocation, each with the start of dbt's message."""
    runs = sorted(DBT_PROJECT_DIR.glob("target/*/run_results.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        return []
    results = json.loads(runs[-1].read_text()).get("results", [])
    failed = [r for r in results if r.get("status") in ("error", "fail")]
    lines = []
    for r in failed[:limit]:
        message = " ".join(str(r.get("message") or "").split())
        lines.append(f"{r['unique_id']}: {r['status']}: {message[:300]}")
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit} more; see {runs[-1]}")
    return lines


def run_pipeline(select: str = "*", full_refresh: bool = False) -> bool:
    """Run the pipeline; returns True when every step and every blocking check succeeded. Holds the
    warehouse's run lock throughout: a second run on the same warehouse fails at once, naming this one
    (or waits CDP_RUN_LOCK_WAIT_SECONDS)."""
    settings = get_settings()
    try:
        with warehouse_run_lock(run_lock_anchor(settings), "cdp run", settings.run_lock_wait_seconds):
            return _run_pipeline(select, full_refresh)
    except (RunLockHeld, LandingZoneError) as exc:
        print(f"cdp run refused: {exc}")
        return False


def _run_config(job, full_refresh: bool) -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": get_settings().log_level}},
                                "progress": {}}}
    if full_refresh:
        # every step of the dbt assets (the build runs in two, around the data-driven attribution)
        config["ops"] = {n.name: {"config": {"full_refresh": True}} for n in job.nodes
                         if n.name.startswith("cdp_dbt_models")}
    return config


def _run_pipeline(select: str, full_refresh: bool) -> bool:
    from orchestration.definitions import defs

    settings = get_settings()
    print(f"landing zone: {settings.landing_dir}\nwarehouse:    {warehouse_label(settings)}\n")
    for notice in scan_root(settings.landing_dir, load_contract()):
        print(f"not loaded: {notice.path}: {notice.reason}")
    started = time.perf_counter()
    with _instance() as instance:
        # Resolved inside `with`: resolving reads the current instance's definitions-state storage,
        # which is then this run's, never one an earlier caller in this process left behind.
        job = defs.resolve_job_def("cdp_pipeline")
        if select != "*":
            graph = defs.resolve_asset_graph()
            # comma-separated clauses, each `*key`, `key+` ..., as `dagster asset materialize --select`
            keys = set().union(*(dg.AssetSelection.from_string(clause.strip()).resolve(graph)
                                 for clause in select.split(",") if clause.strip()))
            job = job.get_subset(asset_selection=keys)
        job = job.with_logger_defs({**job.loggers, "progress": progress_logger(len(job.nodes))})
        for run_id in close_out_killed_runs(instance):
            print(f"run {run_id[:8]} was interrupted (its process stopped); marked failed")
        result = job.execute_in_process(instance=instance, raise_on_error=False, tags=LAUNCHED_BY,
                                        run_config=_run_config(job, full_refresh))
    seconds = time.perf_counter() - started
    evaluations = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    checks = [e.event_specific_data for e in evaluations]
    passed = [c for c in checks if c.passed]
    failed = [c for c in checks if not c.passed and _severity(c) == "ERROR"]
    warned = [c for c in checks if not c.passed and _severity(c) != "ERROR"]
    failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    skipped_steps = [n.name for n in job.nodes if n.name not in started]
    unchanged_since = next((str(e.event_specific_data.asset_observation.metadata[UNCHANGED_SINCE].value)
                            for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"
                            and UNCHANGED_SINCE in e.event_specific_data.asset_observation.metadata), None)

    alerts = notify_run(result.all_events, result.run_id)
    print("\n" + "=" * 72)
    print(f"cdp run {'succeeded' if result.success else 'FAILED'} in {seconds:.1f}s (run {result.run_id[:8]})")
    for alert in alerts:
        print(f"alert: {alert.title}")
    if settings.dbt_target != "duckdb" or settings.warehouse.exists():
        with connect(settings, read_only=True) as con:
            print("\nrows per layer")
            print_layer_rows(con)
            identity = identity_summary(con)
            if identity:
                print(f"\nidentity: {identity}")
            print("\nquarantined (ops.quarantine)")
            for source, rows, whole_files in quarantine_summary(con):
                print(f"  {source:<20}{rows:>8,} rows" + (f", {whole_files} whole files" if whole_files else ""))
            print_run_syncs(con, result.run_id)
    print(f"\nchecks: {len(passed)} passed, {len(failed)} failed, {len(warned)} warned")
    for check in failed:
        print(f"  FAILED {check.asset_key.to_user_string()}: {check.check_name}")
    for check in warned:
        print(f"  warning {check.asset_key.to_user_string()}: {check.check_name}")
    for step in failed_steps:
        print(f"  step failed: {step}")
        if step == "cdp_dbt_models":
            for line in dbt_failures():
                print(f"    {line}")
    if unchanged_since is not None and not failed_steps:
        print(f"\nnothing new since run {unchanged_since[:8]} (same raw rows, rules and code): no model was rebuilt, "
              f"and the {len(skipped_steps)} steps after the build were not needed; the serving copy is that run's")
    else:
        for step in skipped_steps:
            print(f"  step not run (upstream failed or a blocking gate failed): {step}")
    if settings.export_dir.exists():
        print(f"\nexports in {settings.export_dir}: "
              + ", ".join(sorted(p.name for p in settings.export_dir.iterdir() if p.is_file())))
    if settings.dbt_target == "duckdb":
        print(f"serving copy for BI: {settings.serving_warehouse}"
              + ("" if settings.serving_warehouse.exists() else " (not published)"))
    else:
        print(f"BI reads the warehouse itself: {warehouse_label(settings)}")
    index = settings.dashboard_dir / "index.html"
    if index.exists():
        print(f"dashboard: {index.as_uri()}   (rebuild: cdp dashboard)")
    return bool(result.success)
