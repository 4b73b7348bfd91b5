"""The dbt models and data tests are sqlfluff clean: DuckDB dialect, dbt templater, the rules and
the reasons for the ones left out in dbt_project/.sqlfluff."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cdp.settings import DBT_PROJECT_DIR


def test_models_and_data_tests_are_sqlfluff_clean(tmp_path: Path) -> None:
    # the dbt templater compiles against the DuckDB target: an empty warehouse of the test's own
    env = {**os.environ, "CDP_WAREHOUSE": str(tmp_path / "lint.duckdb"), "CDP_DBT_TARGET": "duckdb"}
    linted = subprocess.run([str(Path(sys.executable).with_name("sqlfluff")), "lint", "models", "tests",
                             "--disable-progress-bar", "--nocolor"],
                            cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    report = "\n".join(line for line in linted.stdout.splitlines() if line.startswith(("== [", "L:")))
    assert linted.returncode == 0 and "All Finished" in linted.stdout, report or linted.stderr[-3000:]
