"""The whole pipeline (`cdp run`) on DuckDB and Spark side by side, per stage:

    python -m bench.pipeline [--people 10000 100000] [--engines duckdb spark postgres] [--increments]

For each size a generated landing zone (bench/data/, reused) is run end to end by `cdp run` in a
process of its own, on a fresh warehouse of each engine (`CDP_TARGET`), against a persistent Dagster
instance of the benchmark's own; each step's start and end come from that instance's event log, so
the stages are the pipeline's own (load per source, dbt, Markov and Shapley, gates, erasure, syncs,
publish). Peak memory is the largest resident set of the run's processes (the `cdp` process, dbt's,
Spark's JVM). With --increments, the same warehouse then runs again with nothing new, and once more
after `cdp generate --increment` added a later day (1% of the event lines replayed by returning
people, new people, one deletion request): each is one `cdp run`, timed whole. Results go to
bench/results/pipeline_<time>.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from bench.engines import POSTGRES_URL, _landing

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "pipeline"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
#: the day `cdp generate --increment` adds (the day after the generator's default end date)
INCREMENT_DAY = "2026-11-16"
#: how step keys group into stages
STAGES = (("load", "raw__"), ("dbt", "cdp_dbt_models"), ("markov_shapley", "data_driven_attribution"),
          ("gates", "mart_expectations"), ("gates", "audience_gates"), ("erasure", "privacy__"),
          ("syncs", "reverse_etl__"), ("publish", "serving__"), ("report", "reports__"))


_PEAK_MARK = "\n@@peak_rss_kib "
#: runs the command and prints the largest resident set among its processes: a wrapper of its own per
#: run, because a process's RUSAGE_CHILDREN peak only grows and would carry one run's peak into the next
_PEAK_OF_CHILD = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], check=False); "
    f"print({_PEAK_MARK!r} + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(done.returncode)"
)


def _stage(step_key: str) -> str:
    return next((stage for stage, prefix in STAGES if step_key.startswith(prefix)), "other")


def _steps(dagster_home: Path) -> dict[str, float]:
    """Seconds per step of the latest run in the instance (from its event log); steps that did not
    run (skipped after a build with nothing to do, or after a failure) are left out."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        stats = instance.get_run_step_stats(run.run_id)
    return {s.step_key: s.end_time - s.start_time for s in stats if s.start_time and s.end_time}


def _environment(engine: str, work: Path, landing: Path) -> dict[str, str]:
    return {**os.environ, "CDP_TARGET": engine, "CDP_LANDING_DIR": str(landing / "landing"),
            "CDP_GROUND_TRUTH_DIR": str(landing / "ground_truth"), "DAGSTER_HOME": str(work / "dagster"),
            "CDP_WAREHOUSE": str(work / "cdp.duckdb"), "CDP_SERVING_WAREHOUSE": str(work / "serving.duckdb"),
            "CDP_EXPORT_DIR": str(work / "exports"), "CDP_GX_DIR": str(work / "gx"),
            "CDP_SPARK_WAREHOUSE_DIR": str(work / "spark" / "tables"),
            "CDP_SPARK_METASTORE_DIR": str(work / "spark" / "metastore")}


def _cdp_run(env: dict[str, str], work: Path, landing: Path, people: int, label: str) -> dict:
    """One `cdp run`, timed whole (process wall and what it reported), with its stages and peak memory."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, str(BIN / "cdp"), "run"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    printed, _, peak = done.stdout.rpartition(_PEAK_MARK)
    reported = re.search(r"cdp run (?:succeeded|FAILED) in ([0-9.]+)s", printed)
    steps = _steps(work / "dagster")
    stages: dict[str, float] = defaultdict(float)
    for key, seconds in steps.items():
        stages[_stage(key)] += seconds
    events = sum(1 for p in (landing / "landing" / "events").iterdir() if p.is_file())
    return {
        "run": label, "engine": env["CDP_TARGET"], "people": people, "ok": done.returncode == 0,
        "wall_seconds": round(wall, 1), "reported_seconds": float(reported.group(1)) if reported else None,
        "stages": {k: round(v, 1) for k, v in stages.items()},
        "steps": {k: round(v, 1) for k, v in sorted(steps.items())},
        "peak_rss_mib": round(int(peak.strip() or 0) / 1024), "event_files": events,
        "summary": printed[printed.find("cdp run "):][:600] if "cdp run " in printed else printed[-2000:],
    }


def run_sequence(engine: str, landing: Path, people: int, increments: bool) -> list[dict]:
    """On a fresh warehouse: the full build; with `increments`, then a run with nothing new and a run
    after a 1% increment (`cdp generate --increment`, written into a copy of the landing zone)."""
    work = WORK / f"{engine}_{people}_{uuid.uuid4().hex[:6]}"
    (work / "dagster").mkdir(parents=True)
    (work / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    if increments:  # the increment is written beside the generated files: a copy of them of its own
        shutil.copytree(landing, work / "data")
        landing = work / "data"
    env = _environment(engine, work, landing)
    database = None
    if engine == "postgres":
        import psycopg

        database = f"cdp_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"create database {database}")
        env["CDP_POSTGRES_URL"] = psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database)
    try:
        runs = [_cdp_run(env, work, landing, people, "full")]
        if increments and runs[0]["ok"]:
            runs.append(_cdp_run(env, work, landing, people, "no change"))
            added = subprocess.run([str(BIN / "cdp"), "generate", "--increment", INCREMENT_DAY, "--out", str(landing)],
                                   cwd=ROOT, capture_output=True, text=True, check=True)
            runs.append(_cdp_run(env, work, landing, people, "1% increment"))
            runs[-1]["increment"] = added.stdout.strip()
    finally:
        if database:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(f"drop database if exists {database} with (force)")
        shutil.rmtree(work, ignore_errors=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--increments", action="store_true",
                        help="after the full build, a run with nothing new and a run after a 1%% increment")
    args = parser.parse_args(argv)
    report = {"machine": platform.platform(), "cpus": os.cpu_count(), "started": datetime.now(UTC).isoformat(),
              "runs": []}
    out = RESULTS / f"pipeline_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    for people in sorted(args.people):
        landing = _landing(people, args.seed)
        events = landing / "ground_truth" / "generation.json"
        for engine in args.engines:
            print(f"{people:,} people on {engine} ...", flush=True)
            for result in run_sequence(engine, landing, people, args.increments):
                result["generation"] = json.loads(events.read_text()) if events.exists() else {}
                report["runs"].append(result)
                out.write_text(json.dumps(report, indent=2, default=str))
                print(f"  {result['run']}: {'ok' if result['ok'] else 'FAILED'} in {result['wall_seconds']} s "
                      f"(cdp run reported {result['reported_seconds']} s), peak {result['peak_rss_mib']} MiB: "
                      + ", ".join(f"{k} {v}" for k, v in result["stages"].items()), flush=True)
    stages = [s for s, _ in STAGES if any(s in r["stages"] for r in report["runs"])]
    stages = list(dict.fromkeys(stages))
    print("\n| people | engine | run | ok | process wall s | cdp run s | " + " | ".join(stages) + " | peak MiB |")
    print("|---|---|---|---|---:|---:|" + "---:|" * len(stages) + "---:|")
    for r in report["runs"]:
        print(f"| {r['people']:,} | {r['engine']} | {r['run']} | {'yes' if r['ok'] else 'NO'} | {r['wall_seconds']} | "
              f"{r['reported_seconds']} | " + " | ".join(str(r["stages"].get(s, "")) for s in stages)
              + f" | {r['peak_rss_mib']} |")
    print(f"\n{out}")
    return 0 if all(r["ok"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
