"""What the engine parity tests share: one DuckDB build of the bundled sample (the reference), and
a fingerprint of every table that each engine computes in its own SQL, so a difference anywhere
(a row, a key, a cent, a timestamp, a float beyond 1e-9) shows as the table and column it is in."""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cdp.cli import main as cli_main
from cdp.transform import build_models
from tests.conftest import SAMPLE_LANDING, Workspace, make_workspace

SCHEMAS = ("staging", "intermediate", "marts", "audiences")
#: appended once per build, so their row counts count builds
HISTORY = {"data_health_scores", "identity_health"}
#: when or by which invocation a build ran: different on every build by design
RUN_COLUMNS = {"assigned_at", "recorded_at", "first_recorded_at", "measured_at", "run_at", "dbt_invocation_id",
               "_loaded_at", "ground_truth_dir", "_built_at", "_events_loaded_through", "_crm_loaded_through",
               "_consent_loaded_through",
               # where the landing zone was: another folder for each run compared
               "_source_file", "source_file"}
#: internal ids hashed by each engine's own hash function (cdp_hash_id): their values differ between
#: engines by design, so only how many there are, and how many distinct, is compared
ENGINE_HASHES = {"node_id", "cluster_node_id", "component_node_id", "left_node_id", "right_node_id"}
NUMERIC = ("DOUBLE", "DECIMAL", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "SMALLINT", "UBIGINT")
#: binary floats: the last bits of a computed value may differ between engines, so their distinct
#: count is no measure; their sums are compared to 1e-9
FLOATS = ("DOUBLE", "FLOAT")
TEXT = ("VARCHAR",)
TIMES = ("TIMESTAMP", "DATE")

Query = Callable[[str], list[tuple]]


def build_duckdb_sample(root: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The bundled sample loaded into raw by the loaders and its models built on DuckDB the way every
    engine builds them (`build_models`: no erasure or syncs after), the reference each engine matches."""
    landing = root / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    ws = make_workspace(root, landing, monkeypatch)
    assert cli_main(["load"]) == 0
    build = build_models("duckdb", target_path=root / "duckdb_target", log_path=root / "duckdb_logs")
    assert build.ok, build.steps[-1].output[-3000:]
    return ws


def compared_tables(ws: Workspace, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, list[tuple[str, str]]]:
    """`schema.table` -> [(column, DuckDB type)] of every non-history table of the given layers."""
    rows = ws.query("""select c.table_schema, c.table_name, c.column_name, c.data_type
                       from information_schema.columns as c
                       inner join information_schema.tables as t using (table_schema, table_name)
                       where t.table_type = 'BASE TABLE' and list_contains(?, c.table_schema)
                       order by c.table_schema, c.table_name, c.ordinal_position""", [list(schemas)])
    tables: dict[str, list[tuple[str, str]]] = {}
    for schema, table, column, kind in rows:
        # the clustering's state for the next run holds edges as (smaller hash, larger hash): which end
        # is smaller depends on the engine's hash; the edges themselves are compared in int_identity__edges
        if table not in HISTORY and "__work" not in table and not table.endswith("__allowed_state"):
            tables.setdefault(f"{schema}.{table}", []).append((column, kind))
    return tables


def fingerprint_sql(table: str, columns: list[tuple[str, str]], quote: str,
                    double: str = "double") -> tuple[str, list[str]]:
    """One row of aggregates of `table` and what each one is: rows, then per column non-null values,
    distinct values, and a sum (numbers), total length (text) or first and last value (times)."""
    def q(name: str) -> str:
        return quote + name + quote

    parts, labels = ["count(*)"], ["rows"]
    for column, kind in columns:
        if column in RUN_COLUMNS:
            continue
        base = kind.split("(")[0].upper()
        parts += [f"count({q(column)})"]
        labels += [f"{column}: values"]
        if column in ENGINE_HASHES:
            parts += [f"count(distinct {q(column)})"]
            labels += [f"{column}: distinct"]
        elif base in FLOATS:
            parts += [f"sum(cast({q(column)} as {double}))"]
            labels += [f"{column}: sum"]
        elif base in NUMERIC:
            parts += [f"count(distinct {q(column)})", f"sum(cast({q(column)} as {double}))"]
            labels += [f"{column}: distinct", f"{column}: sum"]
        elif base in TEXT:
            parts += [f"count(distinct {q(column)})", f"sum(length({q(column)}))"]
            labels += [f"{column}: distinct", f"{column}: total length"]
        elif base == "BOOLEAN":
            parts += [f"sum(case when {q(column)} then 1 else 0 end)"]
            labels += [f"{column}: true"]
        elif base.startswith(TIMES):
            parts += [f"count(distinct {q(column)})", f"min({q(column)})", f"max({q(column)})"]
            labels += [f"{column}: distinct", f"{column}: first", f"{column}: last"]
    return f"select {', '.join(parts)} from {table}", labels


def _normal(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return value


def _same(a, b) -> bool:
    a, b = _normal(a), _normal(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def differences(ws: Workspace, other: Query, other_quote: str, other_double: str = "double",
                schemas: tuple[str, ...] = SCHEMAS) -> list[str]:
    """Every table, and every aggregate of every column, where the other engine differs from DuckDB."""
    found = []
    for table, columns in compared_tables(ws, schemas).items():
        sql, labels = fingerprint_sql(table, columns, '"')
        reference = ws.query(sql)[0]
        other_sql, _ = fingerprint_sql(table, columns, other_quote, other_double)
        try:
            theirs = other(other_sql)[0]
        except Exception as exc:  # a missing table or column is a difference too
            found.append(f"{table}: {str(exc).splitlines()[0][:200]}")
            continue
        for label, mine, their in zip(labels, reference, theirs, strict=True):
            if not _same(mine, their):
                found.append(f"{table}.{label}: duckdb {mine!r}, other {their!r}")
    return found
