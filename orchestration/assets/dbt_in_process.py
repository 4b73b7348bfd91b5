"""`dbt build` inside this process, on a project parsed once per process.

A subprocess per build paid for starting Python and importing dbt, and for parsing the whole
project again whenever the warehouse changed (dbt's partial-parse state is invalidated by any change
of the profile, and the DuckDB profile holds the warehouse's path): about 10 of the 50 seconds of a
run over the bundled sample. In-process, dbt reuses the manifest this process parsed for the same
project files, target, database name and vars (`dbtRunner(manifest=...)`). On Spark, dbt-spark's
`session` method also runs on the session this process holds, instead of a JVM of its own.

It gives the Dagster events dagster-dbt's subprocess invocation gives: the same selection for the
step's subset, and each dbt result event turned into Dagster events by dagster-dbt's own translation.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtProject
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.dbt_manifest import validate_manifest

from cdp.transform import temporary_environment

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
        path = self._target_path / name
        if not path.exists() and name == "manifest.json":  # a build on a given manifest writes none
            return dict(self._manifest)
        return json.loads(path.read_text())

    def is_successful(self) -> bool:
        return self._success

    def get_error(self) -> str | None:
        return self._error


#: parsed projects of this process, by what the parse depends on (see _manifest_key)
_parsed: dict[str, Any] = {}
_parse_lock = threading.Lock()
#: environment variables a parse depends on: the project's vars and model configs, and the profile's
#: database (PostgreSQL writes its name into every relation, as DuckDB does the file's stem)
PARSE_ENVIRONMENT = ("CDP_DBT_TARGET", "CDP_DBT_GATES", "CDP_GROUND_TRUTH_DIR", "CDP_DBT_VARS",
                     "CDP_POSTGRES_HOST", "CDP_POSTGRES_PORT", "CDP_POSTGRES_DB")


def _manifest_key(project_dir: Path, env: dict[str, str], args: Sequence[str]) -> str:
    """What a parse depends on: dbt's version, the project's files (their fingerprint, kept beside the
    manifest by `ensure_manifest`), the target, the database name (the DuckDB file's stem, which dbt
    writes into every relation), the variables the project reads and the `--vars` of the build."""
    from dbt.version import __version__

    from orchestration.assets.dbt import inputs_signature

    merged = {**os.environ, **env}
    parts = [__version__, str(project_dir), inputs_signature(project_dir),
             Path(merged.get("CDP_WAREHOUSE", "")).stem, *(f"{k}={merged.get(k, '')}" for k in PARSE_ENVIRONMENT),
             json.dumps(list(args))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


#: environment variables of the profile that hold where the warehouse lives: dbt's partial-parse state
#: is invalidated by any change of the profile, although no parse result depends on these paths (the
#: DuckDB database name is the file's stem, which `_parse_environment` keeps)
PROFILE_LOCATIONS = ("CDP_SPARK_WAREHOUSE_DIR", "CDP_SPARK_METASTORE_DIR")


def _parse_folder(project_dir: Path, env: dict[str, str]) -> Path:
    """Where this target's parses keep dbt's partial-parse state, shared by every process and warehouse
    of the target: a new warehouse (every test, every `cdp run` elsewhere) reparses only what changed."""
    merged = {**os.environ, **env}
    name = f"{merged.get('CDP_DBT_TARGET') or 'duckdb'}-{Path(merged.get('CDP_WAREHOUSE', 'cdp')).stem}"
    return project_dir / "target" / "parse" / name


def _parse_environment(env: dict[str, str], folder: Path) -> dict[str, str]:
    """`env` with the warehouse's locations replaced by fixed ones under `folder` (same file stem)."""
    merged = {**os.environ, **env}
    fixed = {"CDP_WAREHOUSE": str(folder / f"{Path(merged.get('CDP_WAREHOUSE', 'cdp')).stem}.duckdb")}
    fixed.update({name: str(folder / name.lower()) for name in PROFILE_LOCATIONS})
    return {**env, **fixed}


def _manifest(project_dir: Path, profiles_dir: Path, env: dict[str, str], args: Sequence[str]) -> Any:
    """The parsed project (dbt's Manifest object) for this environment, parsed on first use."""
    from dbt.cli.main import dbtRunner

    key = _manifest_key(project_dir, env, args)
    with _parse_lock:
        if key not in _parsed:
            vars_args = list(args[args.index("--vars"):args.index("--vars") + 2]) if "--vars" in args else []
            folder = _parse_folder(project_dir, env)
            folder.mkdir(parents=True, exist_ok=True)
            # processes of other runs (parallel tests, a schedule beside `dagster dev`) share the folder
            with open(folder / ".parse.lock", "w") as lock, temporary_environment(_parse_environment(env, folder)):
                fcntl.flock(lock, fcntl.LOCK_EX)
                result = dbtRunner().invoke(["parse", "--project-dir", str(project_dir), "--profiles-dir",
                                             str(profiles_dir), "--target-path", str(folder), "--quiet",
                                             *vars_args])
            if not result.success:
                raise RuntimeError(f"dbt could not parse the project: {result.exception}")
            _parsed[key] = result.result
        return _parsed[key]


def _close_duckdb_connection() -> None:
    """Close the warehouse connection dbt-duckdb keeps open after a build (its `keep_open` default), so
    this process can open the file with its own settings, and the next build opens it afresh."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


@contextmanager
def _selection_without_project_copy() -> Iterator[None]:
    """dagster-dbt turns a selection of more than 200 resources into a selector in a temporary copy of
    the whole project (target/ included), to keep a subprocess's command line short. dbtRunner takes
    the selection as a Python list, which has no such limit, and a copy would be parsed anew on every
    run: here the selection is always passed as it is."""
    from dagster_dbt import asset_utils

    threshold = asset_utils._SELECTION_ARGS_THRESHOLD
    asset_utils._SELECTION_ARGS_THRESHOLD = sys.maxsize
    try:
        yield
    finally:
        asset_utils._SELECTION_ARGS_THRESHOLD = threshold


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
        if event.info.level in ("info", "warn") and event.info.msg:
            print(event.info.msg, flush=True)

    with temporary_environment(env), _selection_without_project_copy():
        # read DBT_INDIRECT_SELECTION from the environment, as the subprocess invocation does
        params = get_updated_cli_invocation_params_for_context(
            context=context, manifest=manifest, dagster_dbt_translator=translator)
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else project.project_dir)
        if params.indirect_selection:
            env = {**env, "DBT_INDIRECT_SELECTION": params.indirect_selection}
    parsed = _manifest(project_dir, Path(project.profiles_dir), env, args)
    with temporary_environment(env):
        result = dbtRunner(manifest=parsed, callbacks=[collect]).invoke([
            *args, "--project-dir", str(project_dir), "--profiles-dir", str(project.profiles_dir),
            "--target-path", str(target_path), "--log-path", str(target_path), "--quiet",
            *params.selection_args])
    _close_duckdb_connection()
    error = None if result.exception is None else f"{type(result.exception).__name__}: {result.exception}"
    return InProcessDbtInvocation(bool(result.success), error, raw_events, target_path, params.manifest,
                                  params.dagster_dbt_translator, params.dbt_project or project, context)
