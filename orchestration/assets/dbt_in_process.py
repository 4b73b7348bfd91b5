"""`dbt build` inside this process, for the Spark target: dbt-spark's `session` method then runs on
the session this process already holds, instead of a subprocess starting a JVM of its own (and this
process stopping its session first, since the local metastore admits one JVM at a time).

It gives the Dagster events dagster-dbt's subprocess invocation gives: the same selection for the
step's subset, and each dbt result event turned into Dagster events by dagster-dbt's own translation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtProject
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.dbt_manifest import validate_manifest

from orchestration.transform import temporary_environment

#: dbt's result events: one per seed, model, snapshot and test that finished
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})


class InProcessDbtInvocation:
    """One finished `dbt build` run through dbtRunner: what `DbtCliInvocation` offers that the asset uses."""

    def __init__(self, success: bool, error: str | None, raw_events: list[dict[str, Any]],
                 target_path: Path, manifest: Mapping[str, Any], translator: DagsterDbtTranslator,
                 project: DbtProject | None, context: AssetExecutionContext) -> None:
        self._success, self._error, self._raw_events = success, error, raw_events
        self._target_path, self._manifest, self._translator = target_path, manifest, translator
        self._project, self._context = project, context

    def stream(self) -> Iterator[Any]:
        for raw in self._raw_events:
            message = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
            yield from message.to_default_asset_events(
                manifest=self._manifest, dagster_dbt_translator=self._translator, context=self._context,
                target_path=self._target_path, project=self._project)

    def get_artifact(self, name: str) -> dict[str, Any]:
        return json.loads((self._target_path / name).read_text())

    def is_successful(self) -> bool:
        return self._success

    def get_error(self) -> str | None:
        return self._error


def dbt_build_in_process(context: AssetExecutionContext, args: Sequence[str], *, project: DbtProject,
                         translator: DagsterDbtTranslator, target_path: Path,
                         env: dict[str, str]) -> InProcessDbtInvocation:
    """`dbt build <args>` for the step's selected assets, in this process, with `env` set meanwhile.
    dbt's own lines are printed as they come, as the subprocess's are."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    manifest = validate_manifest(project.manifest_path)
    raw_events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect(event) -> None:  # called from dbt's worker threads
        name = event.info.name
        if name in RESULT_EVENTS:
            with lock:
                raw_events.append(msg_to_dict(event))
        if event.info.level in ("info", "warn", "error") and event.info.msg:
            print(event.info.msg, flush=True)

    with temporary_environment(env):
        # read DBT_INDIRECT_SELECTION from the environment, as the subprocess invocation does
        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest=manifest, dagster_dbt_translator=translator)
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else project.project_dir)
        if params.indirect_selection:
            env = {**env, "DBT_INDIRECT_SELECTION": params.indirect_selection}
    with temporary_environment(env):
        result = dbtRunner(callbacks=[collect]).invoke([
            *args, "--project-dir", str(project_dir), "--profiles-dir", str(project.profiles_dir),
            "--target-path", str(target_path), "--log-path", str(target_path), "--quiet",
            *params.selection_args])
    error = None if result.exception is None else f"{type(result.exception).__name__}: {result.exception}"
    return InProcessDbtInvocation(bool(result.success), error, raw_events, target_path, params.manifest,
                                  params.dagster_dbt_translator, params.dbt_project or project, context)
