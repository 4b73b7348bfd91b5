"""Gates that run as SQL in the warehouse, with thresholds from gates.yml (cdp/gate_thresholds.py).

- raw `volume`: each new file's rows against the median of the source's earlier files;
- audiences `size_change`: members now against the last run whose every gate passed
  (`ops.audience_size_history`, written when the serving copy is published);
- audiences `consent_present`: members of an audience a sync sends under a consent purpose are
  known profiles with a recorded consent state for it.

Each returns a `CheckOutcome`; nothing here reads a table into Python beyond a few aggregates.
"""

from __future__ import annotations

import time
from pathlib import Path

from cdp.engines.catalog import column_names
from cdp.engines.types import Warehouse
from cdp.gate_thresholds import gate
from cdp.quality.results import CheckOutcome

AUDIENCE_HISTORY_DDL = """
create table if not exists ops.audience_size_history (
    run_id varchar,
    audience varchar not null,
    members bigint not null,
    recorded_at timestamptz not null
);
"""


def raw_volume(con: Warehouse, source: str, new_files: list[str]) -> CheckOutcome:
    """New files of a source whose row count is far from the median of the files loaded before them."""
    rules = gate("raw", "volume")
    started = time.perf_counter()
    low, high = float(rules["min_share_of_median"]), float(rules["max_multiple_of_median"])
    minimum = int(rules["min_previous_files"])
    if not new_files:
        return CheckOutcome("raw", f"raw/{source}", "volume", True, rules["severity"], target=source,
                            rows_checked=0, rows_failed=0, threshold=f"{low:g}x..{high:g}x median file",
                            description="no new files", seconds=time.perf_counter() - started)
    placeholders = ", ".join("?" for _ in new_files)
    median, previous = con.execute(
        f"select median(rows_read), count(*) from ops.load_manifest where source = ? and status = 'loaded' "
        f"and file_path not in ({placeholders})", [source, *new_files]).fetchone()
    odd = []
    if median and previous >= minimum:
        odd = con.execute(
            f"select file_path, rows_read from ops.load_manifest where source = ? and status = 'loaded' "
            f"and file_path in ({placeholders}) and (rows_read < ? or rows_read > ?)",
            [source, *new_files, low * median, high * median]).fetchall()
    return CheckOutcome(
        "raw", f"raw/{source}", "volume", not odd, rules["severity"], target=source,
        rows_checked=len(new_files), rows_failed=len(odd), observed=float(median or 0),
        threshold=f"{low:g}x..{high:g}x the median file ({median or 0:,.0f} rows over {previous} files)",
        seconds=time.perf_counter() - started,
        description="each new file holds between min_share_of_median and max_multiple_of_median of the usual rows",
        details={"files_out_of_range": [f"{Path(p).name}: {n:,} rows" for p, n in odd]},
    )


def audience_members(con: Warehouse, audience: str) -> int:
    return int(con.execute(f'select count(*) from audiences."{audience}"').fetchone()[0])


def audience_size_change(con: Warehouse, audience: str) -> CheckOutcome:
    """Members now against the last published run's members."""
    rules = gate("audiences", "size_change")
    started = time.perf_counter()
    con.execute(AUDIENCE_HISTORY_DDL)
    now = audience_members(con, audience)
    last = con.execute("select members from ops.audience_size_history where audience = ? "
                       "order by recorded_at desc limit 1", [audience]).fetchone()
    drop, growth = float(rules["max_drop_share"]), float(rules["max_growth_multiple"])
    floor = int(rules["min_previous_members"])
    before = int(last[0]) if last else None
    passed = True
    if before is not None and before >= floor:
        passed = now >= before * (1.0 - drop) and now <= before * growth
    change = (now - before) / before if before else None
    return CheckOutcome(
        "audiences", f"audiences/{audience}", "size_change", passed, rules["severity"], target=audience,
        rows_checked=now, observed=change,
        threshold=f"drop <= {drop:.0%}, growth <= {growth:g}x of the last published run (from {floor} members)",
        seconds=time.perf_counter() - started,
        description="members against the last run whose every gate passed",
        details={"members": now, "members_last_published": before},
    )


def audience_consent_present(con: Warehouse, audience: str, purposes: list[str]) -> CheckOutcome:
    """Members of an audience synced under consent purposes are profiles with a recorded consent state."""
    rules = gate("audiences", "consent_present")
    started = time.perf_counter()
    columns = [f"{p}_consent" for p in purposes]
    known = set(column_names(con, "marts", "dim_profiles"))
    missing_columns = [c for c in columns if c not in known]
    members = audience_members(con, audience)
    failing = 0
    if not missing_columns and columns:
        states = " or ".join(f"p.{c} is null or p.{c} not in ('granted', 'revoked', 'unknown')" for c in columns)
        failing = int(con.execute(
            f'select count(*) from audiences."{audience}" as a left join marts.dim_profiles as p '
            f"using (profile_id) where p.profile_id is null or {states}").fetchone()[0])
    passed = not missing_columns and failing == 0
    return CheckOutcome(
        "audiences", f"audiences/{audience}", "consent_present", passed, rules["severity"], target=audience,
        rows_checked=members, rows_failed=failing if not missing_columns else members,
        observed=(failing / members) if members else 0.0, threshold="no member without a consent state",
        seconds=time.perf_counter() - started,
        description=f"every member is a profile with a consent state for {', '.join(purposes) or 'no purpose'}",
        details={"purposes": purposes, "missing_consent_columns": missing_columns},
    )


def record_audience_sizes(con: Warehouse, run_id: str | None, audiences: list[str]) -> None:
    """After every gate of a run passed: the sizes later runs are held against."""
    con.execute(AUDIENCE_HISTORY_DDL)
    for audience in audiences:
        con.execute("insert into ops.audience_size_history values (?, ?, ?, now())",
                    [run_id, audience, audience_members(con, audience)])
