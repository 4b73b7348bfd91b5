"""What a run's model work is built from, and whether the last good run was built from the same.

Everything downstream of the loaders (dbt models and tests, data-driven attribution, gates, erasure,
syncs, the serving copy) is a function of two things: the rows raw holds, and the files and settings
that say what to do with them (the dbt project, its vars and target, the rule and configuration
files, the pipeline's own code). A run whose raw rows and inputs equal those of the last run that
passed every gate and published has nothing to rebuild: the dbt step says so and stops there, and
everything after it is skipped (`ops.build_state` holds one row per published run).

Raw's rows are summarised from `ops.load_manifest` per source: rows loaded, and when the last file
that loaded a row arrived. A file whose lines were all duplicates or quarantined loads no row and
changes nothing, so an increment that touches nobody rebuilds nothing. The privacy erasure removes
rows after the build but never changes those figures: the marts it erased from are what a rebuild
would give.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cdp.engines.catalog import base_tables, table_exists
from cdp.ops_schema import BUILD_STATE_DDL
from cdp.settings import DBT_PROJECT_DIR, Settings, dbt_environment_variables

ROOT = Path(__file__).resolve().parent.parent

#: the dbt project's parsed inputs
DBT_INPUTS = ("models", "macros", "seeds", "tests", "analyses", "snapshots", "dbt_project.yml", "profiles.yml")
#: the pipeline's code: a new release can change what any step produces
CODE_FOLDERS = (ROOT / "cdp", ROOT / "orchestration", ROOT / "reverse_etl")

#: settings that say where things are, not what to build
PATH_VARIABLES = ("CDP_WAREHOUSE", "CDP_GROUND_TRUTH_DIR", "CDP_SPARK_WAREHOUSE_DIR", "CDP_SPARK_METASTORE_DIR")

#: the inputs that say how the models treat rows: an incremental model keeps the rows it made under
#: the last published run's rules, so when one of these differs from that run's, incremental models
#: are rebuilt from raw (a new channel rule or own domain must reach last month's events too, or the
#: marts would differ from a full refresh over the same files)
RULE_PARTS = {"dbt_project": "the dbt project (models, macros, seeds, dbt_project.yml)",
              "dbt_vars": "the dbt vars (CDP_DBT_VARS)"}



def files_signature(root: Path, names: Iterable[str] = ("",), suffixes: tuple[str, ...] = ()) -> str:
    """A fingerprint of the files under `root` / each name (path, size, modification time): it
    changes when a file is added, removed, moved in or edited. `suffixes` keeps only those files."""
    entries = []
    for name in names:
        path = root / name if name else root
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for f in files:
            if f.is_file() and (not suffixes or f.name.endswith(suffixes)) and "__pycache__" not in f.parts:
                stat = f.stat()
                entries.append(f"{f.relative_to(root) if f != root else f.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


@dataclass(frozen=True)
class BuildState:
    parts: dict[str, object]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.parts, sort_keys=True, default=str).encode()).hexdigest()


def raw_rows(con) -> list[list[str]]:
    """Per source: rows loaded, and when the last file that loaded any row was loaded."""
    if not table_exists(con, "ops", "load_manifest"):
        return []
    rows = con.execute("select source, sum(rows_loaded), max(case when rows_loaded > 0 then loaded_at end) "
                       "from ops.load_manifest group by source order by source").fetchall()
    return [[str(v) for v in row] for row in rows]


def rule_parts(settings: Settings) -> dict[str, object]:
    """The parts of the state named in `RULE_PARTS`: the dbt project's files and the dbt vars."""
    return {"dbt_project": files_signature(DBT_PROJECT_DIR, DBT_INPUTS), "dbt_vars": settings.dbt_vars}


def current_state(con, settings: Settings) -> BuildState:
    # where the warehouse lives is not an input (the state is stored in it); a password is not either
    environment = {k: v for k, v in dbt_environment_variables(settings).items()
                   if "PASSWORD" not in k and k not in PATH_VARIABLES}
    ground_truth = settings.ground_truth_dir
    config_files = sorted({settings.gates_file, settings.syncs_file, *(ROOT / "cdp").rglob("*.yml")})
    return BuildState({
        "raw": raw_rows(con),
        **rule_parts(settings),
        "environment": environment,
        "config": [files_signature(f) for f in config_files],
        "code": [files_signature(folder, suffixes=(".py",)) for folder in CODE_FOLDERS],
        "ground_truth": files_signature(ground_truth) if ground_truth else "",
    })


def ensure_build_state_table(con) -> None:
    con.execute(BUILD_STATE_DDL)


def last_published(con) -> tuple[str, str] | None:
    """(fingerprint, run id) of the last run that published, if any."""
    if not table_exists(con, "ops", "build_state"):
        return None
    row = con.execute("select fingerprint, run_id from ops.build_state "
                      "order by recorded_at desc limit 1").fetchone()
    return (row[0], row[1] or "") if row else None


def record_published(con, state: BuildState, run_id: str | None) -> None:
    """Called when a run has passed every gate and published: later runs compare against it."""
    ensure_build_state_table(con)
    con.execute("insert into ops.build_state values (?, ?, ?, current_timestamp)",
                [state.fingerprint, json.dumps(state.parts, sort_keys=True, default=str), run_id])


def changed_rules(con, settings: Settings) -> list[str]:
    """What of `RULE_PARTS` differs from the last published run's inputs, described; empty when nothing
    does, or when no run has published yet (a first build makes every table from raw anyway)."""
    if not table_exists(con, "ops", "build_state"):
        return []
    row = con.execute("select parts from ops.build_state order by recorded_at desc limit 1").fetchone()
    if not row:
        return []
    published = json.loads(row[0])
    now = rule_parts(settings)
    return [what for part, what in RULE_PARTS.items()
            if part in published and json.dumps(published[part], sort_keys=True, default=str)
            != json.dumps(now[part], sort_keys=True, default=str)]


def rebuild_reason(changed: list[str]) -> str:
    """What a build says when `changed_rules` found something: why incremental models start from raw."""
    return (f"{' and '.join(changed)} changed since the last published run: incremental models are rebuilt "
            "from raw, so every row is made under the same rules")


def unchanged_since(con, settings: Settings, relations: Iterable[tuple[str, str]]) -> str | None:
    """The run id of the last published run when this run has the same raw rows and inputs and every
    relation the build makes still exists (a table dropped by hand is rebuilt); else None."""
    published = last_published(con)
    if published is None or published[0] != current_state(con, settings).fingerprint:
        return None
    wanted = {(s.lower(), t.lower()) for s, t in relations}
    present = {(s.lower(), t.lower()) for s, t in base_tables(con, sorted({s for s, _ in wanted}))}
    return published[1] if wanted <= present else None
