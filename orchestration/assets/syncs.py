"""Reverse-ETL sync assets: one per entry of reverse_etl/syncs.yml, downstream of its audience.

A sync asset runs only after its audience model was built and its dbt tests passed in the same run
(Dagster skips it otherwise), so nothing is ever sent from a failed build.
"""

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.settings import get_settings
from orchestration.warehouse import WAREHOUSE_POOL, connect
from reverse_etl.config import SyncDefinition, load_syncs
from reverse_etl.sync import run_sync


def build_sync_asset(sync: SyncDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["reverse_etl", sync.name]),
        deps=[dg.AssetKey(["audiences", sync.audience])],
        group_name="reverse_etl",
        pool=WAREHOUSE_POOL,
        kinds={"python", sync.kind},
        description=f"Sync audience `{sync.audience}` to a {sync.kind} destination.",
    )
    def _sync(context: AssetExecutionContext) -> dg.MaterializeResult:
        settings = get_settings()
        with connect(settings) as con:
            outcome = run_sync(con, sync, settings.export_dir, run_id=context.run_id, progress=context.log.info)
        if outcome.status != "succeeded":
            raise dg.Failure(f"sync {sync.name}: {outcome.rows_failed} rows failed", metadata={
                "rows_failed": outcome.rows_failed})
        return dg.MaterializeResult(metadata={
            "destination": outcome.destination,
            "rows_sent": outcome.rows_sent,
            "rows_failed": outcome.rows_failed,
        })

    return _sync


def sync_assets() -> list[dg.AssetsDefinition]:
    return [build_sync_asset(s) for s in load_syncs().values()]
