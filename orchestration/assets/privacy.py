"""The privacy erasure asset: after the dbt build, erase people with a deletion request everywhere."""


import dagster as dg
from dagster import AssetExecutionContext

from cdp.privacy import erase_deleted_profiles
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource, transient_retry_policy

ERASURE_KEY = dg.AssetKey(["privacy", "erasure"])


def build_erasure_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=ERASURE_KEY,
        deps=upstream,
        group_name="privacy",
        owners=["team:data-engineering"],
        pool=WAREHOUSE_POOL,
        retry_policy=transient_retry_policy(),
        kinds={"duckdb"},
        description="Erase people with a deletion request from raw, staging, intermediate, marts, audiences and "
                    "identity bookkeeping; every step in ops.deletion_ledger, then verified.",
    )
    def _erase(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            report = erase_deleted_profiles(con, progress=context.log.info)
        return dg.MaterializeResult(metadata={"profiles_erased": report.profiles, "rows_erased": report.rows,
                                              "tables_touched": len(report.tables)})

    return _erase
