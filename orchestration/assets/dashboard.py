"""The dashboard asset: after the serving copy is published (every gate of the run passed), the
marketing dashboard is rebuilt from it, and its funnel, model comparison and pacing charts are
attached to the asset page."""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.dashboard_publish import publish_dashboard, published_data
from cdp.settings import get_settings
from dashboard.markdown import funnel_markdown, models_markdown, pacing_markdown
from orchestration.assets.resources import WAREHOUSE_POOL

SERVING = dg.AssetKey(["serving", "warehouse_copy"])


@dg.asset(
    key=dg.AssetKey(["reports", "dashboard"]),
    deps=[SERVING],
    group_name="reports",
    owners=["team:marketing-analytics"],
    # on PostgreSQL and Spark it reads the warehouse itself, like every step that does, in the pool
    pool=WAREHOUSE_POOL,
    kinds={"html"},
    description="The marketing dashboard (overview, funnel, pipeline, attribution, budget pacing, activation, data "
                "health), rebuilt from the serving copy after every run whose gates passed (CDP_DASHBOARD_DIR).",
)
def marketing_dashboard(context: AssetExecutionContext) -> dg.MaterializeResult:
    settings = get_settings()
    build = publish_dashboard(settings)
    context.log.info(f"dashboard: {build.pages['index']} ({len(build.pages)} pages, {build.seconds:.1f}s)")
    with published_data(settings) as con:
        charts = {
            "funnel": dg.MetadataValue.md(funnel_markdown(con)),
            "attribution models": dg.MetadataValue.md(models_markdown(con, str(build.meta.get("default_model")))),
            "budget pacing": dg.MetadataValue.md(pacing_markdown(con)),
        }
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(build.pages["index"])),
        "pages": len(build.pages),
        "rows embedded": build.rows,
        "seconds": round(build.seconds, 2),
        "data as of": str(build.meta.get("as_of_date")),
        **charts,
    })
