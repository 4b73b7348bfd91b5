"""Benchmark harness: the pipeline's stages at 10x steps of data volume. Prints a table; asserts nothing.

    python -m bench.run [--sizes 10000 100000 1000000] [--seed 42] [--keep] [--no-chains]

For each size it generates a landing zone (kept under bench/data/ and reused), then runs every stage
in its own process against a fresh warehouse, so each stage's wall time and peak resident memory
(the child's ru_maxrss) are its own. "own s" is the work's own time where the step records it (dbt
nodes; a sync's start to finish in ops.sync_runs), without process start-up; a sync's rows/s uses it.
The first stage is a yardstick, not part of the pipeline: DuckDB's read_json alone over the landing
events, which the summary's "ingestion + staging" line is compared with.
The reverse-ETL stages need PostgreSQL (CDP_BENCH_POSTGRES_URL, default the local test database).
Results go to stdout as a table and to bench/results/*.json.
Later capabilities add their stages to STAGES. First, connected components of single chains of
1k .. 1M hops (shuffled ids) show how the number of rounds grows with chain length.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
DBT = [str(BIN / "dbt")]
DBT_DIRS = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]

ERASURE_SNIPPET = """
from cdp.privacy import erase_deleted_profiles
from cdp.settings import get_settings
from cdp.warehouse import connect
with connect(get_settings()) as con:
    erase_deleted_profiles(con, progress=print)
"""
DATA_DRIVEN_SNIPPET = """
from cdp.data_driven_attribution import build_data_driven_attribution
from cdp.engines import open_engine
with open_engine() as engine:
    print(build_data_driven_attribution(engine))
"""
PROPENSITY_SNIPPET = """
from cdp.engines import open_engine
from cdp.propensity import propensity_settings, record_card, train_and_score
with open_engine() as engine:
    card = train_and_score(engine, **propensity_settings())
    record_card(engine, card)
    print(card.status, "AUC", card.auc, "lead score AUC", card.lead_score_auc, card.scored_profiles, "scored")
"""
PROBABILISTIC_SNIPPET = """
from cdp.engines import open_engine
from cdp.identity_probabilistic import link_records, probabilistic_settings, record_card
with open_engine() as engine:
    card = link_records(engine, probabilistic_settings())
    record_card(engine, card)
    print(card.status, card.records, "records,", card.pairs_above_threshold, "pairs at the threshold,", card.links)
"""
AUDIENCE_GATES_SNIPPET = """
from orchestration.assets.gates import consent_purposes
from cdp.quality.results import record_outcomes
from cdp.quality.warehouse_checks import audience_consent_present, audience_size_change
from cdp.settings import get_settings
from cdp.warehouse import connect
with connect(get_settings()) as con:
    purposes = consent_purposes()
    audiences = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'audiences' order by 1").fetchall()]
    outcomes = [c for a in audiences for c in (audience_size_change(con, a),
                                               audience_consent_present(con, a, purposes.get(a, [])))]
    record_outcomes(con, outcomes, "bench")
    print(outcomes)
"""
# The yardstick issue 3 sets the load against: DuckDB's own NDJSON reader over the landing events, into
# a table of a scratch database file, schema auto-detected, bad lines ignored (`ignore_errors`).
# No line numbers, contract checks, quarantine, deduplication, gates or other sources: what the
# pipeline adds is the difference. The scratch file is deleted once its rows are counted.
READER_REFERENCE_DB = "read_json_reference.duckdb"
READER_REFERENCE_STAGE = "reference: DuckDB read_json alone"
READER_REFERENCE_SNIPPET = f"""
import os
from pathlib import Path
import duckdb
events = Path(os.environ["CDP_LANDING_DIR"]) / "events"
scratch = Path(os.environ["CDP_WAREHOUSE"]).with_name("{READER_REFERENCE_DB}")
scratch.unlink(missing_ok=True)
con = duckdb.connect(str(scratch))
con.execute("set preserve_insertion_order = false")
con.execute(f"create table events as select * from read_json('{{events}}/*', format = 'newline_delimited', "
            "ignore_errors = true)")
