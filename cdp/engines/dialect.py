"""The Python steps' SQL, written once in DuckDB's dialect, as PostgreSQL and Spark SQL.

The statements the application runs outside dbt (gates, the loaders' bookkeeping, erasure, status)
are written in DuckDB's dialect, the embedded default, and translated by sqlglot for the other
engines, once per statement text (cached). Values are never part of the text: `?` placeholders stay
placeholders (`%s` for psycopg, `?` for Spark's positional parameters). What sqlglot cannot know is
fixed here, where each engine's SQL lives:

- `create or replace temp table x as ...` becomes drop-then-create on PostgreSQL (which has no
  `or replace` for tables); on Spark, which has no temporary tables, a Parquet table in the scratch
  schema `cdp_scratch` behind a temporary view of the name (computed once, so later deletes from
  its source tables do not change it; `SparkEngine.drop_scratch` removes them);
- JSON access on PostgreSQL reads `jsonb` columns (raw JSON lands as jsonb);
- a row's physical id, DuckDB's `rowid`, is PostgreSQL's `ctid`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

_CREATE_OR_REPLACE_TEMP = re.compile(r"^\s*create\s+or\s+replace\s+temp(?:orary)?\s+table\s+(\w+)\s+as\s+(.*)$",
                                     re.I | re.S)
#: where Spark keeps the Python steps' temporary tables
SPARK_SCRATCH = "cdp_scratch"
_TRANSACTION = re.compile(r"^\s*(begin(\s+transaction)?|commit|rollback)\s*;?\s*$", re.I)
_ROWID = re.compile(r"\browid\b", re.I)
_DDL = re.compile(r"^\s*(create|alter)\s+table", re.I)
#: functions sqlglot names as PostgreSQL does not (raw JSON is jsonb; string_split_regex)
_POSTGRES_FUNCTIONS = (("JSON_EXTRACT_PATH_TEXT(", "JSONB_EXTRACT_PATH_TEXT("),
                       ("JSON_EXTRACT_PATH(", "JSONB_EXTRACT_PATH("), ("REGEXP_SPLIT(", "REGEXP_SPLIT_TO_ARRAY("))
#: column types sqlglot passes through that the engine lacks
_TYPES = {
    "postgres": [(re.compile(r"\bUBIGINT\b"), "NUMERIC(20)")],
    "spark": [(re.compile(r"\bUBIGINT\b"), "DECIMAL(20, 0)"), (re.compile(r"\bJSON\b"), "STRING")],
}


def is_transaction_control(sql: str) -> str | None:
    """'begin', 'commit' or 'rollback' when the statement is one of them, else None."""
    match = _TRANSACTION.match(sql)
    return match.group(1).split()[0].lower() if match else None


@lru_cache(maxsize=2048)
def translate(sql: str, engine: str) -> tuple[str, ...]:
    """The statements that do what DuckDB's `sql` does, in `engine`'s dialect."""
    if engine == "duckdb":
        return (sql,)
    replace = _CREATE_OR_REPLACE_TEMP.match(sql)
    if replace:
        name, query = replace.groups()
        if engine == "postgres":
            return (f"drop table if exists {name}", *translate(f"create temp table {name} as {query}", engine))
        # a physical table in the scratch schema behind a temporary view of the name: a cached view
        # would be recomputed when a table it reads changes (erasure deletes from its own sources)
        return (f"create database if not exists {SPARK_SCRATCH}", f"drop view if exists {name}",
                f"drop table if exists {SPARK_SCRATCH}.{name}",
                f"create table {SPARK_SCRATCH}.{name} using parquet as {_one(query, engine)}",
                f"create temporary view {name} as select * from {SPARK_SCRATCH}.{name}")
    statements = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        statement = _alias_subqueries(tree).sql(dialect=engine)
        if _DDL.match(statement):
            for pattern, replacement in _TYPES[engine]:
                statement = pattern.sub(replacement, statement)
        if engine == "postgres":
            statement = _ROWID.sub("ctid", statement)
            for duckdb_name, postgres_name in _POSTGRES_FUNCTIONS:
                statement = statement.replace(duckdb_name, postgres_name)
        statements.append(statement)
    return tuple(statements)


def _alias_subqueries(tree: exp.Expression) -> exp.Expression:
    """DuckDB reads `from (select ...)` without an alias; PostgreSQL and Spark want one."""
    for number, subquery in enumerate(list(tree.find_all(exp.Subquery))):
        if isinstance(subquery.parent, exp.From | exp.Join) and not subquery.alias:
            subquery.set("alias", exp.TableAlias(this=exp.to_identifier(f"_subquery_{number}")))
    return tree


def _one(sql: str, engine: str) -> str:
    (statement,) = sqlglot.transpile(sql, read="duckdb", write=engine)
    return statement
