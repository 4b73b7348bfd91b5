"""Do two builds of the same data give the same tables? `python -m bench.determinism WAREHOUSE`

A full refresh must give byte for byte the marts incremental runs give (DESIGN.md, principle 4), and
that holds only if a rebuild of unchanged inputs is itself reproducible: a tie broken by whichever
row an engine meets first, or a floating-point sum added up in a different order on another thread,
makes two builds differ. The sample is too small to show such cases; a generated warehouse shows them.

The warehouse given (a DuckDB file a `cdp run` left, e.g. at 1M people) is copied, and the copy is
built twice by `cdp build-models` (every dbt model, tests and the Python steps between them). After
each build every table of intermediate, marts and audiences is compared, row for row (EXCEPT ALL
both ways), with the same table after the other build. Incremental models are left out: a build
adds to them by design (one more row of a history per run). Results go to
bench/results/determinism_<time>.json and a list on stdout of the tables that differed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work"
BIN = Path(sys.executable).parent
SCHEMAS = ("intermediate", "marts", "audiences")


def _incremental_models() -> set[str]:
    manifest = json.loads((ROOT / "dbt_project" / "target" / "manifest.json").read_text())
    return {n["name"] for n in manifest["nodes"].values()
            if n.get("resource_type") == "model" and n.get("config", {}).get("materialized") == "incremental"}


def _snapshot(warehouse: Path, skip: set[str]) -> list[str]:
    """Copy every compared table into schema `determinism_snapshot`; returns their names."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema if not exists determinism_snapshot")
        tables = [f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ({}) order by 1, 2".format(
                ", ".join("?" for _ in SCHEMAS)), list(SCHEMAS)).fetchall() if t not in skip]
        for name in tables:
            schema, table = name.split(".")
            con.execute(f'create or replace table determinism_snapshot."{schema}__{table}" as '
                        f'select * from {schema}."{table}"')
        return tables
    finally:
        con.close()


def _differences(warehouse: Path, tables: list[str]) -> dict[str, dict[str, int]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    found = {}
    try:
        for name in tables:
            schema, table = name.split(".")
            now, before = f'{schema}."{table}"', f'determinism_snapshot."{schema}__{table}"'
            only_now = con.execute(f"select count(*) from ((select * from {now}) except all "
                                   f"(select * from {before}))").fetchone()[0]
            only_before = con.execute(f"select count(*) from ((select * from {before}) except all "
                                      f"(select * from {now}))").fetchone()[0]
            if only_now or only_before:
                found[name] = {"only_in_second_build": only_now, "only_in_first_build": only_before}
    finally:
        con.close()
    return found


def _build(warehouse: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "CDP_TARGET": "duckdb"}
    subprocess.run([str(BIN / "cdp"), "build-models"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="a DuckDB warehouse a `cdp run` built (it is copied)")
    args = parser.parse_args(argv)
    skip = _incremental_models()
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as work:
        copy = Path(work) / "cdp.duckdb"
        shutil.copyfile(args.warehouse, copy)
        print("first build ...", flush=True)
        first = _build(copy)
        tables = _snapshot(copy, skip)
        print(f"second build ... ({len(tables)} tables compared; incremental models left out)", flush=True)
        second = _build(copy)
        differing = _differences(copy, tables)
    report = {"warehouse": str(args.warehouse), "finished": datetime.now(UTC).isoformat(),
              "build_seconds": [round(first, 1), round(second, 1)], "tables_compared": len(tables),
              "incremental_models_left_out": sorted(skip), "differing_tables": differing}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"determinism_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    for name, counts in differing.items():
        print(f"  {name}: {counts['only_in_second_build']:,} rows only in the second build, "
              f"{counts['only_in_first_build']:,} only in the first")
    print(f"{len(tables) - len(differing)} of {len(tables)} tables identical after two builds\n{out}")
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main())
