"""`cdp generate`: a realistic landing zone at any scale, plus the planted ground truth.

People are produced in chunks (default 25,000): each chunk's draws live in memory only while its
files are written, so memory stays bounded whatever the number of people. Output layout:

    OUT/landing/{events,crm_contacts,crm_opportunities,ad_spend,consent,deletion_requests}/...
    OUT/ground_truth/{people,identifiers,event_people,contact_people}/*.parquet
    OUT/ground_truth/channel_effects.csv, OUT/ground_truth/generation.json

The same `--seed` and `--people` always give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from cdp.sample_data.budgets import BUDGET_STREAM, write_budgets
from cdp.sample_data.draws import draw_chunk
from cdp.sample_data.render import (
    define_views,
    write_consent_and_deletions,
    write_crm,
    write_events,
    write_people_truth,
)
from cdp.sample_data.vocabulary import BASE_CONVERSION_RATE, CAMPAIGNS, CHANNELS
from cdp.sql_text import sql_string

LANDING_SOURCES = ("events", "crm_contacts", "crm_opportunities", "ad_spend", "consent", "deletion_requests",
                   "budgets")
TRUTH_FOLDERS = ("people", "identifiers", "event_people", "contact_people")


@dataclass(frozen=True)
class GenerationSpec:
    people: int
    seed: int = 42
    chunk_size: int = 25_000
    end_date: date = date(2026, 11, 15)
    span_days: int = 180
    gzip_events: bool = True

    @property
    def end_epoch(self) -> float:
        return datetime(self.end_date.year, self.end_date.month, self.end_date.day, tzinfo=UTC).timestamp()


@dataclass
class GenerationResult:
    people: int
    event_lines: int
    chunks: int
    seconds: float


def _prepare_out(out: Path, force: bool) -> tuple[Path, Path]:
    landing, truth = out / "landing", out / "ground_truth"
    for folder in (landing, truth):
        if folder.exists() and any(folder.iterdir()):
            if not force:
                raise FileExistsError(
                    f"{folder} is not empty; pass --force to replace it, or choose another --out."
                )
            shutil.rmtree(folder)
    for source in LANDING_SOURCES:
        (landing / source).mkdir(parents=True, exist_ok=True)
    for name in TRUTH_FOLDERS:
        (truth / name).mkdir(parents=True, exist_ok=True)
    return landing, truth


def _write_ad_spend(con: duckdb.DuckDBPyConnection, spec: GenerationSpec, landing: Path,
                    rng: np.random.Generator) -> None:
    """Daily spend per paid channel and campaign, one file per month, a couple of bad rows."""
    paid = [c for c in CHANNELS if c.daily_spend > 0]
    days = spec.span_days
    campaigns_per_channel = 2
    rows = len(paid) * campaigns_per_channel * days
    scale = max(spec.people / 10_000, 0.05)
    channel_i = np.repeat(np.arange(len(paid)), campaigns_per_channel * days)
    campaign_slot = np.tile(np.repeat(np.arange(campaigns_per_channel), days), len(paid))
    day = np.tile(np.arange(days), len(paid) * campaigns_per_channel)
    spend = np.array([c.daily_spend for c in paid])[channel_i] / campaigns_per_channel * scale
    spend = np.round(spend * rng.lognormal(0.0, 0.25, size=rows), 2)
    cpm = rng.uniform(4, 20, size=rows)
    impressions = np.maximum((spend / cpm * 1000).astype(np.int64), 0)
    clicks = (impressions * rng.uniform(0.005, 0.04, size=rows)).astype(np.int64)
    con.register("d_spend", pa.table({
        "channel_name": [paid[i].name for i in channel_i],
        "source": [paid[i].utm_sources[s % len(paid[i].utm_sources)] for i, s in zip(channel_i, campaign_slot,
                                                                                      strict=True)],
        "medium": [paid[i].utm_mediums[0] for i in channel_i],
        "campaign": [CAMPAIGNS[(i * campaigns_per_channel + s) % len(CAMPAIGNS)]
                     for i, s in zip(channel_i, campaign_slot, strict=True)],
        "day": day,
        "spend": spend,
        "impressions": impressions,
        "clicks": clicks,
        "defect": rng.random(rows) < 0.001,
    }))
    start = spec.end_date.toordinal() - days
    con.execute(f"""
        create or replace temp table spend_rows as
        select
            (date '{date.fromordinal(start).isoformat()}' + day::integer) as spend_date,
            channel_name as channel, source, medium, campaign,
            case when defect then 'N/A' else spend::varchar end as spend,
            'USD' as currency, impressions, clicks
        from d_spend
    """)
    months = [m[0] for m in con.execute(
        "select distinct strftime(spend_date, '%Y_%m') from spend_rows order by 1").fetchall()]
    for month in months:
        con.execute(f"""
            copy (
                select strftime(spend_date, '%Y-%m-%d') as date, * exclude (spend_date)
                from spend_rows where strftime(spend_date, '%Y_%m') = '{month}'
                order by spend_date, channel, campaign
            ) to {sql_string(landing / "ad_spend" / f"ad_spend_{month}.csv")} (header, delimiter ',')
        """)


def _write_truth_summary(spec: GenerationSpec, truth: Path, result: GenerationResult) -> None:
    lines = ["channel,channel_index,session_weight,conversion_lift,daily_spend"]
    for i, c in enumerate(CHANNELS):
        lines.append(f"{c.name},{i},{c.session_weight},{c.conversion_lift},{c.daily_spend}")
    (truth / "channel_effects.csv").write_text("\n".join(lines) + "\n")
    meta = {
        "spec": {**asdict(spec), "end_date": spec.end_date.isoformat()},
        "result": asdict(result),
        "conversion_model": (
            "P(order) = 1 - (1 - base) * prod(1 - conversion_lift[c] for each distinct channel c the person "
            f"touched); base = {BASE_CONVERSION_RATE}. channel_mask in people/*.parquet has bit c set "
            "when the person touched channel_index c."
        ),
    }
    (truth / "generation.json").write_text(json.dumps(meta, indent=2) + "\n")


def generate(spec: GenerationSpec, out: Path, *, force: bool = False,
             log: Callable[[str], None] = print) -> GenerationResult:
    if spec.people < 1:
        raise ValueError("--people must be at least 1")
    landing, truth = _prepare_out(out, force)
    started = time.perf_counter()
    streams = np.random.SeedSequence(spec.seed).spawn(1 + (spec.people + spec.chunk_size - 1) // spec.chunk_size)
    con = duckdb.connect()
    total_lines = 0
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set preserve_insertion_order = true")
        chunks = len(streams) - 1
        suffix = ".ndjson.gz" if spec.gzip_events else ".ndjson"
        for chunk in range(chunks):
            first = chunk * spec.chunk_size
            n = min(spec.chunk_size, spec.people - first)
            t0 = time.perf_counter()
            draws = draw_chunk(np.random.default_rng(streams[chunk + 1]), first, n, spec.end_epoch,
                               spec.span_days)
            define_views(con, draws)
            lines = write_events(con, landing / "events" / f"events_{chunk:05d}{suffix}", truth, chunk,
                                 spec.gzip_events)
            write_crm(con, landing, truth, chunk, spec.end_epoch)
            write_consent_and_deletions(con, landing, chunk, spec.end_epoch)
            write_people_truth(con, truth, chunk)
            total_lines += lines
            log(f"chunk {chunk + 1}/{chunks}: {n:,} people, {lines:,} event lines "
                f"({time.perf_counter() - t0:.1f}s)")
        _write_ad_spend(con, spec, landing, np.random.default_rng(streams[0]))
        write_budgets(con, landing, spec.end_date, np.random.default_rng([spec.seed, BUDGET_STREAM]))
    finally:
        con.close()
    result = GenerationResult(spec.people, total_lines, len(streams) - 1, time.perf_counter() - started)
    _write_truth_summary(spec, truth, result)
    log(f"generated {spec.people:,} people, {total_lines:,} event lines in {result.seconds:.1f}s -> {out}")
    return result
