"""`ops.quality_results`: one row per evaluation of any gate, whatever ran it.

Great Expectations suites on landing files, the raw loaders' reconciliation and quarantine-rate
checks, every dbt test of a build, the Python SQL checks on audiences and the reverse-ETL guardrails
all land here with the same shape, so BI can chart quality over time and `cdp status` can say what
failed last. A `CheckOutcome` is also what the Dagster assets turn into an `AssetCheckResult`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cdp.engines.types import Warehouse
from cdp.ops_schema import QUALITY_DDL


@dataclass
class CheckOutcome:
    """The result of one gate evaluation."""

    layer: str
    asset: str
    check_name: str
    passed: bool
    severity: str = "error"
    engine: str = "sql"
    target: str | None = None
    rows_checked: int | None = None
    rows_failed: int | None = None
    observed: float | None = None
    threshold: str | None = None
    seconds: float | None = None
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    markdown: dict[str, str] = field(default_factory=dict)  # longer texts, shown as markdown in Dagster

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "error"


def ensure_quality_tables(con: Warehouse) -> None:
    con.execute(QUALITY_DDL)


def record_outcomes(con: Warehouse, outcomes: Iterable[CheckOutcome], run_id: str | None) -> int:
    """Append the outcomes to ops.quality_results; returns how many rows were written."""
    rows = [(run_id, o.layer, o.asset, o.check_name, o.target, o.engine, o.severity, o.passed, o.rows_checked,
             o.rows_failed, o.observed, o.threshold, o.seconds, json.dumps({**o.details, **o.markdown}, default=str)
             if o.details or o.markdown else None) for o in outcomes]
    if not rows:
        return 0
    ensure_quality_tables(con)
    if hasattr(con, "append_arrow"):  # a warehouse engine: one COPY / one Spark job, not a statement per row
        import pyarrow as pa

        names = ["run_id", "layer", "asset", "check_name", "target", "engine", "severity", "passed", "rows_checked",
                 "rows_failed", "observed", "threshold", "seconds", "details"]
        def typed(row: tuple) -> dict[str, Any]:  # counts from PostgreSQL's sum() arrive as Decimal
            record = dict(zip(names, row, strict=True))
            for name, kind in (("rows_checked", int), ("rows_failed", int), ("observed", float), ("seconds", float)):
                record[name] = None if record[name] is None else kind(record[name])
            return record

        table = pa.Table.from_pylist([typed(r) for r in rows], schema=QUALITY_SCHEMA())
        now = pa.array([datetime.now(UTC)] * len(rows), pa.timestamp("us", tz="UTC"))
        con.append_arrow("ops", "quality_results", table.add_column(1, "checked_at", now))
        return len(rows)
    marks = ", ".join("?" * (len(rows[0]) - 1))
    con.executemany(f"insert into ops.quality_results values (?, now(), {marks})", rows)
    return len(rows)


def QUALITY_SCHEMA():
    import pyarrow as pa

    text, integer, number = pa.string(), pa.int64(), pa.float64()
    return pa.schema([("run_id", text), ("layer", text), ("asset", text), ("check_name", text), ("target", text),
                      ("engine", text), ("severity", text), ("passed", pa.bool_()), ("rows_checked", integer),
                      ("rows_failed", integer), ("observed", number), ("threshold", text), ("seconds", number),
                      ("details", text)])
