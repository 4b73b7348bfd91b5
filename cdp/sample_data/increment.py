"""`cdp generate --increment DAY`: the next day's landing files for a population `cdp generate` wrote.

Written beside the existing files (the next `cdp run` loads only these), with the ground truth kept
in step so identity accuracy is still scored:

- events of existing people: a share of every existing event line (`share`, default 1%), each
  replayed as a new message (a new messageId and order id) on the new day at the same time of day,
  from the same device and identifiers; one in ten arrives late, stamped one to three days earlier;
- new people whose whole history is that day, drawn and rendered by the generator itself and
  numbered after everyone before them: their events, CRM contacts and opportunities, consent
  records and deletion requests;
- one deletion request for an existing person (a person with an email and no request yet).

Everything is decided by the population's seed and the day, so the same call writes the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from cdp.sample_data.draws import draw_chunk
from cdp.sample_data.render import (
    define_views,
    write_consent_and_deletions,
    write_crm,
    write_events,
    write_people_truth,
)
from cdp.sql_text import sql_string

#: new people per existing person in one day's increment
NEW_PEOPLE_SHARE = 0.001


@dataclass(frozen=True)
class IncrementResult:
    day: date
    replayed_lines: int
    late_lines: int
    new_people: int
    new_people_lines: int
    deletion_request: str


def _generation(truth: Path) -> dict:
    meta = truth / "generation.json"
    if not meta.exists():
        raise FileNotFoundError(f"{meta} not found: --increment needs a folder `cdp generate` wrote (--out)")
    return json.loads(meta.read_text())


def write_increment(out: Path, day: date, share: float = 0.01) -> IncrementResult:
    """Write the increment for `day` into `out` (a `cdp generate` output folder)."""
    landing, truth = out / "landing", out / "ground_truth"
    meta = _generation(truth)
    spec = meta["spec"]
    increments = meta.setdefault("increments", [])
    if any(i["day"] == day.isoformat() for i in increments):
        raise FileExistsError(f"{out} already has the increment of {day}")
    if not 0 < share <= 1:
        raise ValueError(f"--share must be in (0, 1], got {share}")
    stamp = day.strftime("%Y%m%d")
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set preserve_insertion_order = true")
        replayed, late = _replay_existing(con, landing, truth, day_start, stamp, share)
        first = spec["people"] + sum(i["new_people"] for i in increments)
        new_people = max(1, round(spec["people"] * NEW_PEOPLE_SHARE))
        rng = np.random.default_rng(np.random.SeedSequence([spec["seed"], day.toordinal()]))
        end_epoch = (day_start + timedelta(days=1)).timestamp() - 1
        define_views(con, draw_chunk(rng, first, new_people, end_epoch, 1))
        chunk = int(stamp)
        suffix = ".ndjson.gz" if spec.get("gzip_events", True) else ".ndjson"
        new_lines = write_events(con, landing / "events" / f"events_{stamp}_new_people{suffix}", truth, chunk,
                                 spec.get("gzip_events", True))
        write_crm(con, landing, truth, chunk, end_epoch)
        write_consent_and_deletions(con, landing, chunk, end_epoch)
        write_people_truth(con, truth, chunk)
        request = _one_deletion_request(con, landing, truth, day_start, stamp)
    finally:
        con.close()
    result = IncrementResult(day, replayed, late, new_people, new_lines, request)
    increments.append({"day": day.isoformat(), "share": share, "new_people": new_people, "replayed_lines": replayed,
                       "late_lines": late, "new_people_lines": new_lines, "deletion_request": request})
    (truth / "generation.json").write_text(json.dumps(meta, indent=2) + "\n")
    return result


def _replay_existing(con: duckdb.DuckDBPyConnection, landing: Path, truth: Path, day_start: datetime,
                     stamp: str, share: float) -> tuple[int, int]:
    """Replay `share` of the existing well-formed event lines as new messages on the new day."""
    events = sorted(p for p in (landing / "events").iterdir() if p.is_file() and ".ndjson" in p.name)
    files = "[" + ", ".join(sql_string(p) for p in events) + "]"
    threshold = int(share * 1_000_000)
    day = sql_string(day_start.strftime("%Y-%m-%d"))
    tag = sql_string(stamp)
    con.execute(f"""
        create or replace temp table replay as
        with lines as (
            select line from read_csv({files}, columns = {{'line': 'VARCHAR'}}, header = false,
                                      delim = e'\\x1f', quote = '', escape = '', auto_detect = false)
        ),
        parsed as (
            select line, line->>'messageId' as old_id,
                   try_cast(line->>'timestamp' as timestamptz) as old_ts,
                   line->'properties'->>'order_id' as order_id
            from lines
            where json_valid(line) and line->>'messageId' is not null
              and hash(line->>'messageId' || {tag}) % 1000000 < {threshold}
        ),
        timed as (
            select *, 'msg-' || md5(old_id || {tag}) as new_id,
                   hash(old_id || {tag} || 'late') % 10 = 0 as is_late,
                   date {day} + (old_ts - date_trunc('day', old_ts))
                       - case when hash(old_id || {tag} || 'late') % 10 = 0
                              then to_days(cast(1 + hash(old_id) % 3 as integer)) else interval 0 day end as new_ts
            from parsed where old_ts is not null
        )
        select new_id, old_id, is_late, new_ts,
               json_merge_patch(line, json_object(
                   'messageId', new_id,
                   'timestamp', strftime(new_ts, '%Y-%m-%dT%H:%M:%S.%gZ'),
                   'properties', case when order_id is not null
                                      then json_object('order_id', 'ord-' || left(md5(order_id || {tag}), 16)) end
               ))::varchar as line
        from timed
    """)
    target = landing / "events" / f"events_{stamp}_returning.ndjson.gz"
    con.execute(f"""copy (select line from replay order by new_ts, new_id) to {sql_string(target)}
                    (format csv, header false, quote '', escape '', delimiter '\x1f', compression gzip)""")
    truth_files = sql_string(str(truth / "event_people" / "*.parquet"))
    con.execute(f"""
        copy (
            select r.new_id as message_id, t.person_id, null::varchar as defect, false as is_duplicated
            from (select distinct new_id, old_id from replay) as r
            inner join read_parquet({truth_files}) as t on t.message_id = r.old_id
            order by 1
        ) to {sql_string(truth / "event_people" / f"event_people_{stamp}_returning.parquet")} (format parquet)
    """)
    lines, late = con.execute("select count(*), count(*) filter (where is_late) from replay").fetchall()[0]
    return int(lines), int(late)


def _one_deletion_request(con: duckdb.DuckDBPyConnection, landing: Path, truth: Path, day_start: datetime,
                          stamp: str) -> str:
    """A deletion request by email for one existing person who has an email and no request yet."""
    people = sql_string(str(truth / "people" / "*.parquet"))
    requests = sql_string(str(landing / "deletion_requests" / "*.csv"))
    row = con.execute(f"""
        select person_id, email from read_parquet({people}) as p
        where email is not null
          and lower(email) not in (select lower(identifier) from read_csv({requests}, all_varchar = true))
        order by hash(person_id || {sql_string(stamp)}), person_id limit 1
    """).fetchall()
    if not row:
        return ""
    row = row[0]
    request_id = f"DSR-{stamp}-{row[0]}"
    target = landing / "deletion_requests" / f"deletion_requests_{stamp}_returning.csv"
    con.execute(f"""copy (select {sql_string(request_id)} as request_id, 'email' as identifier_type,
                                 {sql_string(row[1])} as identifier,
                                 {sql_string((day_start + timedelta(hours=12)).strftime('%Y-%m-%dT%H:%M:%SZ'))}
                                     as requested_at)
                    to {sql_string(target)} (header, delimiter ',')""")
    return request_id
