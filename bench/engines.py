"""The dbt models on DuckDB, PostgreSQL and Spark side by side: `python -m bench.engines [--people N]`.

One generated landing zone (bench/data/, reused) is loaded once into DuckDB (`cdp load`); its raw
tables are copied into a PostgreSQL database of the benchmark's own and into a local Spark warehouse
(cdp/engines/transfer.py); then each engine builds every model, seed and test
(`build_models`: dbt, Markov and Shapley, dbt). Reported per engine: wall time of each step, and the
nodes' own time summed per layer (seeds, staging, intermediate, marts, audiences, ops, tests), from
dbt's run results. Results go to bench/results/engines_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
WORK = ROOT / "bench" / "work" / "engines"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
LAYERS = ["seeds", "staging", "intermediate", "ops", "marts", "audiences", "tests"]
POSTGRES_URL = os.environ.get("CDP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _landing(people: int, seed: int) -> Path:
    data = DATA / f"people_{people}_seed_{seed}"
    if not (data / "ground_truth" / "generation.json").exists():
        subprocess.run([str(BIN / "cdp"), "generate", "--people", str(people), "--seed", str(seed), "--out",
                        str(data), "--force"], check=True, cwd=ROOT)
    return data


def _summary(build) -> dict:
    layers: dict[str, float] = defaultdict(float)
    for step in build.steps:
        for layer, seconds in step.node_seconds.values():
            layers[layer] += seconds
    return {"ok": build.ok, "passed": build.passed,
            "steps": {s.name: round(s.seconds, 1) for s in build.steps},
            "wall_seconds": round(sum(s.seconds for s in build.steps), 1),
            "layers": {layer: round(layers.get(layer, 0.0), 1) for layer in LAYERS},
            "failure": None if build.ok else build.steps[-1].output[-2000:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "postgres", "spark"])
    args = parser.parse_args(argv)

    data = _landing(args.people, args.seed)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ.update({"CDP_LANDING_DIR": str(data / "landing"), "CDP_WAREHOUSE": str(WORK / "cdp.duckdb"),
                       "CDP_GX_DIR": str(WORK / "gx"), "CDP_SPARK_WAREHOUSE_DIR": str(WORK / "spark" / "tables"),
                       "CDP_SPARK_METASTORE_DIR": str(WORK / "spark" / "metastore")})
    os.environ.pop("CDP_GROUND_TRUTH_DIR", None)  # the engines compare models, not accuracy
    subprocess.run([str(BIN / "cdp"), "load"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    from cdp.engines.transfer import copy_to_postgres, copy_to_spark
    from cdp.transform import build_models

    report: dict = {"people": args.people, "seed": args.seed, "machine": platform.platform(),
                    "cpus": os.cpu_count(), "started": datetime.now(UTC).isoformat(), "engines": {}}
    for engine in args.engines:
        print(f"== {engine}", flush=True)
        database = None
        if engine == "postgres":
            import psycopg

            database = f"cdp_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(f"create database {database}")
            info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
            os.environ.update({"CDP_POSTGRES_DB": database, "CDP_POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
                               "CDP_POSTGRES_PORT": str(info.get("port", 5432)),
                               "CDP_POSTGRES_USER": str(info.get("user", "postgres"))})
            copy_to_postgres(WORK / "cdp.duckdb", psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database),
                             WORK)
        session = None
        if engine == "spark":  # one session (one JVM) for the copy and the build, as `cdp build-models` has
            from cdp.engines.spark_engine import SparkEngine

            session = SparkEngine()
            copy_to_spark(WORK / "cdp.duckdb", WORK / "spark_scratch", session.spark)
        try:
            build = build_models(engine, target_path=WORK / f"target_{engine}", log_path=WORK / f"logs_{engine}",
                                 engine=session)
            report["engines"][engine] = _summary(build)
        finally:
            if session is not None:
                session.close()
            if database:
                import psycopg

                with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                    admin.execute(f"drop database if exists {database} with (force)")
    # dbt on DuckDB and PostgreSQL runs as a child process; on Spark in this one, beside its JVM (a child)
    report["children_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    report["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"engines_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    engines = list(report["engines"])
    print(f"\n{args.people:,} people: dbt nodes' own seconds per layer (wall seconds per step below)")
    print(f"{'layer':<40}" + "".join(f"{e:>12}" for e in engines))
    for layer in LAYERS:
        print(f"{layer:<40}" + "".join(f"{report['engines'][e]['layers'][layer]:>12.1f}" for e in engines))
    for step in next(iter(report["engines"].values()))["steps"]:
        print(f"{'wall: ' + step:<40}" + "".join(f"{report['engines'][e]['steps'].get(step, 0):>12.1f}"
                                                 for e in engines))
    print(f"{'wall: total':<40}" + "".join(f"{report['engines'][e]['wall_seconds']:>12.1f}" for e in engines))
    print(f"\nwritten to {out}")
    return 0 if all(r["ok"] for r in report["engines"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
