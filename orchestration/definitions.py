"""The Dagster code location: `dagster dev` from the repository root loads `defs` from here."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.dbt import cdp_dbt_models, dbt_resource
from orchestration.assets.raw import raw_assets
from orchestration.assets.reports import attribution_comparison_report
from orchestration.assets.serving import build_serving_asset
from orchestration.assets.syncs import sync_assets
from orchestration.schedules import daily_schedule, landing_files_sensor, pipeline_job

_models = [k for k in cdp_dbt_models.keys if k.path[0] in ("marts", "audiences")]
_syncs = sync_assets()

defs = dg.Definitions(
    assets=[*raw_assets(), cdp_dbt_models, *_syncs, attribution_comparison_report,
            build_serving_asset([*_models, *(s.key for s in _syncs)])],
    jobs=[pipeline_job],
    schedules=[daily_schedule],
    sensors=[landing_files_sensor],
    resources={"dbt": dbt_resource()},
)
