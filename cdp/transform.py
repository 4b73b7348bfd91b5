"""Build the dbt models on any engine without Dagster: `cdp build-models [--target T]`.

The probabilistic identity tier (cdp/identity_probabilistic.py), Markov and Shapley
(cdp/data_driven_attribution.py) and the propensity model (cdp/propensity.py) are Python steps between
the models, so a whole build is six steps: `dbt build` of everything before the identity graph, the
probabilistic tier, `dbt build` of the identity graph and what follows it (AFTER_LINKS), the two
later steps on the same engine, then `dbt build` of what reads them (AFTER_PYTHON). Dagster
runs the same steps as one asset graph; this is the same thing for a terminal, CI and the engine
parity tests, on DuckDB, PostgreSQL or Spark alike.

On DuckDB and PostgreSQL dbt runs as a subprocess (the DuckDB file has one writer at a time, so this
process holds no connection while dbt builds). On Spark the steps share one Spark session in
this process, dbt running in-process (dbt-spark's `session` method takes the session already open):
a local session is a JVM whose start, metastore and warm-up cost more than most of the models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cdp.build_state import changed_rules, rebuild_reason
from cdp.data_driven_attribution import build_data_driven_attribution, credits_balance
from cdp.engines import Engine, open_engine
from cdp.identity_probabilistic import link_records, probabilistic_settings
from cdp.identity_probabilistic import record_card as record_probabilistic_card
from cdp.propensity import propensity_settings, record_card, train_and_score
from cdp.settings import DBT_PROJECT_DIR, ENGINES, dbt_environment_variables, get_settings

#: the models that read what the probabilistic identity tier writes (identity and all that follows)
AFTER_LINKS = "source:identity_probabilistic+"
#: the models that read what the later Python steps write (Markov and Shapley, the propensity scores)
AFTER_PYTHON = "source:data_driven_attribution+ source:propensity+"


def dbt_executable() -> str:
    """The dbt installed beside this Python (works without an activated virtual environment)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


@dataclass
class BuildStep:
    name: str
    seconds: float
    ok: bool
    summary: str  # dbt's "Done. PASS=..." line, or what the Python step wrote
    output: str = ""
    #: dbt steps: each node's own seconds and the layer (folder under models/, or seeds, tests) it is in
    node_seconds: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass
