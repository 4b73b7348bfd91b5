"""Random draws for one chunk of people: every number the generator needs, as numpy arrays.

Each chunk gets its own PCG64 stream spawned from the seed (`numpy.random.SeedSequence.spawn`),
and every attribute is a separate draw from that stream, so channel, timing and conversion are
independent of each other and of the person's id. (Hash-based draws such as DuckDB's
`hash(x, salt)` share low bits across salts and would tie them together.) Strings are assembled
later in SQL; this module only draws numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cdp.sample_data.vocabulary import (
    BASE_CONVERSION_RATE,
    CHANNELS,
    COMPANIES,
    COMPANY_SIZES,
    COUNTRIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    INDUSTRIES,
    JOB_TITLES,
    LAST_NAMES,
    LEAD_SOURCES,
)

DAY = 86_400.0

# Event kinds, shared with the SQL that renders them.
PAGE, PRODUCT_VIEWED, IDENTIFY, FORM_SUBMITTED, DEMO_REQUESTED, ORDER_COMPLETED, ALIAS = range(7)


@dataclass
class ChunkDraws:
    people: pa.Table
    devices: pa.Table
    sessions: pa.Table
    events: pa.Table
    opportunities: pa.Table


def _within_group_index(group_sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for each group laid out consecutively (np.repeat order)."""
    starts = np.cumsum(group_sizes) - group_sizes
    return np.arange(group_sizes.sum()) - np.repeat(starts, group_sizes)


@dataclass
class _Persons:
    """Per-person draws the later steps read (arrays of length n, in person order)."""

    country: np.ndarray
    is_b2b: np.ndarray
    has_user_id: np.ndarray
    has_email: np.ndarray
    has_phone: np.ndarray
    nsn: np.ndarray
    start: np.ndarray
    n_devices: np.ndarray
    borrows_device: np.ndarray


@dataclass
class _Journeys:
    """Each person's sessions, in session order, and what they did across them."""

    s_person: np.ndarray
    s_time: np.ndarray
    s_k: np.ndarray
    s_first: np.ndarray
    n_sessions: np.ndarray
    login_k: np.ndarray
    form_k: np.ndarray
    channel_mask: np.ndarray
    converted: np.ndarray
    revenue: np.ndarray
    fills_form: np.ndarray
    requests_demo: np.ndarray
    aliases: np.ndarray


def draw_chunk(
    rng: np.random.Generator, first_person: int, n: int, end_epoch: float, span_days: int
) -> ChunkDraws:
    """Every random draw of one chunk of people, in a fixed order (the same seed gives the same bytes)."""
    local = np.arange(n)
    persons = _draw_persons(rng, n, end_epoch, span_days)
    devices, device_first, borrowed_device = _draw_devices(rng, local, persons.n_devices)
    journeys, sessions = _draw_journeys(rng, local, persons, device_first, borrowed_device, end_epoch)
    events = _draw_events(rng, journeys, sessions.num_rows, persons.has_user_id)
    people = _draw_people_table(rng, local, first_person + local, persons, journeys)
    opportunities = _draw_opportunities(rng, persons.is_b2b)
    # drawn last, so the draws above are what they were before fuzzy duplicates were planted
    people = _add_fuzzy_duplicates(rng, people)
    return ChunkDraws(people, devices, sessions, events, opportunities)


#: share of CRM contacts entered a second time by hand, with a mistyped email, a nickname and a
#: company written another way: the cases only the probabilistic identity tier can link
FUZZY_DUPLICATE_RATE = 0.05


def _add_fuzzy_duplicates(rng: np.random.Generator, people: pa.Table) -> pa.Table:
    n = people.num_rows
    in_crm = people.column("in_crm").to_numpy(zero_copy_only=False)
    people = people.append_column("crm_fuzzy_duplicate", pa.array(in_crm & (rng.random(n) < FUZZY_DUPLICATE_RATE)))
    return people.append_column("fuzzy_typo_kind", pa.array(rng.integers(0, 3, size=n)))


