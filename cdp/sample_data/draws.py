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


def draw_chunk(
    rng: np.random.Generator, first_person: int, n: int, end_epoch: float, span_days: int
) -> ChunkDraws:
    local = np.arange(n)
    person_idx = first_person + local
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

    # devices
    m = int(n_devices.sum())
    device_owner = np.repeat(local, n_devices)
    device_first = np.cumsum(n_devices) - n_devices
    devices = pa.table({
        "device_row": np.arange(m),
        "owner": device_owner,
        "device_hi": rng.integers(0, 2**62, size=m),
        "anon_hi": rng.integers(0, 2**62, size=m),
        "is_app": rng.random(m) < 0.20,
    })
    borrowed_device = rng.integers(0, m, size=n)

    # sessions
    n_sessions = 1 + rng.poisson(2.0, size=n)
    s_person = np.repeat(local, n_sessions)
    s_k = _within_group_index(n_sessions)
    gaps = rng.exponential(6 * DAY, size=s_person.size)
    gaps[s_k == 0] = 0.0
    cum = np.cumsum(gaps)
    s_first = np.cumsum(n_sessions) - n_sessions
    s_time = start[s_person] + cum - cum[s_first][s_person]
    keep = (s_time <= end_epoch) | (s_k == 0)
    s_person, s_time = s_person[keep], s_time[keep]
    n_sessions = np.bincount(s_person, minlength=n)
    s_k = _within_group_index(n_sessions)
    s_first = np.cumsum(n_sessions) - n_sessions
    s_count = s_person.size

    weights = np.array([c.session_weight for c in CHANNELS])
    s_channel = rng.choice(len(CHANNELS), size=s_count, p=weights / weights.sum())
    pool = n_devices[s_person] + borrows_device[s_person]
    pick = (rng.random(s_count) * pool).astype(np.int64)
    s_device = np.where(
        pick >= n_devices[s_person], borrowed_device[s_person], device_first[s_person] + pick
    )
    login_k = (rng.random(n) * n_sessions).astype(np.int64)
    s_identified = has_user_id[s_person] & (s_k >= login_k[s_person])

    # conversion: noisy-OR of the channels a person touched (the planted channel effects)
    channel_mask = np.bitwise_or.reduceat(np.left_shift(1, s_channel), s_first)
    log_keep = np.full(n, np.log1p(-BASE_CONVERSION_RATE))
    for c, ch in enumerate(CHANNELS):
        log_keep += ((channel_mask >> c) & 1) * np.log1p(-ch.conversion_lift)
    converted = rng.random(n) < (1.0 - np.exp(log_keep))
    revenue = np.round(rng.lognormal(4.3, 0.6, size=n), 2)

    fills_form = has_email & (is_b2b | (rng.random(n) < 0.25))
    form_k = (rng.random(n) * n_sessions).astype(np.int64)
    requests_demo = fills_form & is_b2b & (rng.random(n) < 0.4)
    aliases = has_user_id & (rng.random(n) < 0.10)

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

    # events: pages and product views per session, then one-off events at chosen sessions
    n_pages = 1 + rng.poisson(1.3, size=s_count)
    e_sess = [np.repeat(np.arange(s_count), n_pages)]
    e_kind = [np.full(e_sess[0].size, PAGE)]
    e_pos = [_within_group_index(n_pages)]
    views = rng.random(s_count) < 0.30
    specials = [
        (np.flatnonzero(views), PRODUCT_VIEWED),
        (np.flatnonzero((s_k == login_k[s_person]) & has_user_id[s_person]), IDENTIFY),
        (np.flatnonzero((s_k == login_k[s_person]) & aliases[s_person]), ALIAS),
        (np.flatnonzero((s_k == form_k[s_person]) & fills_form[s_person]), FORM_SUBMITTED),
        (np.flatnonzero((s_k == form_k[s_person]) & requests_demo[s_person]), DEMO_REQUESTED),
        (np.flatnonzero((s_k == n_sessions[s_person] - 1) & converted[s_person]), ORDER_COMPLETED),
    ]
    for rows, kind in specials:
        e_sess.append(rows)
        e_kind.append(np.full(rows.size, kind))
        e_pos.append(np.full(rows.size, 1 + kind))
    ev_session = np.concatenate(e_sess)
    ev_kind = np.concatenate(e_kind)
    ev_pos = np.concatenate(e_pos)
    k_events = ev_session.size
    ev_time = s_time[ev_session] + ev_pos * rng.uniform(20, 120, size=k_events)
    events = pa.table({
        "session_row": ev_session,
        "kind": ev_kind,
        "pos": ev_pos,
        "occurred_at": ev_time,
        "message_hi": rng.integers(0, 2**62, size=k_events),
        "message_lo": rng.integers(0, 2**62, size=k_events),
        "email_variant": rng.integers(0, 4, size=k_events),
        "phone_variant": rng.integers(0, 4, size=k_events),
        "path_draw": rng.integers(0, 1000, size=k_events),
        "junk_draw": rng.integers(0, 1000, size=k_events),
        "defect_draw": rng.integers(0, 100_000, size=k_events),
        "tz_draw": rng.integers(0, 10, size=k_events),
    })

    in_crm = is_b2b | (has_email & (rng.random(n) < 0.20))
    people = pa.table({
        "person": local,
        "person_idx": person_idx,
        "country": country,
        "is_b2b": is_b2b,
        "has_user_id": has_user_id,
        "has_email": has_email,
        "has_phone": has_phone,
        "nsn": nsn,
        "first_name": rng.integers(0, len(FIRST_NAMES), size=n),
        "last_name": rng.integers(0, len(LAST_NAMES), size=n),
        "email_domain": rng.integers(0, len(EMAIL_DOMAINS), size=n),
        "company": rng.integers(0, len(COMPANIES), size=n),
        "job_title": rng.integers(0, len(JOB_TITLES), size=n),
        "industry": rng.integers(0, len(INDUSTRIES), size=n),
        "company_size": rng.integers(0, len(COMPANY_SIZES), size=n),
        "lead_source": rng.integers(0, len(LEAD_SOURCES), size=n),
        "first_seen_at": s_time[s_first],
        "last_seen_at": np.maximum.reduceat(s_time, s_first),
        "n_sessions": n_sessions,
        "channel_mask": channel_mask,
        "converted": converted,
        "revenue": revenue,
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
        "deletion_request": has_email & (rng.random(n) < 0.002),
        "deletion_by_user_id": rng.random(n) < 0.5,
    })

    # opportunities: a third of B2B contacts; one snapshot row per stage the deal reached
    has_opp = is_b2b & (rng.random(n) < 0.33)
    opp_person = np.flatnonzero(has_opp)
    o = opp_person.size
    reached = rng.integers(1, 6, size=o)  # 5 = closed
    rows_per_opp = reached
    opp_row_owner = np.repeat(np.arange(o), rows_per_opp)
    opportunities = pa.table({
        "opp": opp_row_owner,
        "person": opp_person[opp_row_owner],
        "stage_k": _within_group_index(rows_per_opp),
        "reached": reached[opp_row_owner],
        "amount": np.round(rng.lognormal(9.5, 0.7, size=o), 2)[opp_row_owner],
        "is_won": (rng.random(o) < 0.40)[opp_row_owner],
        "created_offset_days": rng.uniform(1, 20, size=o)[opp_row_owner],
        "stage_days": rng.uniform(3, 25, size=o)[opp_row_owner],
    })
    return ChunkDraws(people, devices, sessions, events, opportunities)
