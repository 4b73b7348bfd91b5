"""The dbt project as Dagster assets: every model and seed an asset, every dbt test an asset check.

dbt sources `raw.<table>` map to the raw loader assets' keys, so raw -> staging -> marts -> audiences
is one lineage graph. All dbt work runs in the `duckdb` pool, never beside a Python writer.

The build is one `dbt build` (each model's tests run right after it, and dbt skips what depends on
a failing error-severity test), run in this process on a manifest parsed once per process
(`dbt_in_process`). When dbt has finished and released the warehouse, the step records
every test in ops.quality_results, adds row counts and a markdown preview to each model's
materialisation, and fails naming the failing tests, so nothing downstream (erasure, syncs, the
serving copy) runs and the run is marked failed. CDP_DBT_VARS (YAML) overrides dbt vars for a run.
"""

import fcntl
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets

from cdp.build_state import DBT_INPUTS, changed_rules, files_signature, rebuild_reason, unchanged_since
from cdp.engines.catalog import column_types, table_exists
from cdp.ingest.contract import load_contract
from cdp.quality.dbt_results import describe_failures, record_dbt_results
from cdp.quality.preview import PREVIEW_SCHEMAS, markdown_preview
from cdp.settings import DBT_PROJECT_DIR, dbt_environment_variables, get_settings
from cdp.sql_text import quote_identifier
from cdp.transform import UNIT_TESTS_EXCLUDED, dbt_executable, dbt_vars_args
from orchestration.assets.dbt_in_process import dbt_build_in_process
from orchestration.assets.raw import raw_asset_key
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource

PARSE_INPUTS = DBT_INPUTS
#: metadata key of the observations a build with nothing to do records (read by `cdp run`'s summary)
UNCHANGED_SINCE = "unchanged_since_run"
#: per-invocation target folders kept: the newest ones, and any younger than a day (another run on
#: another warehouse may still be writing one); `cdp run` reads the latest run_results.json to say
#: which node failed, but an hourly schedule must not fill the disk
KEEP_INVOCATION_FOLDERS = 20
KEEP_INVOCATION_SECONDS = 24 * 3600

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def inputs_signature(project_dir: Path) -> str:
    """A fingerprint of every file dbt parses (path, size, modification time): it changes when a
    file is added, removed, moved in or edited, whatever its timestamp."""
    return files_signature(project_dir, PARSE_INPUTS)


def ensure_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the project when its manifest is missing or any model, macro, seed or test changed."""
    manifest = project.manifest_path
    project_dir = Path(project.project_dir)
    signature = inputs_signature(project_dir)
    stamp = manifest.with_name("cdp_inputs.sha256")
    if manifest.exists() and stamp.exists() and stamp.read_text() == signature:
        return manifest
    # Several processes load the code location at once (dagster dev, its run workers, parallel
    # tests): one parses while the others wait, then find the manifest current.
    target = project_dir / project.target_path  # absolute target paths stay as they are
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".cdp_parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists() and stamp.exists() and stamp.read_text() == signature:
            return manifest
        command = [dbt_executable(), "parse", "--quiet", "--project-dir", str(project_dir),
                   "--profiles-dir", str(project.profiles_dir), "--target-path", str(project.target_path)]
        done = subprocess.run(command, cwd=project_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not manifest.exists():
            raise RuntimeError(f"`{' '.join(command)}` failed; fix the dbt project first:\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        stamp.write_text(signature)
    return manifest


def dbt_environment() -> dict[str, str]:
    """What dbt reads from the environment for this run (the same variables as Python, with absolute
    paths so its cwd does not matter), set only while dbt runs: never left behind in this process,
    where a later run with other settings (another engine, another warehouse) would inherit them."""
    env = dbt_environment_variables(get_settings())
    # A subset runs only the tests whose every parent it builds or builds from (dbt's default, eager,
    # would run a relationships test against a model this run does not build). `buildable`, not
    # `cautious`: the models after the data-driven attribution step are built in their own dbt
    # invocation, and their tests also read that step's tables (dbt sources, ancestors of the subset).
    env["DBT_INDIRECT_SELECTION"] = os.environ.get("DBT_INDIRECT_SELECTION", "buildable")
    return env


def _relation(event: Any, manifest: dict[str, Any]) -> tuple[str, str] | None:
    unique_id = getattr(event.metadata.get("unique_id"), "text", None)
    node = manifest.get("nodes", {}).get(unique_id or "")
    if not node or node.get("resource_type") not in ("model", "seed", "snapshot"):
        return None
    return node["schema"], node.get("alias") or node["name"]


def row_counts(con, relations: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Rows of every built relation that exists, in one query (one job on Spark, not one per model)."""
    present = [r for r in dict.fromkeys(relations) if table_exists(con, *r)]
    counts: dict[tuple[str, str], int] = {}
    for start in range(0, len(present), 100):
        chunk = present[start:start + 100]
        query = " union all ".join(f"select {i} as n, count(*) as c from {quote_identifier(s)}.{quote_identifier(t)}"
                                   for i, (s, t) in enumerate(chunk, start=start))
        counts.update({present[int(n)]: int(c) for n, c in con.execute(query).fetchall()})
    return counts


