"""Alerts from Dagster runs: what each step of a run did, read from its events, handed to
cdp/alerting.py. `cdp run` calls `notify_run` at its end; the sensor `cdp_alerts` does the
same for the runs the daemon starts (schedules, sensors, the UI), one finished run at a time."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from cdp.alerting import Alert, StepOutcome, notify
from cdp.settings import get_settings

PIPELINE_JOB = "cdp_pipeline"


def outcomes_from_events(events: Iterable[dg.DagsterEvent]) -> list[StepOutcome]:
    """Failed steps (with their error), partial syncs (a step that succeeded with rows that failed),
    and the steps that succeeded."""
    failed: dict[str, str] = {}
    succeeded: set[str] = set()
    for event in events:
        kind = event.event_type_value
        if kind == "STEP_FAILURE":
            error = getattr(event.event_specific_data, "error", None)
            failed[event.step_key] = error.message.strip() if error else "the step failed"
        elif kind == "STEP_SUCCESS":
            succeeded.add(event.step_key)
        elif kind == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            status = metadata.get("status")
            if status is not None and status.value == "partial":
                rows = metadata.get("rows_failed")
                failed[event.step_key] = (f"partial: {rows.value if rows else '?'} rows failed (ops.sync_log); "
                                          "they are retried next run")
    return [StepOutcome(k, True, v) for k, v in sorted(failed.items())] + [
        StepOutcome(k, False) for k in sorted(succeeded - set(failed))]


def notify_run(events: Iterable[dg.DagsterEvent], run_id: str) -> list[Alert]:
    settings = get_settings()
    return notify(settings, settings.alerts_file, outcomes_from_events(events), run_id)


@dg.sensor(name="cdp_alerts", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="After each finished cdp_pipeline run: an alert to the channels of CDP_ALERTS_FILE for every "
                       "step that started failing, and for every one that recovered.")
def alerts_sensor(context: dg.SensorEvaluationContext):
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=PIPELINE_JOB, statuses=[dg.DagsterRunStatus.SUCCESS,
                                                              dg.DagsterRunStatus.FAILURE]),
        limit=20, order_by="update_timestamp", ascending=False)
    seen = context.cursor or ""
    new = []
    for record in records:  # newest first; stop at the last run already handled
        if record.dagster_run.run_id == seen:
            break
        new.append(record)
    if not new:
        return dg.SkipReason("no finished pipeline run since the last one handled")
    sent = 0
    for record in reversed(new):
        run_id = record.dagster_run.run_id
        events = [e.dagster_event for e in context.instance.all_logs(run_id) if e.dagster_event is not None]
        sent += len(notify_run(events, run_id))
    context.update_cursor(new[0].dagster_run.run_id)
    return dg.SkipReason(f"{len(new)} run(s) handled, {sent} state change(s)")
