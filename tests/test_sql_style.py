"""The dbt models and data tests are sqlfluff clean: DuckDB dialect, dbt templater, the rules and
the reasons for the ones left out in dbt_project/.sqlfluff."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cdp.settings import DBT_PROJECT_DIR, dbt_environment_variables, get_settings


def test_models_and_data_tests_are_sqlfluff_clean(tmp_path: Path) -> None:
    # the dbt templater compiles against the DuckDB target: an empty warehouse of the test's own
    # (and the gate thresholds every dbt run of cdp is given)
    env = {**os.environ, **dbt_environment_variables(get_settings()), "CDP_WAREHOUSE": str(tmp_path / "lint.duckdb"),
           "CDP_DBT_TARGET": "duckdb"}
    linted = subprocess.run([str(Path(sys.executable).with_name("sqlfluff")), "lint", "models", "tests",
                             "--disable-progress-bar", "--nocolor"],
                            cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    report = "\n".join(line for line in linted.stdout.splitlines() if line.startswith(("== [", "L:")))
    assert linted.returncode == 0 and "All Finished" in linted.stdout, report or linted.stderr[-3000:]


def test_every_model_imports_its_relations_first_and_ends_with_final() -> None:
    """The structure guide's shape: every ref and source of a model is an import CTE of its own
    (`name as (select * from ref(...))`), and the model ends with `select * from final`; refs inside
    Jinja statements (compile-time reads, work tables) are not SQL the model selects from."""
    comments = re.compile(r"\{%-?\s*set \w+\s*-?%\}.*?\{%-?\s*endset\s*-?%\}|\{#.*?#\}|/\*.*?\*/|--[^\n]*|\{%.*?%\}",
                          flags=re.S)
    relation = re.compile(r"\{\{\s*(?:ref|source)\([^)]*\)\s*\}\}")
    inline, unfinished = {}, []
    for path in sorted((DBT_PROJECT_DIR / "models").rglob("*.sql")):
        sql = comments.sub("", path.read_text())
        name = str(path.relative_to(DBT_PROJECT_DIR))
        lines = [line for line in sql.splitlines() if relation.search(line)]
        if bad := [line.strip() for line in lines if not re.fullmatch(r"\s*select \* from " + relation.pattern + r"\s*",
                                                                      line)]:
            inline[name] = bad
        if [line.strip() for line in sql.splitlines() if line.strip()][-1] != "select * from final":
            unfinished.append(name)
    assert inline == {}, "refs outside import CTEs"
    assert unfinished == [], "models that do not end with `select * from final`"


def test_marts_and_audiences_enforce_a_typed_contract() -> None:
    """The BI and sync contract: marts and audiences are built with `contract: {enforced: true}`, and
    every column of every one of their models declares a data_type (dbt then fails a build whose SQL
    returns another name, type or number of columns, on every engine)."""
    import yaml

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["models"]["cdp"]
    assert project["marts"]["+contract"] == {"enforced": True}
    assert project["audiences"]["+contract"] == {"enforced": True}
    untyped, models = [], 0
    for folder in ("marts", "audiences"):
        for path in (DBT_PROJECT_DIR / "models" / folder).rglob("_*__models.yml"):
            for model in yaml.safe_load(path.read_text()).get("models", []):
                models += 1
                untyped += [f"{model['name']}.{c['name']}" for c in model.get("columns", []) if not c.get("data_type")]
                assert model.get("columns"), f"{model['name']} declares no columns"
    sql_models = [p for folder in ("marts", "audiences") for p in (DBT_PROJECT_DIR / "models" / folder).rglob("*.sql")]
    assert models == len(sql_models) and untyped == []
