"""The pipeline job, its daily schedule, and a sensor that starts a run when new files land."""

import hashlib

import dagster as dg
from dagster import SensorEvaluationContext

from cdp.ingest.contract import load_contract
from cdp.ingest.loader import discover
from cdp.settings import get_settings

pipeline_job = dg.define_asset_job(
    "cdp_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load new landing files, build every dbt model and test, run syncs, publish the serving copy.",
    # With run retries on (dagster.yaml), a run whose process died (not a failed gate) is retried once.
    tags={"dagster/max_retries": "1", "dagster/retry_strategy": "FROM_FAILURE"},
    # Every step is in the one-writer pool, so they run one at a time whatever the executor: in the run
    # worker's own process (as `cdp run` does) a UI-launched run pays no process start and no code
    # location load per step.
    executor_def=dg.in_process_executor,
)

daily_schedule = dg.ScheduleDefinition(
    name="cdp_daily",
    job=pipeline_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Materialise everything every morning at 06:00 UTC (turn on in the UI).",
)


def landing_signature() -> tuple[str, int]:
    """A fingerprint of the landing zone (paths, sizes, mtimes) and the number of files in it."""
    settings = get_settings()
    digest = hashlib.sha256()
    count = 0
    for spec in load_contract().sources.values():
        for path in discover(settings.landing_dir, spec):
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
            count += 1
    return digest.hexdigest(), count


@dg.sensor(job=pipeline_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Starts cdp_pipeline when files in CDP_LANDING_DIR are added or changed.")
def landing_files_sensor(context: SensorEvaluationContext):
    signature, count = landing_signature()
    if signature == context.cursor:
        return dg.SkipReason(f"no change in the landing zone ({count} files)")
    context.update_cursor(signature)
    return dg.RunRequest(run_key=signature, tags={"cdp/landing_files": str(count)})