def _draw_persons(rng: np.random.Generator, n: int, end_epoch: float, span_days: int) -> _Persons:
    shares = np.array([c[4] for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=n, p=shares / shares.sum())
    is_b2b = rng.random(n) < 0.30
    has_user_id = rng.random(n) < 0.55
    has_email = has_user_id | (rng.random(n) < 0.35)
    has_phone = rng.random(n) < 0.35
    nsn_len = np.array([c[2] for c in COUNTRIES])[country]
    nsn = rng.integers(1, 10, size=n) * (10 ** (nsn_len - 1)) + rng.integers(0, 10**9, size=n) % (
        10 ** (nsn_len - 1)
    )
    nanp = np.isin(country, [i for i, c in enumerate(COUNTRIES) if c[1] == "1"])
    nanp_nsn = (
        rng.integers(200, 1000, size=n) * 10**7 + rng.integers(200, 1000, size=n) * 10**4
        + rng.integers(0, 10_000, size=n)
    )
    nsn = np.where(nanp, nanp_nsn, nsn)
    start = end_epoch - rng.random(n) * span_days * DAY
    n_devices = rng.choice([1, 2, 3], size=n, p=[0.70, 0.22, 0.08])
    borrows_device = rng.random(n) < 0.02  # uses someone else's device now and then (family tablet)
    return _Persons(country, is_b2b, has_user_id, has_email, has_phone, nsn, start, n_devices, borrows_device)


def _draw_devices(rng: np.random.Generator, local: np.ndarray, n_devices: np.ndarray,
                  ) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The devices table, each person's first device row, and the device each may borrow."""
    m = int(n_devices.sum())
    devices = pa.table({
        "device_row": np.arange(m),
        "owner": np.repeat(local, n_devices),
        "device_hi": rng.integers(0, 2**62, size=m),
        "anon_hi": rng.integers(0, 2**62, size=m),
        "is_app": rng.random(m) < 0.20,
    })
    borrowed_device = rng.integers(0, m, size=local.size)
    return devices, np.cumsum(n_devices) - n_devices, borrowed_device


def _draw_journeys(rng: np.random.Generator, local: np.ndarray, persons: _Persons, device_first: np.ndarray,
                   borrowed_device: np.ndarray, end_epoch: float) -> tuple[_Journeys, pa.Table]:
    """Sessions (time, channel, device, login) and the planted channel effects on conversion."""
    n = local.size
    n_sessions = 1 + rng.poisson(2.0, size=n)
    s_person = np.repeat(local, n_sessions)
    s_k = _within_group_index(n_sessions)
    gaps = rng.exponential(6 * DAY, size=s_person.size)
    gaps[s_k == 0] = 0.0
    cum = np.cumsum(gaps)
    s_first = np.cumsum(n_sessions) - n_sessions
    s_time = persons.start[s_person] + cum - cum[s_first][s_person]
    keep = (s_time <= end_epoch) | (s_k == 0)
    s_person, s_time = s_person[keep], s_time[keep]
    n_sessions = np.bincount(s_person, minlength=n)
    s_k = _within_group_index(n_sessions)
    s_first = np.cumsum(n_sessions) - n_sessions
    s_count = s_person.size

    weights = np.array([c.session_weight for c in CHANNELS])
    s_channel = rng.choice(len(CHANNELS), size=s_count, p=weights / weights.sum())
    pool = persons.n_devices[s_person] + persons.borrows_device[s_person]
    pick = (rng.random(s_count) * pool).astype(np.int64)
    s_device = np.where(
        pick >= persons.n_devices[s_person], borrowed_device[s_person], device_first[s_person] + pick
    )
    login_k = (rng.random(n) * n_sessions).astype(np.int64)
    s_identified = persons.has_user_id[s_person] & (s_k >= login_k[s_person])

    # conversion: noisy-OR of the channels a person touched (the planted channel effects)
    channel_mask = np.bitwise_or.reduceat(np.left_shift(1, s_channel), s_first)
    log_keep = np.full(n, np.log1p(-BASE_CONVERSION_RATE))
    for c, ch in enumerate(CHANNELS):
        log_keep += ((channel_mask >> c) & 1) * np.log1p(-ch.conversion_lift)
    converted = rng.random(n) < (1.0 - np.exp(log_keep))
    revenue = np.round(rng.lognormal(4.3, 0.6, size=n), 2)

    fills_form = persons.has_email & (persons.is_b2b | (rng.random(n) < 0.25))
    form_k = (rng.random(n) * n_sessions).astype(np.int64)
    requests_demo = fills_form & persons.is_b2b & (rng.random(n) < 0.4)
    aliases = persons.has_user_id & (rng.random(n) < 0.10)

    sessions = pa.table({
        "session_row": np.arange(s_count),
        "person": s_person,
        "k": s_k,
        "started_at": s_time,
        "channel": s_channel,
        "device_row": s_device,
        "is_identified": s_identified,
        "utm_source_draw": rng.integers(0, 1000, size=s_count),
        "utm_medium_draw": rng.integers(0, 1000, size=s_count),
        "campaign_draw": rng.integers(0, 1000, size=s_count),
        "term_draw": rng.integers(0, 1000, size=s_count),
        "referrer_draw": rng.integers(0, 1000, size=s_count),
    })
    journeys = _Journeys(s_person, s_time, s_k, s_first, n_sessions, login_k, form_k, channel_mask, converted,
                         revenue, fills_form, requests_demo, aliases)
    return journeys, sessions


def _draw_events(rng: np.random.Generator, j: _Journeys, s_count: int, has_user_id: np.ndarray) -> pa.Table:
    """Pages and product views per session, then the one-off events at their chosen sessions."""
    n_pages = 1 + rng.poisson(1.3, size=s_count)
    e_sess = [np.repeat(np.arange(s_count), n_pages)]
    e_kind = [np.full(e_sess[0].size, PAGE)]
    e_pos = [_within_group_index(n_pages)]
    views = rng.random(s_count) < 0.30
    at_login, at_form = j.s_k == j.login_k[j.s_person], j.s_k == j.form_k[j.s_person]
    specials = [
        (np.flatnonzero(views), PRODUCT_VIEWED),
        (np.flatnonzero(at_login & has_user_id[j.s_person]), IDENTIFY),
        (np.flatnonzero(at_login & j.aliases[j.s_person]), ALIAS),
        (np.flatnonzero(at_form & j.fills_form[j.s_person]), FORM_SUBMITTED),
        (np.flatnonzero(at_form & j.requests_demo[j.s_person]), DEMO_REQUESTED),
        (np.flatnonzero((j.s_k == j.n_sessions[j.s_person] - 1) & j.converted[j.s_person]), ORDER_COMPLETED),
    ]
    for rows, kind in specials:
        e_sess.append(rows)
        e_kind.append(np.full(rows.size, kind))
        e_pos.append(np.full(rows.size, 1 + kind))
    ev_session = np.concatenate(e_sess)
    ev_pos = np.concatenate(e_pos)
    k_events = ev_session.size
    return pa.table({
        "session_row": ev_session,
        "kind": np.concatenate(e_kind),
        "pos": ev_pos,
        "occurred_at": j.s_time[ev_session] + ev_pos * rng.uniform(20, 120, size=k_events),
        "message_hi": rng.integers(0, 2**62, size=k_events),
        "message_lo": rng.integers(0, 2**62, size=k_events),
        "email_variant": rng.integers(0, 4, size=k_events),
        "phone_variant": rng.integers(0, 4, size=k_events),
        "path_draw": rng.integers(0, 1000, size=k_events),
        "junk_draw": rng.integers(0, 1000, size=k_events),
        "defect_draw": rng.integers(0, 100_000, size=k_events),
        "tz_draw": rng.integers(0, 10, size=k_events),
    })


def _draw_people_table(rng: np.random.Generator, local: np.ndarray, person_idx: np.ndarray, p: _Persons,
                       j: _Journeys) -> pa.Table:
    """One row per person: identity, firmographics, journey summary, CRM, consent and deletion draws."""
    n = local.size
    in_crm = p.is_b2b | (p.has_email & (rng.random(n) < 0.20))
    return pa.table({
        "person": local,
        "person_idx": person_idx,
        "country": p.country,
        "is_b2b": p.is_b2b,
        "has_user_id": p.has_user_id,
        "has_email": p.has_email,
        "has_phone": p.has_phone,
        "nsn": p.nsn,
        "first_name": rng.integers(0, len(FIRST_NAMES), size=n),
        "last_name": rng.integers(0, len(LAST_NAMES), size=n),
        "email_domain": rng.integers(0, len(EMAIL_DOMAINS), size=n),
        "company": rng.integers(0, len(COMPANIES), size=n),
        "job_title": rng.integers(0, len(JOB_TITLES), size=n),
        "industry": rng.integers(0, len(INDUSTRIES), size=n),
        "company_size": rng.integers(0, len(COMPANY_SIZES), size=n),
        "lead_source": rng.integers(0, len(LEAD_SOURCES), size=n),
        "first_seen_at": j.s_time[j.s_first],
        "last_seen_at": np.maximum.reduceat(j.s_time, j.s_first),
        "n_sessions": j.n_sessions,
        "channel_mask": j.channel_mask,
        "converted": j.converted,
        "revenue": j.revenue,
        "in_crm": in_crm,
        "crm_variant": rng.integers(0, 4, size=n),
        "crm_phone_variant": rng.integers(0, 4, size=n),
        "crm_duplicate": in_crm & (rng.random(n) < 0.04),
        "crm_defect_draw": rng.integers(0, 100_000, size=n),
        "consent_email": rng.random(n) < 0.60,
        "consent_email_revoked": rng.random(n) < 0.15,
        "consent_ads": rng.random(n) < 0.50,
        "consent_sms": rng.random(n) < 0.30,
        "consent_analytics": rng.random(n) < 0.75,
        "consent_delay_days": rng.uniform(0, 30, size=n),
        "deletion_request": p.has_email & (rng.random(n) < 0.002),
        "deletion_by_user_id": rng.random(n) < 0.5,
    })


def _draw_opportunities(rng: np.random.Generator, is_b2b: np.ndarray) -> pa.Table:
    """A third of B2B contacts have a deal; one snapshot row per stage the deal reached."""
    has_opp = is_b2b & (rng.random(is_b2b.size) < 0.33)
    opp_person = np.flatnonzero(has_opp)
    o = opp_person.size
    reached = rng.integers(1, 6, size=o)  # 5 = closed
    opp_row_owner = np.repeat(np.arange(o), reached)
    return pa.table({
        "opp": opp_row_owner,
        "person": opp_person[opp_row_owner],
        "stage_k": _within_group_index(reached),
        "reached": reached[opp_row_owner],
        "amount": np.round(rng.lognormal(9.5, 0.7, size=o), 2)[opp_row_owner],
        "is_won": (rng.random(o) < 0.40)[opp_row_owner],
        "created_offset_days": rng.uniform(1, 20, size=o)[opp_row_owner],
        "stage_days": rng.uniform(3, 25, size=o)[opp_row_owner],
    })