def column_schema(manifest: dict[str, Any], event: Any, columns: list[tuple[str, str]]) -> dg.TableSchema:
    """The built table's columns with the warehouse's types and the descriptions the YAML documents."""
    unique_id = getattr(event.metadata.get("unique_id"), "text", None)
    documented = {name.lower(): c.get("description") or None for name, c in
                  manifest.get("nodes", {}).get(unique_id or "", {}).get("columns", {}).items()}
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=documented.get(name.lower()))
                                   for name, kind in columns])


def model_metadata(con, event: Any, manifest: dict[str, Any], counts: dict[tuple[str, str], int],
                   previews: bool = True, types: dict[tuple[str, str], list[tuple[str, str]]] | None = None,
                   ) -> dict[str, Any]:
    """Row count, column types (and for marts and audiences a 5-row preview without personal data) of
    a built model, as Dagster metadata of its materialisation."""
    relation = _relation(event, manifest)
    if relation is None or relation not in counts:
        return {}
    metadata: dict[str, Any] = {"dagster/row_count": counts[relation]}
    if types and relation in types:
        metadata["dagster/column_schema"] = column_schema(manifest, event, types[relation])
    if previews and relation[0] in PREVIEW_SCHEMAS:
        preview = markdown_preview(con, *relation)
        if preview:
            metadata["preview"] = dg.MetadataValue.md(preview)
    return metadata


