"""Set-up steps of the reverse-ETL benchmark stages (bench/run.py), each run as its own process.

    python -m bench.sync_stages prepare   audiences.bench_all_profiles <- marts.dim_profiles; empty target
    python -m bench.sync_stages change    1% of the members get a new lead score
"""

from __future__ import annotations

import os
import sys

import psycopg

from cdp.settings import get_settings
from cdp.warehouse import connect

BENCH_SYNC = "bench_all_profiles_to_postgres"
POSTGRES_URL = os.environ.get("CDP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def prepare() -> None:
    with connect(get_settings()) as con:
        con.execute("""create or replace table audiences.bench_all_profiles as
                       select profile_id, email, phone_e164, first_name, last_name, company, country,
                              lifecycle_stage, lead_score, last_seen_at
                       from marts.dim_profiles""")
        for table in ("sync_state", "sync_batches", "sync_plans", "sync_runs", "sync_log"):
            con.execute(f"delete from ops.{table} where sync_name = ?", [BENCH_SYNC])
        con.execute(f'drop table if exists ops."sync_outbox__{BENCH_SYNC}"')
    with psycopg.connect(POSTGRES_URL, autocommit=True) as pg:
        pg.execute("drop schema if exists cdp_bench cascade")


def change() -> None:
    with connect(get_settings()) as con:
        con.execute("update audiences.bench_all_profiles set lead_score = lead_score + 1 "
                    "where hash(profile_id) % 100 = 0")


if __name__ == "__main__":
    {"prepare": prepare, "change": change}[sys.argv[1]]()
