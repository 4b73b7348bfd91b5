"""Report assets: charts rendered from marts and attached to Dagster's asset page."""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.attribution_report import render_markdown, write_report
from cdp.settings import get_settings
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource

COMPARISON = dg.AssetKey(["marts", "attribution_model_comparison"])


@dg.asset(
    key=dg.AssetKey(["reports", "attribution_comparison"]),
    deps=[COMPARISON],
    group_name="reports",
    owners=["team:marketing-analytics"],
    pool=WAREHOUSE_POOL,
    kinds={"html"},
    description="Heat map of every attribution model's credit per channel "
                "(reports/attribution_comparison.html beside the warehouse file).",
)
def attribution_comparison_report(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = get_settings()
    with warehouse.connect(read_only=True) as con:
        path, rows = write_report(con, settings.warehouse.parent / "reports" / "attribution_comparison.html")
    context.log.info(f"wrote {path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "preview": dg.MetadataValue.md(render_markdown(rows)),
        "cells": len(rows),
    })
