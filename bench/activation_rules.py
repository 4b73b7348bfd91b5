"""What the activation rules cost a sync's plan: a 1M-member audience planned with and without a
priority list and a frequency cap (and, separately, a holdout).

    python -m bench.activation_rules [--members 1000000] [--repeat 3]

A DuckDB file of its own (bench/work/activation/) holds the audience, consent for everyone, a
higher-ranked audience with a tenth of the members, and the week's email sends (three for a third
of the members, one for the rest; the cap is three a week). Each configuration plans
(reverse_etl.plan_sync; a first plan, so everyone is new) into the outbox and discards it,
`--repeat` times; the median is reported. Results go to bench/results/activation_rules_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from reverse_etl.config import parse_sync_config
from reverse_etl.plan import discard_plan, plan_sync
from reverse_etl.state import ensure_sync_tables

ROOT = Path(__file__).resolve().parent
MAPPING = {"profile_id": "profile_id", "email": "email", "first_name": "first_name", "score": "score"}


def _warehouse(path: Path, members: int) -> None:
    con = duckdb.connect(str(path))
    try:
        ensure_sync_tables(con)
        con.execute("create schema audiences; create schema marts")
        con.execute(f"""create table audiences.aud_members as
                        select 'prf_' || lpad(i::varchar, 8, '0') as profile_id, 'p' || i || '@example.com' as email,
                               'First' || i as first_name, i * 0.5 as score from range({members}) as r(i)""")
        con.execute("""create table marts.dim_profiles as
                       select profile_id, 'granted' as email_marketing_consent from audiences.aud_members""")
        con.execute("create table audiences.aud_vip as "
                    "select * from audiences.aud_members where hash(profile_id) % 10 = 0")
        con.execute("create table audiences.aud_suppression (profile_id varchar, suppression_reason varchar)")
        # a third of the members were emailed three times this week, the rest once
        con.execute("""insert into ops.sync_log (sync_name, plan_id, member_key, profile_id, op, status, reason,
                                                 logged_at)
                       select 'newsletter', 'p' || k, profile_id, profile_id, 'upsert', 'sent', 'new member',
                              now() - to_days(k * 2 + 1)
                       from audiences.aud_members, range(3) as r(k)
                       where k = 0 or hash(profile_id) % 3 = 0""")
    finally:
        con.close()


def _config(rules: dict, sync: dict) -> object:
    base = {"audience": "aud_members", "destination": "files", "mode": "mirror", "key": "profile_id",
            "consent_purpose": "email_marketing", "channel": "email", "mapping": MAPPING,
            "options": {"path": "members.csv", "format": "csv"}, **sync}
    newsletter = {**base, "options": {"path": "newsletter.csv", "format": "csv"}}
    return parse_sync_config({"destinations": {"files": {"kind": "file"}}, "suppression": ["aud_suppression"],
                              "syncs": {"members": base, "newsletter": newsletter}, **rules}, Path("bench.yml"))


CONFIGURATIONS = {
    "no rules": ({}, {}),
    "priority list + frequency cap": ({"priorities": {"programs": ["aud_vip", "aud_members"]},
                                       "frequency_caps": [{"channel": "email", "max_sends": 3, "window_days": 7}]},
                                      {}),
    "holdout (10%)": ({}, {"holdout": {"experiment": "bench", "share": 0.1}}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = ROOT / "work" / "activation"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "bench.duckdb"
    _warehouse(path, args.members)
    results = {}
    con = duckdb.connect(str(path))
    try:
        for name, (rules, sync) in CONFIGURATIONS.items():
            config = _config(rules, sync)
            times, held = [], 0
            for i in range(args.repeat):
                started = time.perf_counter()
                plan = plan_sync(con, config.syncs["members"], config, f"bench-{i}", snapshot=True,
                                 log_held_back=False)
                times.append(time.perf_counter() - started)
                held = plan.rows_held_back
                discard_plan(con, "members", plan.plan_id)
            results[name] = {"seconds": times, "median": statistics.median(times), "held_back": held,
                             "planned": plan.rows_planned}
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    base = results["no rules"]["median"]
    print(f"{args.members:,} members; plan time, median of {args.repeat}")
    print(f"{'configuration':<32}{'s':>8}{'vs none':>9}{'held back':>12}{'planned':>12}")
    for name, r in results.items():
        print(f"{name:<32}{r['median']:>8.2f}{r['median'] / base - 1:>+9.0%}{r['held_back']:>12,}{r['planned']:>12,}")
    out = ROOT / "results" / f"activation_rules_{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"members": args.members, "results": results}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
