"""The `cdp` command: what people do without the Dagster UI.

    cdp generate --people N --seed S --out DIR [--force] [--no-gzip]
    cdp run        materialise every asset in-process and print a summary
    cdp load       load new landing files into raw only
    cdp status     what the warehouse holds: files, rows per layer, quarantine, last syncs
    cdp dashboard [--open]   rebuild the marketing dashboard from the last good run and say where it is
    cdp sync [NAME ...] [--dry-run] [--full-resync] [--override-guardrails]
                   run reverse-ETL syncs from the last build (dry run: print the plan, send nothing)
    cdp build-models [--target duckdb|postgres|spark] [--full-refresh]
                   build the dbt models (and Markov/Shapley between them) on an engine, without Dagster
    cdp verify-erasure   list any row still referring to a person with a deletion request
    cdp explain-profile ID   a profile's identifiers, the edges that joined them, merges, protections
    cdp dev        the Dagster UI on the instance `cdp run` records into
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from datetime import date
from pathlib import Path

import duckdb

from cdp.run_lock import warehouse_run_lock
from cdp.settings import get_settings, run_lock_anchor


def _generate(args: argparse.Namespace) -> int:
    from cdp.sample_data.generator import GenerationSpec, generate

    if args.increment:
        from cdp.sample_data.increment import write_increment

        done = write_increment(Path(args.out), date.fromisoformat(args.increment), args.share)
        print(f"increment of {done.day}: {done.replayed_lines:,} event lines of returning people "
              f"({done.late_lines:,} arriving late), {done.new_people:,} new people with {done.new_people_lines:,} "
              f"event lines, deletion request {done.deletion_request or 'none'} -> {args.out}")
        return 0
    if args.people is None:
        raise SystemExit("cdp generate: --people is required (or --increment DAY for a folder it wrote)")
    spec = GenerationSpec(people=args.people, seed=args.seed, chunk_size=args.chunk_size,
                          end_date=date.fromisoformat(args.end_date), gzip_events=not args.no_gzip)
    generate(spec, Path(args.out), force=args.force)
    return 0


def _load(args: argparse.Namespace) -> int:
    from cdp.ingest.contract import load_contract
    from cdp.ingest.landing_zone import scan_root
    from cdp.ingest.publish import load_landing_source
    from cdp.quality.expectations import SuiteValidator
    from cdp.warehouse import connect

    settings = get_settings()
    contract = load_contract()
    validator = SuiteValidator()
    blocked = []
    for notice in scan_root(settings.landing_dir, contract):
        print(f"not loaded: {notice.path}: {notice.reason}")
    with warehouse_run_lock(run_lock_anchor(settings), "cdp load", settings.run_lock_wait_seconds), \
            connect(settings) as con:
        for spec in contract.sources.values():
            result = load_landing_source(con, spec, settings, contract, progress=print, validator=validator)
            blocked += [o for v in result.validations for o in v.outcomes if o.blocks]
    docs = validator.build_docs()
    for outcome in blocked:
        print(f"FAILED expectation {outcome.asset} {outcome.check_name} on {outcome.target}: "
              f"{outcome.rows_failed:,} rows ({outcome.description}); the file was quarantined")
    if docs:
        print(f"Great Expectations Data Docs: {docs}")
    return 1 if blocked else 0


def _run(args: argparse.Namespace) -> int:
    from orchestration.run import run_pipeline

    return 0 if run_pipeline(select=args.select, full_refresh=args.full_refresh) else 1


def _dashboard(args: argparse.Namespace) -> int:
    from cdp.dashboard_publish import NothingPublished, publish_dashboard

    settings = get_settings()
    try:
        build = publish_dashboard(settings)
    except NothingPublished as exc:
        print(f"cdp dashboard: {exc}", file=sys.stderr)
        return 2
    index = build.pages["index"]
    print(f"dashboard: {len(build.pages)} pages, data as of {build.meta.get('as_of_date')}, "
          f"built in {build.seconds:.1f}s")
    print(f"open {index.as_uri()}")
    if args.open:
        import webbrowser

        webbrowser.open(index.as_uri())
    return 0


def _build_models(args: argparse.Namespace) -> int:
    from cdp.transform import build_models

    build = build_models(args.target, full_refresh=args.full_refresh)
    print(f"\n{'built' if build.ok else 'FAILED'} on {build.target}: {build.passed} dbt nodes passed, "
          f"{sum(s.seconds for s in build.steps):.1f}s")
    if not build.ok:
        print(build.steps[-1].output[-4000:])
    return 0 if build.ok else 1


def _status(args: argparse.Namespace) -> int:
    from cdp.status import print_status, status_json

    if args.json:
        print(status_json(get_settings()))
    else:
        print_status(get_settings())
    return 0


def _sync(args: argparse.Namespace) -> int:
    from cdp.sync_command import run_syncs

    settings = get_settings()
    with warehouse_run_lock(run_lock_anchor(settings), "cdp sync", settings.run_lock_wait_seconds):
        return run_syncs(settings, names=args.names, dry_run=args.dry_run, full_resync=args.full_resync,
                         override_guardrails=args.override_guardrails)


def _gates(args: argparse.Namespace) -> int:
    """Every gate's threshold in force (gates.yml, with this run's overrides), or what dbt is given."""
    from cdp.gate_thresholds import dbt_gates_json, gates_in_force

    settings = get_settings()
    if args.dbt_json:
        print(dbt_gates_json(settings))
        return 0
    print(f"gate thresholds from {settings.gates_file}")
    for name, value, source in gates_in_force(settings):
        print(f"  {name:<48} {value!s:<10} {source}")
    return 0


def _verify_erasure(args: argparse.Namespace) -> int:
    from cdp.privacy import verify_erasure
    from cdp.warehouse import connect

    with connect(get_settings(), read_only=True) as con:
        left = verify_erasure(con)
        ledger = con.execute("select step, count(distinct profile_id), coalesce(sum(rows_affected), 0) "
                             "from ops.deletion_ledger group by 1 order by 1").fetchall()
    for step, profiles, rows in ledger:
        print(f"  ledger {step:<20}{profiles:>6} profiles{rows:>12,} rows")
    if left:
        for table, rows in left.items():
            print(f"  NOT ERASED {table}: {rows} rows")
        return 1
    print("nothing remains of any person with a deletion request")
    return 0


def _explain_profile(args: argparse.Namespace) -> int:
    from cdp.explain import UnknownProfile, explain_profile

    try:
        explain_profile(get_settings(), args.profile_id)
    except UnknownProfile as exc:
        print(f"cdp explain-profile: {exc}", file=sys.stderr)
        return 2
    return 0


def _dev(args: argparse.Namespace) -> int:
    """`dg dev` (Dagster's webserver and daemon) on the instance `cdp run` records into, so its runs
    show in the UI."""
    import shutil
    import subprocess

    from cdp.settings import REPO_ROOT, dagster_home

    home = dagster_home(get_settings())
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    dg = Path(sys.executable).with_name("dg")
    print(f"Dagster instance: {home} (cdp run records here)")
    command = [str(dg) if dg.exists() else "dg", "dev", "--port", str(args.port)]
    # dg checks that it runs in the project's environment: this interpreter's
    return subprocess.call(command, cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(home),
                                                       "VIRTUAL_ENV": sys.prefix})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Composable CDP: load, model, check and sync.")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic landing zone plus its ground truth")
    gen.add_argument("--people", type=int, help="number of people to simulate")
    gen.add_argument("--seed", type=int, default=42, help="random seed (same seed, same bytes)")
    gen.add_argument("--out", required=True, help="output folder (gets landing/ and ground_truth/)")
    gen.add_argument("--chunk-size", type=int, default=25_000, help="people per chunk (bounds memory)")
    gen.add_argument("--end-date", default="2026-11-15", help="last day of simulated activity")
    gen.add_argument("--no-gzip", action="store_true", help="write events as plain .ndjson")
    gen.add_argument("--force", action="store_true", help="replace an existing landing/ground_truth")
    gen.add_argument("--increment", metavar="DAY", help="instead: add the landing files of a later day "
                     "(YYYY-MM-DD) to the folder --out, for the people generated there (see sample_data/increment.py)")
    gen.add_argument("--share", type=float, default=0.01,
                     help="with --increment: the share of existing event lines replayed on that day")
    gen.set_defaults(func=_generate)

    run = commands.add_parser("run", help="materialise the whole pipeline in-process")
    run.add_argument("--select", default="*", help="Dagster asset selection: comma-separated clauses "
                     "such as '*marts/dim_profiles' (default: everything)")
    run.add_argument("--full-refresh", action="store_true",
                     help="rebuild every model from raw, incremental ones included, even when nothing is new")
    run.set_defaults(func=_run)

    commands.add_parser("load", help="load new landing files into raw").set_defaults(func=_load)
    models = commands.add_parser("build-models", help="build the dbt models on an engine, without Dagster")
    models.add_argument("--target", choices=["duckdb", "postgres", "spark"], default=None,
                        help="engine (default CDP_TARGET, else duckdb)")
    models.add_argument("--full-refresh", action="store_true",
                        help="rebuild the incremental models from raw too (automatic when the dbt project or "
                             "its vars changed since the last published run)")
    models.set_defaults(func=_build_models)
    dash = commands.add_parser("dashboard", help="rebuild the marketing dashboard from the last good run")
    dash.add_argument("--open", action="store_true", help="also open it in the default browser")
    dash.set_defaults(func=_dashboard)
    status = commands.add_parser("status", help="print what the warehouse holds")
    status.add_argument("--json", action="store_true",
                        help="print it as one JSON document (for scripts and monitoring)")
    status.set_defaults(func=_status)
    sync = commands.add_parser("sync", help="run reverse-ETL syncs (all, or the ones named)")
    sync.add_argument("names", nargs="*", help="sync names from the syncs file (default: every sync)")
    sync.add_argument("--dry-run", action="store_true", help="print adds, updates, deletes per sync; send nothing")
    sync.add_argument("--full-resync", action="store_true", help="send every member again, ignoring the diff state")
    sync.add_argument("--override-guardrails", action="store_true",
                      help="send a plan the guardrails blocked (after reviewing it with --dry-run)")
    sync.set_defaults(func=_sync)
    dev = commands.add_parser("dev", help="open the Dagster UI on the instance cdp run records into")
    dev.add_argument("-p", "--port", type=int, default=3000, help="the UI's port (default 3000)")
    dev.set_defaults(func=_dev)
    gates = commands.add_parser("gates", help="print every gate's threshold in force (cdp/quality/gates.yml)")
    gates.add_argument("--dbt-json", action="store_true",
                       help="print the identity gates as dbt reads them (export as CDP_DBT_GATES to run dbt by hand)")
    gates.set_defaults(func=_gates)
    commands.add_parser("verify-erasure", help="show that nothing remains of deleted people").set_defaults(
        func=_verify_erasure)
    explain = commands.add_parser("explain-profile", help="why a profile holds the identifiers it holds")
    explain.add_argument("profile_id", help="a profile id (prf_...), current or retired")
    explain.set_defaults(func=_explain_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"cdp {args.command}: {exc}", file=sys.stderr)
        return 2
    except (duckdb.IOException, duckdb.TransactionException) as exc:
        first = str(exc).splitlines()[0]
        if not isinstance(exc, duckdb.IOException) and "could not write" not in first.lower():
            raise
        # the warehouse file could not be written: a full disk, most often
        print(f"cdp {args.command}: the warehouse could not be written: {first}. Free space (or point "
              "CDP_WAREHOUSE elsewhere) and run again: what was committed stays, the interrupted file or "
              "step runs again.", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder: say which file and what to do
        where = f" ({exc.filename})" if exc.filename else ""
        hint = "; free space and run again (finished files stay loaded)" if exc.errno == errno.ENOSPC else ""
        print(f"cdp {args.command}: {exc.strerror or exc}{where}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