con.close()
"""
BENCH_SYNCS = {"CDP_SYNCS_FILE": str(ROOT / "bench" / "syncs_bench.yml")}
BENCH_SYNC_ROWS = ("select rows_succeeded from ops.sync_runs where sync_name = 'bench_all_profiles_to_postgres' "
                   "order by started_at desc limit 1")
BENCH_SYNC_SECONDS = ("select epoch(finished_at - started_at) from ops.sync_runs "
                      "where sync_name = 'bench_all_profiles_to_postgres' order by started_at desc limit 1")


# Identity resolution proper: graph build, blocking, protections, components, stable ids.
IDENTITY_MODELS = ["int_identity__pairs", "int_identity__identifiers", "int_identity__edges",
                   "int_identity__protected_identifiers", "int_identity__clusters", "identity_profile_assignments",
                   "identity_profile_registry",
                   "identity_merge_events", "identity_protection_events"]
# Profile-level intermediates every people mart reads (traits, deletions, marketing touches), then
# the funnel, lifecycle and lead-scoring models proper.
PROFILE_SELECTION = ["path:models/intermediate/profiles"]
FUNNEL_SELECTION = ["path:models/intermediate/funnel", "path:models/marts/funnel"]
ATTRIBUTION_SELECTION = ["path:models/intermediate/attribution", "path:models/marts/attribution"]
# What reads the Markov and Shapley tables (written by Python between the two attribution stages).
AFTER_ATTRIBUTION = "source:data_driven_attribution+"
# Invariants across every mart: run once all marts exist (the pipeline's single `dbt build` orders them itself).
CROSS_MART_TESTS = ["marts_profile_ids_exist_in_profiles", "marts_no_negative_money"]
CHAIN_LENGTHS = [1_000, 10_000, 100_000, 1_000_000]
DBT_NODE_TIME = re.compile(r"(?:OK|PASS|WARN|ERROR|FAIL)\S* in ([0-9.]+)s\]")
DBT_TEST_TIME = re.compile(r"(?:PASS|WARN|FAIL)\S* in ([0-9.]+)s\]")
#: stages of the pipeline proper (the sync benchmark's own stages are not part of a pipeline run)
PIPELINE_EXCLUDES = ("generate", "reference", "sync bench", "sync to PostgreSQL", "identity precision")
GATE_STAGES = ("gates: audience size + consent (SQL)", "dbt database health score (build)")
TEST_STAGES = ("dbt staging tests", "dbt funnel tests (invariants)")


@dataclass
class Stage:
    name: str
    command: list[str]
    rows_sql: str | None  # rows this stage processed, counted in the warehouse afterwards
    rows_label: str
    own_seconds_sql: str | None = None  # the step's own time as it recorded it (without process start-up)
    env: dict[str, str] | None = None
    rows_database: str | None = None  # count rows in this scratch file beside the warehouse, then delete it


STAGES = [
    Stage(READER_REFERENCE_STAGE, [sys.executable, "-c", READER_REFERENCE_SNIPPET],
          "select count(*) from events", "event lines (no checks)", rows_database=READER_REFERENCE_DB),
    Stage("load raw (all sources)", [str(BIN / "cdp"), "load"],
          "select sum(rows_read) from ops.load_manifest where source = 'events'", "event lines"),
    Stage("dbt seeds (rules)", [*DBT, "seed", *DBT_DIRS], None, ""),
    Stage("dbt staging models", [*DBT, "run", "--select", "staging", *DBT_DIRS],
          "select count(*) from staging.stg_segment__events", "events"),
    Stage("dbt staging tests", [*DBT, "test", "--select", "staging", *DBT_DIRS],
          "select count(*) from staging.stg_segment__events", "events"),
    Stage("dbt identity match records", [*DBT, "build", "--select", "identity_nicknames",
                                         "int_identity__match_records", *DBT_DIRS],
          "select count(*) from intermediate.int_identity__match_records", "records"),
    Stage("probabilistic identity: Splink (python)", [sys.executable, "-c", PROBABILISTIC_SNIPPET],
          "select count(*) from intermediate.int_identity__match_records", "records"),
    Stage("dbt identity resolution", [*DBT, "run", "--select", *IDENTITY_MODELS, *DBT_DIRS],
          "select count(*) from staging.stg_segment__events", "events"),
    Stage("dbt events -> profiles", [*DBT, "run", "--select", "int_identity__event_profiles", *DBT_DIRS],
          "select count(*) from intermediate.int_identity__event_profiles", "events"),
    Stage("dbt profile traits + touches", [*DBT, "run", "--select", *PROFILE_SELECTION, *DBT_DIRS],
          "select count(*) from intermediate.int_marketing__touches", "touches"),
    Stage("dbt funnel + scoring models", [*DBT, "run", "--select", *FUNNEL_SELECTION, *DBT_DIRS],
          "select count(*) from intermediate.int_funnel__profile_events", "funnel events"),
    Stage("dbt attribution models (build)", [*DBT, "build", "--select", *ATTRIBUTION_SELECTION,
                                              "--exclude", AFTER_ATTRIBUTION, *CROSS_MART_TESTS, *DBT_DIRS],
          "select count(*) from marts.fct_attribution_touches", "touches"),
    Stage("markov + shapley (python)", [sys.executable, "-c", DATA_DRIVEN_SNIPPET],
          "select count(*) from marts.attribution_markov", "channel rows"),
    Stage("dbt data-driven credits, ROI, comparison (build)", [*DBT, "build", "--select", AFTER_ATTRIBUTION,
                                                               "--exclude", *CROSS_MART_TESTS, *DBT_DIRS],
          "select count(*) from marts.attribution_data_driven_credits", "credit rows"),
    Stage("dbt propensity features", [*DBT, "build", "--select", "int_propensity__features", *DBT_DIRS],
          "select count(*) from intermediate.int_propensity__features", "profile cut-offs"),
    Stage("propensity model: train, validate, score (python)", [sys.executable, "-c", PROPENSITY_SNIPPET],
          "select count(*) from marts.profile_propensity", "profiles scored"),
    Stage("dbt other marts + audiences (build)",
          [*DBT, "build", "--select", "marts", "audiences", "--exclude", *FUNNEL_SELECTION,
           *ATTRIBUTION_SELECTION, AFTER_ATTRIBUTION, "data_health_scores", *CROSS_MART_TESTS, *DBT_DIRS],
          "select count(*) from marts.dim_profiles", "profiles"),
    Stage("dbt funnel tests (invariants)",
          [*DBT, "test", "--select", *PROFILE_SELECTION, *FUNNEL_SELECTION, *CROSS_MART_TESTS, *DBT_DIRS],
          "select count(*) from marts.fct_funnel_profiles", "funnel profiles"),
    Stage("gates: audience size + consent (SQL)", [sys.executable, "-c", AUDIENCE_GATES_SNIPPET],
          "select count(*) from ops.quality_results where layer = 'audiences' and engine = 'sql'", "checks",
          "select sum(seconds) from ops.quality_results where layer = 'audiences' and engine = 'sql'"),
    Stage("dbt database health score (build)", [*DBT, "build", "--select", "data_health_scores", *DBT_DIRS],
          "select count(*) from marts.data_health_scores", "score rows"),
    Stage("privacy erasure", [sys.executable, "-c", ERASURE_SNIPPET],
          "select count(*) from ops.erased_profiles", "profiles erased"),
    Stage("reverse-ETL file syncs (syncs.yml)", [str(BIN / "cdp"), "sync"],
          "select coalesce(sum(rows_succeeded), 0) from ops.sync_runs", "rows sent"),
    Stage("sync bench: audience of all profiles", [sys.executable, "-m", "bench.sync_stages", "prepare"],
          "select count(*) from audiences.bench_all_profiles", "members"),
    Stage("sync to PostgreSQL: first (all)", [str(BIN / "cdp"), "sync", "bench_all_profiles_to_postgres"],
          BENCH_SYNC_ROWS, "rows upserted", BENCH_SYNC_SECONDS, BENCH_SYNCS),
    # Three rounds of "1% of the members change, sync again": one small run varies by +-15% here, so the
    # summary compares the median of the three with the first run.
    *(stage for round_no in (1, 2, 3) for stage in (
        Stage(f"sync bench: 1% of members change #{round_no}", [sys.executable, "-m", "bench.sync_stages", "change"],
              None, ""),
        Stage(f"sync to PostgreSQL: after 1% changed #{round_no}",
              [str(BIN / "cdp"), "sync", "bench_all_profiles_to_postgres"],
              BENCH_SYNC_ROWS, "rows upserted", BENCH_SYNC_SECONDS, BENCH_SYNCS))),
]


@dataclass
class Measurement:
    people: int
    stage: str
    seconds: float
    peak_rss_mib: float
    rows: int | None
    rows_label: str
    rows_per_second: float | None
    own_seconds: float | None = None  # dbt: the nodes' own time; syncs: the sync's own time (no start-up)


def run_measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process; raises if it fails."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); see {log}")
    return seconds, usage.ru_maxrss / 1024


def _count(warehouse: Path, sql: str) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0] or 0)
    finally:
        con.close()


def bench_size(people: int, seed: int, work: Path) -> list[Measurement]:
    data = DATA / f"people_{people}_seed_{seed}"
    warehouse_dir = work / f"warehouse_{people}"
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    warehouse_dir.mkdir(parents=True)
    env = {**os.environ, "CDP_LANDING_DIR": str(data / "landing"),
           "CDP_WAREHOUSE": str(warehouse_dir / "cdp.duckdb"),
           "CDP_SERVING_WAREHOUSE": str(warehouse_dir / "cdp_serving.duckdb"),
           "CDP_EXPORT_DIR": str(warehouse_dir / "exports"),
           "CDP_GX_DIR": str(warehouse_dir / "gx"),
           "CDP_GROUND_TRUTH_DIR": str(data / "ground_truth")}
    results: list[Measurement] = []
    test_seconds = 0.0
    if not (data / "ground_truth" / "generation.json").exists():
        seconds, rss = run_measured([str(BIN / "cdp"), "generate", "--people", str(people), "--seed", str(seed),
                                     "--out", str(data), "--force"], env, work / f"generate_{people}.log")
        lines = json.loads((data / "ground_truth" / "generation.json").read_text())["result"]["event_lines"]
        results.append(Measurement(people, "generate sample data", seconds, rss, lines, "event lines",
                                   lines / seconds))
        print(f"  {people:>9,} generate: {seconds:.1f}s", flush=True)
    for stage in STAGES:
        log = work / f"{people}_{stage.name.split()[0]}_{len(results)}.log"
        seconds, rss = run_measured(stage.command, {**env, **(stage.env or {})}, log)
        counted = warehouse_dir / (stage.rows_database or "cdp.duckdb")
        rows = _count(counted, stage.rows_sql) if stage.rows_sql else None
        if stage.rows_database:
            counted.unlink()
        own = (sum(float(s) for s in DBT_NODE_TIME.findall(log.read_text())) if stage.command[:1] == DBT
               else _seconds(warehouse_dir / "cdp.duckdb", stage.own_seconds_sql) if stage.own_seconds_sql else None)
        if stage.command[:1] == DBT and stage.name not in GATE_STAGES:  # those count whole, by wall time
            test_seconds += sum(float(t) for t in DBT_TEST_TIME.findall(log.read_text()))
        rate_seconds = own if own and stage.own_seconds_sql else seconds
        results.append(Measurement(people, stage.name, seconds, rss, rows, stage.rows_label,
                                   rows / rate_seconds if rows else None, own))
        print(f"  {people:>9,} {stage.name}: {seconds:.1f}s, peak {rss:,.0f} MiB", flush=True)
    accuracy = _accuracy(warehouse_dir / "cdp.duckdb")
    print(f"  {people:>9,} identity accuracy: {accuracy}", flush=True)
    results.append(Measurement(people, "identity precision / recall", 0.0, 0.0, None,
                               f"precision {accuracy['pairwise_precision']:.4f}, recall "
                               f"{accuracy['pairwise_recall']:.4f} (strict {accuracy['pairwise_recall_strict']:.4f})"
                               f", largest profile {accuracy['largest_profile_identifiers']}", None))
    results.extend(_gate_share(people, results, test_seconds, warehouse_dir / "cdp.duckdb"))
    results.extend(_sync_ratio(people, results))
    load = next(m for m in results if m.stage.startswith("load raw"))
    staging = next(m for m in results if m.stage == "dbt staging models")
    total = load.seconds + staging.seconds
    reader = next(m for m in results if m.stage == READER_REFERENCE_STAGE)
    results.append(Measurement(people, "= ingestion + staging (events)", total, max(load.peak_rss_mib,
                               staging.peak_rss_mib), load.rows, f"event lines; {total / reader.seconds:.1f}x "
                               "the reader alone", (load.rows or 0) / total))
    return results


def _gate_share(people: int, results: list[Measurement], test_seconds: float, warehouse: Path) -> list[Measurement]:
    """What the gates cost: Great Expectations on landing files (its own time inside the load), every
    dbt test's node time, the SQL audience gates and the health score. Two shares: gates' own time
    against the rest of the pipeline, and a pessimistic one that also charges the gates with the
    start-up of the separate dbt test invocations the benchmark needs to time stages apart."""
    stages = [m for m in results if not m.stage.startswith(PIPELINE_EXCLUDES) and not m.stage.startswith("=")]
    pipeline = sum(m.seconds for m in stages)
    gx = _seconds(warehouse, "select coalesce(sum(seconds), 0) from ops.quality_results "
                             "where engine = 'great_expectations' and layer = 'landing'")
    sql_gates = sum(m.seconds for m in stages if m.stage in GATE_STAGES)
    own = gx + test_seconds + sql_gates
    startup = sum(m.seconds - (m.own_seconds or 0) for m in stages if m.stage in TEST_STAGES)
    rows = [Measurement(people, "= gates: GX on landing files", gx, 0.0, None, "own time inside the load", None),
            Measurement(people, "= gates: dbt tests (node time)", test_seconds, 0.0, None, "all dbt stages", None),
            Measurement(people, "= gates: SQL audience gates + health", sql_gates, 0.0, None, "wall", None),
            Measurement(people, "= pipeline (every stage above)", pipeline, 0.0, None, "wall", None)]
    for label, gates in (("own time", own), ("+ test start-ups", own + startup)):
        share = gates / (pipeline - gates) if pipeline > gates else 0.0
        rows.append(Measurement(people, f"= gates added ({label})", gates, 0.0, None,
                                f"{share:.1%} on top of the pipeline without them", None))
    return rows


def _sync_ratio(people: int, results: list[Measurement]) -> list[Measurement]:
    """The diff sync's own time after 1% of the members changed (median of the rounds) against the first sync's."""
    first = next((m for m in results if m.stage.startswith("sync to PostgreSQL: first")), None)
    rounds = sorted(m.own_seconds or m.seconds for m in results if m.stage.startswith("sync to PostgreSQL: after 1%"))
    if first is None or not rounds:
        return []
    median = statistics.median(rounds)
    return [Measurement(people, "= sync after 1% changed / first sync", median, 0.0, None,
                        f"median of {len(rounds)} rounds ({', '.join(f'{r:.2f}' for r in rounds)} s) = "
                        f"{median / (first.own_seconds or first.seconds):.1%} of the first run", None)]


def _seconds(warehouse: Path, sql: str) -> float:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return float(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def _accuracy(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.execute("select pairwise_precision, pairwise_recall, pairwise_recall_strict, "
                             "largest_profile_identifiers, resolution_rounds, profiles "
                             "from marts.identity_health order by run_at desc limit 1")
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchall()[0], strict=True))
    finally:
        con.close()


def bench_chains(work: Path) -> list[Measurement]:
    """Connected components of one chain with shuffled ids: rounds must grow like log(length)."""
    results = []
    for length in CHAIN_LENGTHS:
        warehouse = work / f"chain_{length}.duckdb"
        warehouse.unlink(missing_ok=True)
        con = duckdb.connect(str(warehouse))
        try:
            con.execute("create schema g")
            con.execute(f"""create table g.edges as
                with ids as (select i, row_number() over (order by hash(i)) as node from range({length + 1}) as t(i))
                select a.node as u, b.node as v from ids as a inner join ids as b on b.i = a.i + 1""")
        finally:
            con.close()
        args = json.dumps({"edges_sql": "select u, v from g.edges", "work": "g.cc"})
        seconds, rss = run_measured([*DBT, "run-operation", "run_connected_components", "--args", args, *DBT_DIRS],
                                    {**os.environ, "CDP_WAREHOUSE": str(warehouse)}, work / f"chain_{length}.log")
        rounds = _count(warehouse, "select rounds from g.cc_rounds")
        assert _count(warehouse, "select count(distinct label) from g.cc_labels") == 1
        results.append(Measurement(0, f"components: chain of {length:,} hops", seconds, rss, rounds, "rounds", None))
        print(f"  chain {length:>9,}: {rounds} rounds, {seconds:.1f}s", flush=True)
        warehouse.unlink()
    return results


def print_table(results: list[Measurement]) -> None:
    header = (f"{'people':>9}  {'stage':<38}{'seconds':>9}{'own s':>8}{'rows':>13}  {'rows/s':>11}  "
              f"{'peak MiB':>9}  unit")
    print("\n" + header + "\n" + "-" * len(header))
    for m in results:
        rows = f"{m.rows:,}" if m.rows is not None else "-"
        rate = f"{m.rows_per_second:,.0f}" if m.rows_per_second else "-"
        own = f"{m.own_seconds:.1f}" if m.own_seconds is not None else "-"
        print(f"{m.people:>9,}  {m.stage:<38}{m.seconds:>9.1f}{own:>8}{rows:>13}  {rate:>11}  "
              f"{m.peak_rss_mib:>9,.0f}  {m.rows_label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark warehouses")
    parser.add_argument("--no-chains", action="store_true", help="skip the long-chain components benchmark")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = ROOT / "bench" / "work"
    work.mkdir(parents=True, exist_ok=True)
    results: list[Measurement] = []
    if not args.no_chains:
        results.extend(bench_chains(work))
    for people in args.sizes:
        print(f"benchmarking {people:,} people", flush=True)
        results.extend(bench_size(people, args.seed, work))
        if not args.keep:
            shutil.rmtree(work / f"warehouse_{people}", ignore_errors=True)
    print_table(results)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"bench_{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                   "python": platform.python_version(), "duckdb": duckdb.__version__},
        "results": [asdict(m) for m in results]}, indent=2) + "\n")
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
