"""Loading the same event files with our loader and with dlt: `python -m bench.ingest_vs_dlt [--people N]`.

The generated events of bench/data/people_N (gzipped Segment-Spec NDJSON, with the generator's
planted defects: truncated JSON, a missing messageId, unparseable and future timestamps, wrong
types, duplicated messages) are loaded into a fresh DuckDB file twice, each in a process of its own:

- `cdp load` on a landing zone holding only those files: line-level checks of the landing contract,
  quarantine with payload and reason, duplicates dropped, the Great Expectations suite, the manifest;
- dlt (`dlt[duckdb]`, the loader an analytics engineer would otherwise pick) with the resource a user
  writes for NDJSON files: each line parsed by `json.loads`, lines that are not JSON skipped (dlt's
  own `read_jsonl` stops the load at the first one), `messageId` as the primary key with the
  `merge` write disposition (dlt's way to drop duplicates), schema inferred and nested objects
  flattened into columns and child tables by dlt's normaliser.

Reported for each: wall time, event lines per second and peak resident memory. dlt checks neither the
contract nor the timestamps, so it loads rows ours quarantines; the comparison is of loading speed
only. Results go to bench/results/ingest_vs_dlt_<time>.json. dlt is the `bench` extra of
pyproject.toml (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.engines import _landing
from bench.pipeline import _PEAK_MARK, _PEAK_OF_CHILD

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "ingest_vs_dlt"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent

#: the dlt side, run as `python -c DLT_LOAD events_dir warehouse`
DLT_LOAD = """
import gzip, json, sys
from pathlib import Path
import dlt

events_dir, warehouse = Path(sys.argv[1]), sys.argv[2]

@dlt.resource(name="events", primary_key="messageId", write_disposition="merge")
def events():
    for path in sorted(events_dir.iterdir()):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            page = []
            for line in handle:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("messageId"):
                    page.append(message)
                if len(page) == 10_000:
                    yield page
                    page = []
            if page:
                yield page

pipeline = dlt.pipeline(pipeline_name="bench_events", destination=dlt.destinations.duckdb(warehouse),
                        dataset_name="raw", pipelines_dir=str(Path(warehouse).parent / "dlt_pipelines"))
info = pipeline.run(events())
print(info)
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str, int]:
    """(wall seconds, peak RSS MiB of the process and its children, stdout, exit code)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, *command], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    printed, _, peak = done.stdout.rpartition(_PEAK_MARK)
    return wall, round(int(peak.strip() or 0) / 1024), printed + done.stderr[-3000:], done.returncode


def _count(warehouse: Path, sql: str) -> int:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dlt-python", default=sys.executable,
                        help="the Python with dlt installed (default: this one, with the bench extra)")
    args = parser.parse_args(argv)
    data = _landing(args.people, args.seed)
    events = data / "landing" / "events"
    lines = json.loads((data / "ground_truth" / "generation.json").read_text())["result"]["event_lines"]
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "landing" / "events").mkdir(parents=True)
    for path in sorted(p for p in events.iterdir() if p.is_file()):  # the loader reads no symbolic links
        os.link(path, WORK / "landing" / "events" / path.name)
    env = {**os.environ, "CDP_LANDING_DIR": str(WORK / "landing"), "CDP_WAREHOUSE": str(WORK / "cdp.duckdb"),
           "CDP_GX_DIR": str(WORK / "gx"), "CDP_TARGET": "duckdb", "CDP_MISSING_SOURCE_FOLDER": "warn"}
    report = {"machine": platform.platform(), "cpus": os.cpu_count(), "people": args.people, "event_lines": lines,
              "files": sum(1 for p in events.iterdir() if p.is_file()), "runs": []}

    wall, peak, printed, code = _timed([str(BIN / "cdp"), "load"], env)
    loaded = code == 0
    ours = {"loader": "cdp load", "ok": loaded, "wall_seconds": round(wall, 1), "peak_rss_mib": peak,
            "rows_loaded": _count(WORK / "cdp.duckdb", "select count(*) from raw.events") if loaded else None,
            "rows_quarantined": _count(WORK / "cdp.duckdb", "select count(*) from ops.quarantine") if loaded else None,
            "output": printed[-1500:]}
    report["runs"].append(ours)

    wall, peak, printed, code = _timed([args.dlt_python, "-c", DLT_LOAD, str(events), str(WORK / "dlt.duckdb")], env)
    theirs = {"loader": "dlt", "ok": code == 0, "wall_seconds": round(wall, 1), "peak_rss_mib": peak,
              "rows_loaded": _count(WORK / "dlt.duckdb", "select count(*) from raw.events") if code == 0 else None,
              "rows_quarantined": None, "output": printed[-1500:]}
    report["runs"].append(theirs)

    print(f"\n{lines:,} event lines in {report['files']} files ({args.people:,} people)\n")
    print("| loader | ok | wall s | event lines/s | rows loaded | rows quarantined | peak MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in report["runs"]:
        rate = f"{lines / r['wall_seconds']:,.0f}" if r["wall_seconds"] else ""
        print(f"| {r['loader']} | {'yes' if r['ok'] else 'NO'} | {r['wall_seconds']} | {rate} | "
              f"{r['rows_loaded'] if r['rows_loaded'] is not None else ''} | "
              f"{r['rows_quarantined'] if r['rows_quarantined'] is not None else 'n/a'} | {r['peak_rss_mib']} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest_vs_dlt_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\n{out}")
    return 0 if all(r["ok"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
