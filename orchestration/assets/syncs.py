"""Reverse-ETL sync assets: one per sync in the syncs file, downstream of its audience, the
suppression audiences and the privacy erasure step.

Dagster runs a sync only when everything upstream succeeded in the run (dbt models and their
blocking tests included), so nothing is sent from a failed build. Each sync reports its guardrails
as a blocking asset check (`guardrails`): a blocked plan fails the step, naming the guardrail, and
sends nothing. Counts (planned, sent, failed, held back) are the materialisation's metadata.
"""


from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from cdp.quality.results import CheckOutcome, record_outcomes
from cdp.settings import get_settings
from cdp.sync_workspace import sync_connection
from orchestration.assets.gates import to_check_result
from orchestration.assets.privacy import ERASURE_KEY
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource, transient_retry_policy
from reverse_etl.config import SyncConfig, SyncDefinition, load_sync_config
from reverse_etl.sync import GuardrailError, run_sync


def sync_asset_key(sync: SyncDefinition) -> dg.AssetKey:
    return dg.AssetKey(["reverse_etl", sync.name])


def _guardrails(sync: SyncDefinition, *, passed: bool, detail: str) -> CheckOutcome:
    return CheckOutcome("reverse_etl", f"reverse_etl/{sync.name}", "guardrails", passed, "error", target=sync.name,
                        description="empty audience, delete share, change spike, duplicate keys",
                        details={"blocked" if not passed else "status": detail})


def build_sync_asset(sync: SyncDefinition, config: SyncConfig) -> dg.AssetsDefinition:
    key = sync_asset_key(sync)
    audiences = [sync.audience, *(a for a in config.suppression if a != sync.audience)]

    @dg.asset(
        key=key,
        deps=[*(dg.AssetKey(["audiences", a]) for a in audiences), ERASURE_KEY],
        group_name="reverse_etl",
        owners=["team:marketing-ops"],
        pool=WAREHOUSE_POOL,
        retry_policy=transient_retry_policy(),
        kinds={"python", sync.kind},
        check_specs=[dg.AssetCheckSpec("guardrails", asset=key, blocking=True,
                                       description="Empty audience, delete share, change spike, duplicate keys.")],
        description=(sync.description or f"Sync {sync.audience}") + f" ({sync.mode} to {sync.destination.name}; "
                    f"consent: {sync.consent_purpose or 'not required'}).",
    )
    def _sync(context: AssetExecutionContext, warehouse: WarehouseResource):
        settings = get_settings()
        with warehouse.connect() as con:
            try:
                with sync_connection(settings, con, config, context.run_id) as books:
                    outcome = run_sync(books, sync, config, settings.export_dir, run_id=context.run_id,
                                       progress=context.log.info)
            except GuardrailError as exc:
                gate = _guardrails(sync, passed=False, detail=str(exc))
                record_outcomes(con, [gate], context.run_id)
                yield to_check_result(gate)
                raise dg.Failure(str(exc), allow_retries=False) from exc
            gate = _guardrails(sync, passed=True, detail=outcome.status)
            record_outcomes(con, [gate], context.run_id)
        yield to_check_result(gate)
        plan = outcome.plan
        metadata = {"status": outcome.status, "destination": outcome.destination, "rows_planned": outcome.rows_planned,
                    "rows_sent": outcome.rows_sent, "rows_succeeded": outcome.rows_succeeded,
                    "rows_failed": outcome.rows_failed}
        if plan is not None:
            metadata.update({"rows_added": plan.rows_added, "rows_changed": plan.rows_changed,
                             "rows_removed": plan.rows_removed, "rows_held_back": plan.rows_held_back,
                             "resumed": plan.resumed})
        if outcome.status == "partial":
            context.log.warning(f"{sync.name}: {outcome.rows_failed} rows failed; see ops.sync_log, retried next run")
        yield dg.MaterializeResult(metadata=metadata)

    return _sync


def sync_assets() -> list[dg.AssetsDefinition]:
    config = load_sync_config(get_settings().syncs_file)
    return [build_sync_asset(s, config) for s in config.syncs.values()]


def sync_schedules(job_for: Callable[[SyncDefinition], Any]) -> list[dg.ScheduleDefinition]:
    """A schedule per sync that names its own `schedule` (cron), running that sync alone."""
    config = load_sync_config(get_settings().syncs_file)
    return [dg.ScheduleDefinition(name=f"sync_{s.name}", cron_schedule=s.schedule, job=job_for(s),
                                  execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
                                  description=f"Run sync {s.name} on its own schedule ({s.schedule}).")
            for s in config.syncs.values() if s.schedule]
