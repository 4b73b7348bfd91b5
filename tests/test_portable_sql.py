"""The dbt project's SQL outside dispatched macros is portable: no syntax that DuckDB has and PostgreSQL
or Spark lacks in a model, a singular test or a var (engine-specific SQL belongs in `adapter.dispatch`
macros), and nothing is updated or deleted in place (Spark's Parquet tables cannot)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cdp.settings import REPO_ROOT

PROJECT = REPO_ROOT / "dbt_project"

#: (pattern, why): functions and syntax one engine has and another of DuckDB, PostgreSQL and Spark lacks
DUCKDB_ONLY = [
    (r"\bjson_extract(_string)?\s*\(", "JSON functions: use json_text() / json_texts()"),
    (r"\blist_[a-z_]+\s*\(", "list functions: use a dispatched macro"),
    (r"\bstruct_pack\s*\(", "struct_pack"),
    (r"\bregexp_full_match\s*\(", "use cdp_regex_full_match()"),
    (r"\btry_cast\s*\(", "use the try_cast() macro"),
    (r"\barg_(min|max)\s*\(", "use cdp_arg_min() / cdp_latest()"),
    (r"\bepoch\s*\(|\bdate_diff\s*\(|\bstrftime\s*\(", "date functions: use dbt.datediff() / cdp_days_between()"),
    (r"\bexclude\s*\(", "select * exclude"),
    (r"\bread_(csv|parquet|json)\w*\s*\(", "file readers"),
    (r"\bsha256\s*\(", "use sha256_hex()"),
    (r"\binterval\s+\d+\s+(second|minute|hour|day|week|month|year)s?\b", "interval literals: use dbt.dateadd()"),
    (r"\bgroup\s+by\s+all\b", "group by all"),
    (r"\bqualify\b", "qualify: filter a window in an outer query"),
    (r"\bas\s+double\b(?!\s+precision)", "double: use type_double()"),
    (r"\bvarchar\b", "varchar (Spark needs a length): use dbt.type_string()"),
    (r"\btimestamp\s+with\s+time\s+zone\b|\btimestamptz\b", "use type_timestamptz()"),
    (r"\bstring_agg\s*\(", "use string_agg_distinct()"),
    (r"\bdelete\s+from\b|\bupdate\s+[\w.\"]+\s+set\b|\binsert\s+into\b",
     "in-place writes: Spark's Parquet tables only take create-table-as-select and append (cdp_replace_table)"),
    (r"\brow_number\s*\(\s*\)\s*over\s*\(\s*\)", "row_number() over (): give an order (Spark requires one)"),
    (r"escape\s+'\\\\'", "a backslash LIKE escape: Spark reads '\\' as an open string"),
]

JINJA = re.compile(r"{#.*?#}|{{.*?}}|{%.*?%}", re.S)
COMMENT = re.compile(r"--[^\n]*")


def _sql_outside_macros(path: Path) -> str:
    return COMMENT.sub("", JINJA.sub(" ", path.read_text()))


def test_models_and_tests_use_no_duckdb_only_sql() -> None:
    files = sorted((PROJECT / "models").rglob("*.sql")) + sorted((PROJECT / "tests").rglob("*.sql"))
    assert len(files) > 60
    found = [(str(f.relative_to(PROJECT)), why) for f in files for pattern, why in DUCKDB_ONLY
             if re.search(pattern, _sql_outside_macros(f), flags=re.I)]
    assert found == []


def test_vars_hold_no_duckdb_only_sql() -> None:
    project = yaml.safe_load((PROJECT / "dbt_project.yml").read_text())

    def texts(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict):
            return [t for v in value.values() for t in texts(v)]
        if isinstance(value, list):
            return [t for v in value for t in texts(v)]
        return []

    strings = [t for t in texts(project["vars"]) if "{{" not in t]
    assert any("type = 'page'" in t for t in strings)  # the health rules' conditions are read
    found = [(t, why) for t in strings for pattern, why in DUCKDB_ONLY if re.search(pattern, t, flags=re.I)]
    assert found == []


def test_the_lint_catches_what_it_is_for(tmp_path: Path) -> None:
    model = tmp_path / "m.sql"
    model.write_text("select json_extract_string(x, '$.a'), * exclude (y) from t where ts > now() - interval 2 day\n"
                     "{{ ok_macro('json_extract_string') }}")
    text = _sql_outside_macros(model)
    hits = {why for pattern, why in DUCKDB_ONLY if re.search(pattern, text, flags=re.I)}
    assert len(hits) == 3 and "select * exclude" in hits
    model.write_text("select cast(x as varchar), row_number() over () from t; update t set a = 1")
    hits = {why for pattern, why in DUCKDB_ONLY if re.search(pattern, _sql_outside_macros(model), flags=re.I)}
    assert len(hits) == 3
