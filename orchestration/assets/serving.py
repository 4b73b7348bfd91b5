"""The serving-copy asset: published last, only when everything upstream succeeded (every blocking
gate of the run passed). It also records each audience's size: the baseline the next run's
`size_change` gates compare against."""

from collections.abc import Sequence

import dagster as dg
from dagster import AssetExecutionContext

from cdp.build_state import current_state, record_published
from cdp.quality.warehouse_checks import record_audience_sizes
from cdp.serving import publish_serving_copy
from cdp.settings import get_settings
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource, transient_retry_policy


def build_serving_asset(upstream: Sequence[dg.AssetKey], audiences: Sequence[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["serving", "warehouse_copy"]),
        deps=list(upstream),
        group_name="serving",
        owners=["team:data-engineering"],
        pool=WAREHOUSE_POOL,
        retry_policy=transient_retry_policy(),
        kinds={get_settings().dbt_target},
        description="After every gate passed: audience sizes recorded and, on DuckDB, the read-only copy of staging, "
                    "marts, audiences and ops for BI tools (CDP_SERVING_WAREHOUSE).",
    )
    def _publish(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        settings = get_settings()
        with warehouse.connect() as con:
            record_audience_sizes(con, context.run_id, list(audiences))
            copied = publish_serving_copy(con, settings) if settings.dbt_target == "duckdb" else {}
            # every gate passed and what BI reads is published: the next run with the same raw rows
            # and inputs has nothing to rebuild (recorded last, so a failed publish is retried)
            record_published(con, current_state(con, settings), context.run_id)
            if settings.dbt_target != "duckdb":
                # PostgreSQL and Spark serve many readers themselves: BI connects to the warehouse
                context.log.info(f"no serving copy on {settings.dbt_target}: BI reads the warehouse's staging, "
                                 "marts and audiences schemas directly (docs/engines.md)")
                return dg.MaterializeResult(metadata={"engine": settings.dbt_target, "tables": 0})
        context.log.info(f"published {len(copied)} tables to {settings.serving_warehouse}")
        return dg.MaterializeResult(metadata={
            "path": str(settings.serving_warehouse),
            "tables": len(copied),
            "rows": sum(copied.values()),
        })

    return _publish
