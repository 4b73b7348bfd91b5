"""The `cdp` command: what people do without the Dagster UI.

    cdp generate --people N --seed S --out DIR [--force] [--no-gzip]
    cdp run        materialise every asset in-process and print a summary
    cdp load       load new landing files into raw only
    cdp status     what the warehouse holds: files, rows per layer, quarantine, last syncs
    cdp explain-profile ID   a profile's identifiers, the edges that joined them, merges, protections
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from orchestration.settings import get_settings


def _generate(args: argparse.Namespace) -> int:
    from orchestration.sample_data.generator import GenerationSpec, generate

    spec = GenerationSpec(people=args.people, seed=args.seed, chunk_size=args.chunk_size,
                          end_date=date.fromisoformat(args.end_date), gzip_events=not args.no_gzip)
    generate(spec, Path(args.out), force=args.force)
    return 0


def _load(args: argparse.Namespace) -> int:
    from orchestration.ingest.contract import load_contract
    from orchestration.ingest.loader import load_source
    from orchestration.warehouse import connect

    settings = get_settings()
    contract = load_contract()
    with connect(settings) as con:
        for spec in contract.sources.values():
            load_source(con, spec, settings.landing_dir, contract, progress=print)
    return 0


def _run(args: argparse.Namespace) -> int:
    from orchestration.run import run_pipeline

    return 0 if run_pipeline(select=args.select) else 1


def _status(args: argparse.Namespace) -> int:
    from orchestration.status import print_status

    print_status(get_settings())
    return 0


def _explain_profile(args: argparse.Namespace) -> int:
    from orchestration.explain import UnknownProfile, explain_profile

    try:
        explain_profile(get_settings(), args.profile_id)
    except UnknownProfile as exc:
        print(f"cdp explain-profile: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description="Composable CDP: load, model, check and sync.")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write a synthetic landing zone plus its ground truth")
    gen.add_argument("--people", type=int, required=True, help="number of people to simulate")
    gen.add_argument("--seed", type=int, default=42, help="random seed (same seed, same bytes)")
    gen.add_argument("--out", required=True, help="output folder (gets landing/ and ground_truth/)")
    gen.add_argument("--chunk-size", type=int, default=25_000, help="people per chunk (bounds memory)")
    gen.add_argument("--end-date", default="2026-11-15", help="last day of simulated activity")
    gen.add_argument("--no-gzip", action="store_true", help="write events as plain .ndjson")
    gen.add_argument("--force", action="store_true", help="replace an existing landing/ground_truth")
    gen.set_defaults(func=_generate)

    run = commands.add_parser("run", help="materialise the whole pipeline in-process")
    run.add_argument("--select", default="*", help="Dagster asset selection (default: everything)")
    run.set_defaults(func=_run)

    commands.add_parser("load", help="load new landing files into raw").set_defaults(func=_load)
    commands.add_parser("status", help="print what the warehouse holds").set_defaults(func=_status)
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


if __name__ == "__main__":
    sys.exit(main())