class ModelBuild:
    target: str
    steps: list[BuildStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def passed(self) -> int:
        """Nodes dbt reported as PASS over both invocations."""
        return sum(int(s.summary.split("PASS=")[1].split()[0]) for s in self.steps if "PASS=" in s.summary)


#: dbt's unit tests check the models' logic on fixed inputs, not the data: they run in `make test`
#: (tests/test_budgets.py) and in development, not in every build of the warehouse, as dbt advises
UNIT_TESTS_EXCLUDED = ("--exclude-resource-type", "unit_test")


def dbt_vars_args() -> list[str]:
    """`--vars` from CDP_DBT_VARS (a YAML or JSON mapping), to change rules for one run."""
    raw = get_settings().dbt_vars
    return ["--vars", raw] if raw else []


def _dbt_arguments(target: str, args: list[str], target_path: Path | None, log_path: Path | None) -> list[str]:
    arguments = ["build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                 "--target", target, "--no-use-colors", *UNIT_TESTS_EXCLUDED, *dbt_vars_args(), *args]
    if target_path:
        arguments += ["--target-path", str(target_path)]
    if log_path:
        arguments += ["--log-path", str(log_path)]
    return arguments


def _dbt(arguments: list[str], env: dict[str, str]) -> tuple[bool, str]:
    """dbt in a subprocess: whether it succeeded, and what it printed."""
    done = subprocess.run([dbt_executable(), *arguments], capture_output=True, text=True, env=env,
                          cwd=DBT_PROJECT_DIR, check=False)
    return done.returncode == 0, done.stdout + done.stderr


@contextmanager
def temporary_environment(env: dict[str, str]) -> Iterator[None]:
    """`env` as this process's environment for the block (dbt in-process reads os.environ), then back."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _dbt_in_process(arguments: list[str], env: dict[str, str]) -> tuple[bool, str]:
    """dbt in this process (Spark: it then uses this process's session); its log lines are collected
    rather than printed, as the subprocess's are."""
    from dbt.cli.main import dbtRunner

    lines: list[str] = []

    def collect(event) -> None:
        if event.info.level in ("info", "warn", "error") and event.info.msg:
            lines.append(str(event.info.msg))

    with temporary_environment(env):
        result = dbtRunner(callbacks=[collect]).invoke([*arguments, "--quiet"])
    if result.exception is not None:
        lines.append(f"dbt stopped: {result.exception}")
    return bool(result.success), "\n".join(lines)


def _done_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "Done. PASS=" in line]
    return lines[-1] if lines else output.strip().splitlines()[-1] if output.strip() else "dbt printed nothing"


def build_models(target: str | None = None, *, target_path: Path | None = None, log_path: Path | None = None,
                 progress: Callable[[str], None] = print, engine: Engine | None = None,
                 full_refresh: bool = False) -> ModelBuild:
    """dbt build before the data-driven attribution, the attribution, dbt build after it; stops at the
    first step that fails (nothing downstream of a failure is built).

    `engine`, when given, is the open engine of `target` the attribution step uses (and, on Spark, the
    session dbt builds in); it stays open for the caller. Otherwise a Spark build opens one session
    for its steps and stops it at the end.

    Incremental models are rebuilt from raw with `full_refresh`, and also when the dbt project or its
    vars differ from those of the last published `cdp run` (`cdp.build_state.changed_rules`), as `cdp
    run` does: otherwise rows staged under the old rules would stay beside rows staged under the new."""
    target = target or get_settings().dbt_target
    if target not in ENGINES:
        raise ValueError(f"target must be one of {', '.join(ENGINES)}, got {target!r}")
    if engine is not None and engine.name != target:
        raise ValueError(f"the engine given is {engine.name}, the target {target}")
    if target == "spark" and engine is None:
        with open_engine("spark") as session:
            return build_models(target, target_path=target_path, log_path=log_path, progress=progress,
                                engine=session, full_refresh=full_refresh)
    changed = [] if full_refresh else _changed_rules(target, engine)
    if changed:
        progress(f"[{target}] {rebuild_reason(changed)}")
    refresh = ["--full-refresh"] if full_refresh or changed else []
    env = {**os.environ, **dbt_environment_variables(get_settings()), "CDP_DBT_TARGET": target}
    run_dbt = _dbt_in_process if target == "spark" else _dbt
    build = ModelBuild(target)

    def dbt_step(name: str, args: list[str]) -> BuildStep:
        started = time.perf_counter()
        ok, output = run_dbt(_dbt_arguments(target, [*args, *refresh], target_path, log_path), env)
        return BuildStep(name, time.perf_counter() - started, ok, _done_line(output), output,
                         _node_seconds(target_path or DBT_PROJECT_DIR / "target"))

    plan: list[tuple[str, Callable[[], BuildStep]]] = [
        ("dbt build (before the Python steps)", lambda: dbt_step("dbt build (before the Python steps)",
                                                                ["--exclude", AFTER_LINKS, AFTER_PYTHON])),
        ("probabilistic identity", lambda: _probabilistic_identity_step(target, engine)),
        ("dbt build (identity and what follows)", lambda: dbt_step(
            "dbt build (identity and what follows)", ["--select", AFTER_LINKS, "--exclude", AFTER_PYTHON])),
        ("markov and shapley", lambda: _attribution_step(target, engine)),
        ("propensity", lambda: _propensity_step(target, engine)),
        ("dbt build (after the Python steps)", lambda: dbt_step("dbt build (after the Python steps)",
                                                               ["--select", AFTER_PYTHON])),
    ]
    for name, run in plan:
        progress(f"[{target}] {name} ...")
        step = run()
        build.steps.append(step)
        progress(f"[{target}] {name}: {'ok' if step.ok else 'FAILED'} in {step.seconds:.1f}s  {step.summary}")
        if not step.ok:
            break
    return build


def _changed_rules(target: str, engine: Engine | None) -> list[str]:
    """What of the models' rules differs from the last published run's (closed again before dbt
    starts: on DuckDB the file has one writer)."""
    if engine is not None:
        return changed_rules(engine, get_settings())
    with open_engine(target) as opened:
        return changed_rules(opened, get_settings())


def _node_seconds(target_path: Path) -> dict[str, tuple[str, float]]:
    """unique_id -> (layer, seconds) from the run results dbt just wrote."""
    try:
        results = json.loads((target_path / "run_results.json").read_text())["results"]
        nodes = json.loads((target_path / "manifest.json").read_text())["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    out = {}
    for result in results:
        node = nodes.get(result["unique_id"], {})
        kind = node.get("resource_type", result["unique_id"].split(".")[0])
        path = node.get("original_file_path", "")
        layer = path.split("/")[1] if kind == "model" and path.count("/") >= 2 else f"{kind}s"
        out[result["unique_id"]] = (layer, float(result.get("execution_time") or 0.0))
    return out


def _attribution_step(target: str, engine: Engine | None) -> BuildStep:
    started = time.perf_counter()
    if engine is None:
        with open_engine(target) as opened:
            rows, balances = _solve_and_check(opened)
    else:
        rows, balances = _solve_and_check(engine)
    failed = [f"{table}: {figures}" for table, (passed, figures) in balances.items() if not passed]
    summary = ", ".join(f"{table} {n} rows" for table, n in rows.items())
    if failed:
        summary += "; credits do not balance: " + "; ".join(failed)
    return BuildStep("markov and shapley", time.perf_counter() - started, not failed, summary)


def _probabilistic_identity_step(target: str, engine: Engine | None) -> BuildStep:
    started = time.perf_counter()
    if engine is None:
        with open_engine(target) as opened:
            card = link_records(opened, probabilistic_settings())
            record_probabilistic_card(opened, card)
    else:
        card = link_records(engine, probabilistic_settings())
        record_probabilistic_card(engine, card)
    summary = f"{card.status}: {card.records} records, {card.links} links at p >= {card.min_probability}"
    return BuildStep("probabilistic identity", time.perf_counter() - started, True, summary)


def _propensity_step(target: str, engine: Engine | None) -> BuildStep:
    started = time.perf_counter()
    if engine is None:
        with open_engine(target) as opened:
            card = train_and_score(opened, **propensity_settings())
            record_card(opened, card)
    else:
        card = train_and_score(engine, **propensity_settings())
        record_card(engine, card)
    summary = f"{card.status}: AUC {card.auc}, lead score AUC {card.lead_score_auc}, {card.scored_profiles} scored"
    return BuildStep("propensity", time.perf_counter() - started, True, summary)


def _solve_and_check(engine: Engine) -> tuple[dict[str, int], dict[str, tuple[bool, dict[str, float]]]]:
    rows = build_data_driven_attribution(engine)
    return rows, {table: credits_balance(engine, table) for table in rows}
