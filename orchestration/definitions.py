"""The Dagster code location: `dagster dev` from the repository root loads `defs` from here."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.alert_sensor import alerts_sensor
from orchestration.assets.attribution import data_driven_attribution
from orchestration.assets.dashboard import marketing_dashboard
from orchestration.assets.dbt import cdp_dbt_models
from orchestration.assets.gates import build_audience_checks, build_mart_expectation_checks
from orchestration.assets.identity_probabilistic import probabilistic_links
from orchestration.assets.privacy import build_erasure_asset
from orchestration.assets.propensity import propensity_scores
from orchestration.assets.raw import raw_assets
from orchestration.assets.reports import attribution_comparison_report
from orchestration.assets.resources import WarehouseResource
from orchestration.assets.serving import build_serving_asset
from orchestration.assets.syncs import sync_asset_key, sync_assets, sync_schedules
from orchestration.schedules import daily_schedule, landing_files_sensor, pipeline_job

_models = [*(k for k in cdp_dbt_models.keys if k.path[0] in ("marts", "audiences")), *data_driven_attribution.keys,
           propensity_scores.key]
_audiences = [k for k in _models if k.path[0] == "audiences"]
_erasure = build_erasure_asset(_models)
_syncs = sync_assets()


def _sync_job(sync) -> Any:
    return dg.define_asset_job(f"sync_{sync.name}", selection=dg.AssetSelection.assets(sync_asset_key(sync)),
                               description=f"Run sync {sync.name} alone (its audience as last built).")


_sync_schedules = sync_schedules(_sync_job)

#: ops tables the models read that Python steps write (dbt sources): shown with the layer that owns them
OPS_TABLES = [
    dg.AssetSpec(dg.AssetKey(["ops", "load_manifest"]), group_name="ops", owners=["team:data-engineering"],
                 description="Every landing file loaded: rows loaded, quarantined and skipped (the raw loaders)."),
    dg.AssetSpec(dg.AssetKey(["ops", "erased_profiles"]), group_name="ops", owners=["team:data-engineering"],
                 description="People erased after a deletion request (privacy/erasure)."),
    dg.AssetSpec(dg.AssetKey(["ops", "holdout_assignments"]), group_name="ops", owners=["team:marketing-ops"],
                 description="Members held out of a sync as an experiment's control group (reverse ETL)."),
    dg.AssetSpec(dg.AssetKey(["ops", "sync_runs"]), group_name="ops", owners=["team:marketing-ops"],
                 description="One row per sync run: destination, channel, status and counts (reverse ETL)."),
    dg.AssetSpec(dg.AssetKey(["ops", "sync_log"]), group_name="ops", owners=["team:marketing-ops"],
                 description="Every member a sync planned: sent, failed, skipped or held back, and why."),
]

defs = dg.Definitions(
    assets=[*OPS_TABLES, *raw_assets(), cdp_dbt_models, probabilistic_links, data_driven_attribution, propensity_scores,
            _erasure, *_syncs,
            attribution_comparison_report, marketing_dashboard,
            build_serving_asset([*_models, _erasure.key, *(s.key for s in _syncs)], [k.path[-1] for k in _audiences])],
    asset_checks=[build_audience_checks(_audiences), build_mart_expectation_checks(_models)],
    jobs=[pipeline_job, *(s.job for s in _sync_schedules)],
    schedules=[daily_schedule, *_sync_schedules],
    sensors=[landing_files_sensor, alerts_sensor],
    resources={"warehouse": WarehouseResource()},
)