def _prune_invocation_folders(target_root: Path, keep: int = KEEP_INVOCATION_FOLDERS) -> None:
    """Remove per-invocation folders under target/ beyond the newest `keep` that are over a day old."""
    folders = sorted((p for p in target_root.glob("cdp_dbt_models*-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    cutoff = time.time() - KEEP_INVOCATION_SECONDS
    for old in folders[:-keep]:
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


class CdpDbtTranslator(DagsterDbtTranslator):
    """Seeds (the rules) load after the raw loaders, so one dbt invocation builds seeds and the models
    before Markov and Shapley, and a second the models after them. Without these deps Dagster would
    give the seeds, which need nothing, a dbt invocation of their own (several seconds each run)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The layer: the folder under models/ (the metrics' time spine sits with the marts), `rules`
        for the seeds, and a source's name for the tables Python steps write."""
        if dbt_resource_props.get("resource_type") == "seed":
            return "rules"
        if dbt_resource_props.get("resource_type") == "source":  # tables the Python steps write (ops.*)
            return str(dbt_resource_props.get("source_name") or "") or None
        fqn = dbt_resource_props.get("fqn") or []
        layer = fqn[1] if len(fqn) > 2 else None
        return {"metrics": "marts"}.get(layer, layer)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = {**(dbt_resource_props.get("config") or {}).get("meta", {}), **(dbt_resource_props.get("meta") or {})}
        if dbt_resource_props.get("resource_type") == "source":
            return ["team:data-engineering"]
        return (meta.get("dagster") or {}).get("owners") or super().get_owners(dbt_resource_props)

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("seed."):
            spec = spec.merge_attributes(deps=[raw_asset_key(s) for s in load_contract().sources.values()])
        return spec


# Tests on dbt sources (raw.*) become checks on the raw loader assets, like the tests on models.
translator = CdpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


class DbtBuildConfig(dg.Config):
    """`cdp run --full-refresh`: incremental models are rebuilt from raw, and the build runs even when
    nothing changed since the last published run."""
    full_refresh: bool = False


def built_relations(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(schema, table) of every model and seed the project builds."""
    return [(n["schema"], n.get("alias") or n["name"]) for n in manifest.get("nodes", {}).values()
            if n.get("resource_type") in ("model", "seed") and n.get("config", {}).get("materialized") != "ephemeral"]


def unchanged_observations(context: AssetExecutionContext, warehouse: WarehouseResource,
                           config: DbtBuildConfig) -> list[dg.AssetObservation]:
    """When raw and every input equal those of the last published run (`build_state`), one
    observation per selected asset saying so; the step then builds nothing and everything after it
    is skipped. Empty when there is work to do."""
    if config.full_refresh:
        return []
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    with warehouse.connect() as con:
        since = unchanged_since(con, get_settings(), built_relations(manifest))
    if since is None:
        return []
    context.log.info(f"raw rows and every input are those of run {since}, which passed every gate and published: "
                     "nothing to rebuild (cdp run --full-refresh rebuilds anyway)")
    return [dg.AssetObservation(asset_key=key, metadata={UNCHANGED_SINCE: since})
            for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string())]


def rules_changed(context: AssetExecutionContext, warehouse: WarehouseResource) -> bool:
    """True when the models' rules differ from the last published run's: incremental models are then
    rebuilt from raw (`cdp.build_state.RULE_PARTS`), and the step says so."""
    with warehouse.connect() as con:
        changed = changed_rules(con, get_settings())
    if changed:
        context.log.info(rebuild_reason(changed))
    return bool(changed)


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, pool=WAREHOUSE_POOL, name="cdp_dbt_models",
            dagster_dbt_translator=translator)
def cdp_dbt_models(context: AssetExecutionContext, warehouse: WarehouseResource, config: DbtBuildConfig):
    unchanged = unchanged_observations(context, warehouse, config)
    if unchanged:
        yield from unchanged
        return
    target_path = Path(dbt_project.project_dir) / "target" / (
        f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}")
    if get_settings().dbt_target == "spark":
        # dbt-spark's session method runs on this process's session: no JVM of dbt's own to start
        from cdp.engines.spark_engine import shared_spark_engine

        shared_spark_engine()
    args = ["build", *UNIT_TESTS_EXCLUDED, *dbt_vars_args(),
            *(["--full-refresh"] if config.full_refresh or rules_changed(context, warehouse) else [])]
    invocation = dbt_build_in_process(context, args, project=dbt_project, translator=translator,
                                      target_path=target_path, env=dbt_environment())
    events = list(invocation.stream())
    _prune_invocation_folders(target_path.parent)
    try:
        results = invocation.get_artifact("run_results.json")
        manifest = invocation.get_artifact("manifest.json")
    except FileNotFoundError:  # dbt stopped before it ran anything (a parse or connection error)
        raise dg.Failure(description=f"dbt build failed before running any node: {invocation.get_error()}",
                         allow_retries=False) from None
    settings = get_settings()
    with warehouse.connect() as con:
        failures = record_dbt_results(con, results, manifest, context.run_id)
        built = [e for e in events if isinstance(e, dg.Output | dg.AssetMaterialization)]
        counts = row_counts(con, [r for e in built if (r := _relation(e, manifest)) is not None])
        types = column_types(con, list(counts))
        # previews read each mart once: a Spark job apiece, so not on Spark
        previews = settings.dbt_target != "spark"
        for event in events:
            if isinstance(event, dg.Output | dg.AssetMaterialization):
                event = event.with_metadata({**event.metadata,
                                             **model_metadata(con, event, manifest, counts, previews, types)})
            yield event
    if not invocation.is_successful():
        raise dg.Failure(description=describe_failures(failures) or "dbt build failed; see the step's logs",
                         metadata={"failed_nodes": [f["unique_id"] for f in failures]}, allow_retries=False)
