"""Build the dbt models on any engine without Dagster: `cdp build-models [--target T]`.

Markov and Shapley are a Python step between the models (orchestration/data_driven_attribution.py),
so a whole build is three steps: `dbt build` of everything before them, the step itself on the same
engine, then `dbt build` of what reads them (`source:data_driven_attribution+`). Dagster runs the
same three steps as one asset graph; this is the same thing for a terminal, CI and the engine
parity tests, on DuckDB, PostgreSQL or Spark alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.data_driven_attribution import build_data_driven_attribution, credits_balance
from orchestration.engines import open_engine
from orchestration.settings import DBT_PROJECT_DIR, ENGINES, dbt_environment_variables, get_settings

AFTER_ATTRIBUTION = "source:data_driven_attribution+"


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


def _dbt(target: str, args: list[str], target_path: Path | None, log_path: Path | None,
         env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [dbt_executable(), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
               str(DBT_PROJECT_DIR), "--target", target, "--no-use-colors", *args]
    if target_path:
        command += ["--target-path", str(target_path)]
    if log_path:
        command += ["--log-path", str(log_path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=DBT_PROJECT_DIR, check=False)


def _done_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "Done. PASS=" in line]
    return lines[-1] if lines else output.strip().splitlines()[-1] if output.strip() else "dbt printed nothing"


def build_models(target: str | None = None, *, target_path: Path | None = None, log_path: Path | None = None,
                 progress: Callable[[str], None] = print) -> ModelBuild:
    """dbt build before the data-driven attribution, the attribution, dbt build after it; stops at the
    first step that fails (nothing downstream of a failure is built)."""
    target = target or get_settings().dbt_target
    if target not in ENGINES:
        raise ValueError(f"target must be one of {', '.join(ENGINES)}, got {target!r}")
    env = {**os.environ, **dbt_environment_variables(get_settings()), "CDP_DBT_TARGET": target}
    build = ModelBuild(target)
    plan: list[tuple[str, Callable[[], BuildStep]]] = [
        ("dbt build (before attribution)", lambda: _dbt_step("dbt build (before attribution)",
                                                            ["--exclude", AFTER_ATTRIBUTION])),
        ("markov and shapley", lambda: _attribution_step(target)),
        ("dbt build (after attribution)", lambda: _dbt_step("dbt build (after attribution)",
                                                           ["--select", AFTER_ATTRIBUTION])),
    ]

    def _dbt_step(name: str, args: list[str]) -> BuildStep:
        started = time.perf_counter()
        done = _dbt(target, args, target_path, log_path, env)
        return BuildStep(name, time.perf_counter() - started, done.returncode == 0, _done_line(done.stdout),
                         done.stdout + done.stderr, _node_seconds(target_path or DBT_PROJECT_DIR / "target"))

    for name, run in plan:
        progress(f"[{target}] {name} ...")
        step = run()
        build.steps.append(step)
        progress(f"[{target}] {name}: {'ok' if step.ok else 'FAILED'} in {step.seconds:.1f}s  {step.summary}")
        if not step.ok:
            break
    return build


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


def _attribution_step(target: str) -> BuildStep:
    started = time.perf_counter()
    with open_engine(target) as engine:
        rows = build_data_driven_attribution(engine)
        balances = {table: credits_balance(engine, table) for table in rows}
    failed = [f"{table}: {figures}" for table, (passed, figures) in balances.items() if not passed]
    summary = ", ".join(f"{table} {n} rows" for table, n in rows.items())
    if failed:
        summary += "; credits do not balance: " + "; ".join(failed)
    return BuildStep("markov and shapley", time.perf_counter() - started, not failed, summary)
