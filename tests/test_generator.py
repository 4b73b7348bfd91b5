"""The sample-data generator: complete contract, reproducible, and really independent draws."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from cdp.sample_data.generator import LANDING_SOURCES, GenerationSpec, generate
from cdp.sample_data.vocabulary import CHANNELS, JUNK_EMAILS


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "generation.json"}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        generate(GenerationSpec(people=600, seed=seed, chunk_size=250), tmp_path / name, log=lambda _: None)
    first, second, other = (_digest(tmp_path / n) for n in "abc")
    assert first == second
    assert first.keys() == other.keys()
    assert first != other


def test_writes_every_landing_source_and_the_ground_truth(generated: Path) -> None:
    for source in LANDING_SOURCES:
        files = [p for p in (generated / "landing" / source).iterdir() if p.is_file()]
        assert files, f"no files for {source}"
    truth = generated / "ground_truth"
    effects = (truth / "channel_effects.csv").read_text().splitlines()
    assert len(effects) == len(CHANNELS) + 1
    meta = json.loads((truth / "generation.json").read_text())
    assert meta["spec"]["people"] == 4000
    people = duckdb.sql(f"select count(*), count(distinct person_id) from '{truth}/people/*.parquet'").fetchall()
    assert people == [(4000, 4000)]


def test_every_event_line_has_its_true_person(generated: Path) -> None:
    lines = 0
    for path in (generated / "landing" / "events").glob("*.ndjson.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            lines += sum(1 for line in handle if line.strip())
    truth = duckdb.sql(f"""
        select count(*) + count(*) filter (where is_duplicated)
        from '{generated}/ground_truth/event_people/*.parquet'
    """).fetchall()[0][0]
    assert truth == lines


def test_realistic_identifiers(generated: Path) -> None:
    truth = generated / "ground_truth"
    per_person = duckdb.sql(f"""
        select count(distinct identifier_type || identifier) as n
        from '{truth}/identifiers/*.parquet' group by person_id
    """).fetchall()
    counts = [r[0] for r in per_person]
    assert min(counts) >= 1
    assert max(counts) >= 5
    shared = duckdb.sql(f"""
        select count(*) from (
            select identifier from '{truth}/identifiers/*.parquet'
            where identifier_type = 'device_id' group by identifier having count(distinct person_id) > 1)
    """).fetchall()[0][0]
    assert shared > 0, "some devices must be shared by several people"
    events = duckdb.sql(f"""
        select
            count(*) filter (where lower(trim(json_extract_string(line, '$.traits.email'))) in
                             ({", ".join(f"'{e}'" for e in JUNK_EMAILS)})) as junk,
            count(*) filter (where json_extract_string(line, '$.traits.email') <>
                             lower(trim(json_extract_string(line, '$.traits.email')))) as messy,
            count(distinct json_extract_string(line, '$.context.campaign.medium')) as mediums
        from read_csv('{generated}/landing/events/*.ndjson.gz', columns = {{'line': 'VARCHAR'}},
                      header = false, delim = e'\\x1f', quote = '', escape = '')
        where json_valid(line)
    """).fetchall()[0]
    junk, messy, mediums = events
    assert junk > 10 and messy > 10 and mediums >= 10


def test_fuzzy_duplicates_are_planted_and_recorded(generated: Path) -> None:
    """A share of CRM contacts is entered again by hand: the same person in the truth, with an email
    one or two edits away (its digits kept), a nickname where the name has one, the company in
    capitals with a legal suffix, and no shared email or phone, so only a fuzzy match can link them."""
    truth = generated / "ground_truth"
    pairs = duckdb.sql(f"""
        with contacts as (select * from read_csv('{generated}/landing/crm_contacts/*.csv', all_varchar = true)),
             owners as (select * from '{truth}/contact_people/*.parquet')
        select f.email, o.email, f.first_name, o.first_name, f.company, o.company, f.phone,
               fo.person_id = oo.person_id
        from contacts as f
        inner join contacts as o on o.contact_id = replace(f.contact_id, '-F', '')
        inner join owners as fo on fo.contact_id = f.contact_id
        inner join owners as oo on oo.contact_id = o.contact_id
        where f.contact_id like '%-F'
    """).fetchall()
    contacts = duckdb.sql(f"select count(*) from read_csv('{generated}/landing/crm_contacts/*.csv') "
                          "where contact_id not like '%-%'").fetchall()[0][0]
    assert 0.02 * contacts < len(pairs) < 0.08 * contacts
    for fuzzy_email, email, *_, phone, same_person in pairs:
        typed, original = fuzzy_email.lower(), email.strip().lower()
        assert same_person and phone is None and typed != original
        assert "".join(c for c in typed if c.isdigit()) == "".join(c for c in original if c.isdigit())
        assert sorted(typed) == sorted(original) or len(typed) == len(original) - 1
    assert {(f, o) for _, _, f, o, *_ in pairs} & {("Vic", "Victor"), ("Dave", "David"), ("Benjamin", "Ben"),
                                                   ("Jules", "Julia"), ("Marc", "Marco"), ("Rosie", "Rosa"),
                                                   ("Clo", "Chloe"), ("Georgie", "George")}
    assert all(c.endswith(" Inc.") and c[:-5] == o.upper() for *_, c, o, _p, _s in pairs if o)


def test_channel_mix_and_conversion_are_independent_of_person_id(generated: Path) -> None:
    """The low bits of the person number must not predict channels or conversion.

    A generator that derives every draw from hash(person, salt) ties all attributes to the same low
    bits; then splitting people by id parity or id mod 8 gives visibly different channel mixes and
    conversion rates. With real independent draws the groups differ only by sampling noise.
    """
    truth = generated / "ground_truth"
    rows = duckdb.sql(f"""
        select cast(substr(person_id, 2) as bigint) as n, channel_mask, converted
        from '{truth}/people/*.parquet'
    """).fetchall()
    total = len(rows)
    overall_conv = sum(r[2] for r in rows) / total
    for modulus in (2, 4, 8):
        for residue in range(modulus):
            group = [r for r in rows if r[0] % modulus == residue]
            n = len(group)
            conv = sum(r[2] for r in group) / n
            se = (overall_conv * (1 - overall_conv) / n) ** 0.5
            assert abs(conv - overall_conv) < 5 * se + 1e-9, (modulus, residue, conv, overall_conv)
            for bit in range(len(CHANNELS)):
                p_all = sum((r[1] >> bit) & 1 for r in rows) / total
                p_grp = sum((r[1] >> bit) & 1 for r in group) / n
                se_c = (p_all * (1 - p_all) / n) ** 0.5
                assert abs(p_grp - p_all) < 5 * se_c + 1e-9, (modulus, residue, CHANNELS[bit].name)


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    generate(GenerationSpec(people=50, seed=1), tmp_path, log=lambda _: None)
    with pytest.raises(FileExistsError):
        generate(GenerationSpec(people=50, seed=1), tmp_path, log=lambda _: None)
    generate(GenerationSpec(people=50, seed=1), tmp_path, force=True, log=lambda _: None)


def test_increment_adds_a_day_for_the_same_people_even_in_a_hostile_folder(tmp_path: Path) -> None:
    """`--increment` replays about the asked share of lines as new messages on the new day, with their
    true person, adds new people after everyone generated, and names one existing person to delete;
    a folder name with quotes and a semicolon is data, never SQL."""
    from datetime import date

    from cdp.sample_data.increment import write_increment

    out = tmp_path / "o'brien\"; drop table x; --"
    generate(GenerationSpec(people=400, seed=3, chunk_size=400), out, log=lambda _: None)
    lines = json.loads((out / "ground_truth" / "generation.json").read_text())["result"]["event_lines"]
    done = write_increment(out, date(2026, 11, 16), share=0.05)
    assert 0.03 * lines < done.replayed_lines < 0.07 * lines
    assert 0 < done.late_lines < done.replayed_lines
    assert done.new_people == 1 and done.deletion_request.startswith("DSR-20261116-P")
    con = duckdb.connect()
    replay = con.execute("select line from read_csv(?, columns = {'line': 'VARCHAR'}, header = false, "
                         "delim = e'\\x1f', quote = '', escape = '')",
                         [str(out / "landing" / "events" / "events_20261116_returning.ndjson.gz")]).fetchall()
    messages = [json.loads(r[0]) for r in replay]
    on_time = [m for m in messages if m["timestamp"].startswith("2026-11-16")]
    assert len(messages) == done.replayed_lines and len(on_time) == done.replayed_lines - done.late_lines
    assert all(m["timestamp"] < "2026-11-16" for m in messages if m not in on_time)
    truth_file = out / "ground_truth" / "event_people" / "event_people_20261116_returning.parquet"
    truth = con.execute("select message_id, person_id from read_parquet(?)", [str(truth_file)]).fetchall()
    assert {m["messageId"] for m in messages} == {t[0] for t in truth}
    people = con.execute("select min(person_id) from read_parquet(?)",
                         [str(out / "ground_truth" / "people" / "people_20261116.parquet")]).fetchall()
    assert people == [("P000000400",)]  # numbered after the 400 generated people
    with pytest.raises(FileExistsError):
        write_increment(out, date(2026, 11, 16))


def test_the_plan_covers_every_paid_channel_month_and_is_revised_once(generated: Path) -> None:
    """The generated plan has a channel line for every month and channel that spent, the month after
    the end date for every channel with a full month of spend, and a revision file that sorts after
    the plan and re-plans one of its lines."""
    landing = generated / "landing"
    plan, revision = sorted((landing / "budgets").glob("*.csv"))
    spent = set(duckdb.sql(f"""select distinct channel, strftime(try_cast("date" as date), '%Y-%m')
                               from read_csv('{landing}/ad_spend/*.csv', all_varchar = true)
                               where try_cast("date" as date) is not null""").fetchall())
    lines = duckdb.sql(f"select channel, period, campaign, planned_spend from read_csv('{plan}', all_varchar = true)"
                       ).fetchall()
    channel_lines = {(c, p) for c, p, campaign, _ in lines if campaign is None}
    assert spent <= channel_lines
    assert {p for _, p in channel_lines - spent} == {"2026-12"}, "only the month after the end is planned ahead"
    assert all(float(s) > 0 for *_, s in lines)
    revised, = duckdb.sql(f"select channel, period, planned_spend from read_csv('{revision}', all_varchar = true)"
                          ).fetchall()
    before = {(c, p): s for c, p, campaign, s in lines if campaign is None}
    assert (revised[0], revised[1]) in before and revised[2] != before[(revised[0], revised[1])]
