"""Funnel, lifecycle and lead scoring against hand-computed fixtures.

Six hand-made people run through the whole pipeline (raw -> staging -> identity -> funnel marts),
each chosen so the right answer can be worked out on paper from the shipped rules
(dbt_project/seeds/lifecycle_stage_rules.csv, lead_score_rules.csv, conversion_definitions.csv;
threshold 50, half-life 30 days). The as-of moment is the latest record: an anchor page view at
2026-04-01T00:00:00Z.

    A  B2B: newsletter -> contact-sales form -> demo -> opportunity prospecting -> qualification ->
       won; a second deal is lost afterwards (a regression attempt, logged, not applied) and the
       score decays below the threshold (another one).
    B  B2C: lands from an email and orders at once (every earlier stage skipped); the order is
       sent twice with two message ids (one conversion).
    C  Fit 25 (CMO in GB), a contact-sales form, then three pricing views the next day: MQL by
       score; the score then decays below 50 (regression attempt).
    D  Asked to be deleted: in no funnel table.
    E  Subscriber through email-marketing consent only.
    F  Lands from organic search and requests a demo: MQL without lead (skipped stages).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.run import run_pipeline
from tests.conftest import Workspace

pytestmark = pytest.mark.slow(seconds=43)

HALF_LIFE = 30.0
THRESHOLD = 50.0
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
SITE = "https://shop.example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event(mid: str, ts: str, kind: str = "track", *, anon: str, user: str | None = None,
          referrer: str = SITE + "/", campaign: dict | None = None, **fields: object) -> dict:
    """A Segment message whose page context makes it a landing (external referrer or UTM) or not."""
    context: dict = {"page": {"path": fields.pop("path", "/"), "url": SITE + "/", "referrer": referrer}}
    if campaign:
        context["campaign"] = campaign
    if "email" in fields:
        context["traits"] = {"email": fields.pop("email")}
    message = {"type": kind, "messageId": mid, "timestamp": ts, "anonymousId": anon, "context": context, **fields}
    if user:
        message["userId"] = user
    return message


MESSAGES = [
    # A
    event("a-1", "2026-01-01T10:00:00Z", "page", anon="anon-a", name="/", referrer="https://www.google.com/",
          campaign={"source": "google", "medium": "cpc", "name": "spring"}),
    event("a-2", "2026-01-02T10:00:00Z", anon="anon-a", user="u-a", event="Form Submitted",
          properties={"form_id": "newsletter"}, email="a@acme.example"),
    event("a-3", "2026-01-05T10:00:00Z", anon="anon-a", user="u-a", event="Form Submitted",
          properties={"form_id": "contact_sales"}, email="a@acme.example"),
    event("a-4", "2026-01-10T10:00:00Z", anon="anon-a", user="u-a", event="Demo Requested",
          properties={"product": "cdp"}),
    # B
    event("b-1", "2026-02-01T12:00:00Z", "page", anon="anon-b", name="/", referrer="",
          campaign={"source": "newsletter", "medium": "email", "name": "weekly"}),
    event("b-2", "2026-02-01T12:05:00Z", anon="anon-b", event="Order Completed",
          properties={"order_id": "ord-b1", "revenue": 80.0, "currency": "USD"}),
    event("b-3", "2026-02-01T12:06:00Z", anon="anon-b", event="Order Completed",
          properties={"order_id": "ord-b1", "revenue": 80.0, "currency": "USD"}),
    # C
    event("c-1", "2026-03-01T00:00:00Z", "identify", anon="anon-c", user="u-c",
          traits={"email": "c@globex.example", "title": "CMO", "company": "Globex", "country": "GB"}),
    event("c-2", "2026-03-01T00:00:00Z", anon="anon-c", user="u-c", event="Form Submitted",
          properties={"form_id": "contact_sales"}),
    *[event(f"c-p{i}", "2026-03-02T00:00:00Z", "page", anon="anon-c", user="u-c", name="/pricing", path="/pricing")
      for i in range(3)],
    # D
    event("d-1", "2026-02-10T00:00:00Z", anon="anon-d", user="u-d", event="Form Submitted",
          properties={"form_id": "contact_sales"}, email="d@gone.example"),
    # E
    event("e-1", "2026-01-10T00:00:00Z", "identify", anon="anon-e", user="u-e", traits={"email": "e@x.example"}),
    # F
    event("f-1", "2026-03-15T09:00:00Z", "page", anon="anon-f", name="/", referrer="https://www.google.com/"),
    event("f-2", "2026-03-15T09:10:00Z", anon="anon-f", event="Demo Requested", properties={"product": "cdp"}),
    # the as-of anchor
    event("z-1", "2026-04-01T00:00:00Z", "page", anon="anon-anchor", name="/"),
]

CONTACTS = (
    "contact_id,email,phone,first_name,last_name,company,job_title,industry,company_size,country,lead_source,"
    "created_at,updated_at\n"
    "C-A,a@acme.example,,Ada,A,Acme Corp,Marketing Manager,Software,20,US,web_form,"
    "2026-01-06T10:00:00Z,2026-01-06T10:00:00Z\n"
)
OPPORTUNITIES = (
    "opportunity_id,contact_id,amount,currency,stage,created_at,closed_at,is_won,updated_at\n"
    "O-A1,C-A,1000,USD,prospecting,2026-01-20T10:00:00Z,,false,2026-01-20T10:00:00Z\n"
    "O-A1,C-A,1000,USD,qualification,2026-01-20T10:00:00Z,,false,2026-02-01T10:00:00Z\n"
    "O-A1,C-A,1000,USD,closed_won,2026-01-20T10:00:00Z,2026-02-20T10:00:00Z,true,2026-02-20T10:00:00Z\n"
    "O-A2,C-A,500,EUR,prospecting,2026-03-01T10:00:00Z,,false,2026-03-01T10:00:00Z\n"
    "O-A2,C-A,500,EUR,closed_lost,2026-03-01T10:00:00Z,2026-03-10T10:00:00Z,false,2026-03-10T10:00:00Z\n"
)
CONSENT = ("identifier_type,identifier,purpose,status,recorded_at,source\n"
           "email,e@x.example,email_marketing,granted,2026-01-15T00:00:00Z,preference_center\n")
DELETIONS = "request_id,identifier_type,identifier,requested_at\nDR-1,user_id,u-d,2026-03-20T00:00:00Z\n"


def decay(days: float) -> float:
    return 0.5 ** (days / HALF_LIFE)


def days(start: str, end: datetime | str) -> float:
    finish = end if isinstance(end, datetime) else at(end)
    return (finish - at(start)).total_seconds() / 86400


def write_landing(landing: Path) -> None:
    for folder in ("events", "crm_contacts", "crm_opportunities", "consent", "deletion_requests"):
        (landing / folder).mkdir(exist_ok=True)
    (landing / "events" / "funnel.ndjson").write_text("".join(json.dumps(m) + "\n" for m in MESSAGES))
    (landing / "crm_contacts" / "contacts.csv").write_text(CONTACTS)
    (landing / "crm_opportunities" / "opportunities.csv").write_text(OPPORTUNITIES)
    (landing / "consent" / "consent.csv").write_text(CONSENT)
    (landing / "deletion_requests" / "deletions.csv").write_text(DELETIONS)


@pytest.fixture(scope="module")
def funnel(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    monkeypatch = pytest.MonkeyPatch()
    from tests.conftest import make_workspace
    root = tmp_path_factory.mktemp("funnel")
    landing = root / "landing"
    landing.mkdir()
    write_landing(landing)
    ws = make_workspace(root, landing, monkeypatch)
    assert run_pipeline() is True
    yield ws
    monkeypatch.undo()


def profile_of(ws: Workspace, user_or_anon: str) -> str:
    kind = "user_id" if user_or_anon.startswith("u-") else "anonymous_id"
    rows = ws.query("select profile_id from ops.identity_profile_registry where node_key = ?",
                    [f"{kind}:{user_or_anon}"])
    assert rows, user_or_anon
    return rows[0][0]


def history(ws: Workspace, profile: str) -> list[tuple]:
    return ws.query("""
        select stage, entered_at, was_skipped, entry_rule_id, is_current_stage, days_in_stage
        from marts.lifecycle_stage_history where profile_id = ? order by stage_order""", [profile])


def test_stage_rules_forward_only_and_skips(funnel: Workspace) -> None:
    ws = funnel
    a, b, c, e, f = (profile_of(ws, k) for k in ("u-a", "anon-b", "u-c", "u-e", "anon-f"))
    as_of_days = days("2026-02-20T10:00:00Z", AS_OF)
    assert history(ws, a) == [
        ("subscriber", at("2026-01-02T10:00:00Z"), False, "newsletter_signup", False, pytest.approx(3)),
        ("lead", at("2026-01-05T10:00:00Z"), False, "contact_sales_form", False, pytest.approx(5)),
        ("mql", at("2026-01-10T10:00:00Z"), False, "demo_request", False, pytest.approx(10)),
        ("sql", at("2026-01-20T10:00:00Z"), False, "opportunity_prospecting", False, pytest.approx(12)),
        ("opportunity", at("2026-02-01T10:00:00Z"), False, "opportunity_qualified", False, pytest.approx(19)),
        ("customer", at("2026-02-20T10:00:00Z"), False, "opportunity_won", True, pytest.approx(as_of_days)),
    ]
    # B ordered at once: every earlier stage skipped at the moment of the order
    order_at = at("2026-02-01T12:05:00Z")
    assert history(ws, b) == [(s, order_at, True, "order_completed", False, 0) for s in
                              ("subscriber", "lead", "mql", "sql", "opportunity")] + [
        ("customer", order_at, False, "order_completed", True, pytest.approx(days("2026-02-01T12:05:00Z", AS_OF)))]
    assert [(s, r, skipped) for s, _, skipped, r, _, _ in history(ws, c)] == [
        ("subscriber", "contact_sales_form", True), ("lead", "contact_sales_form", False),
        ("mql", "score_threshold", False)]
    assert history(ws, e) == [("subscriber", at("2026-01-15T00:00:00Z"), False, "email_consent", True,
                               pytest.approx(days("2026-01-15T00:00:00Z", AS_OF)))]
    assert [(s, skipped) for s, _, skipped, *_ in history(ws, f)] == [
        ("subscriber", True), ("lead", True), ("mql", False)]

    # forward-only: the lost deal and the decayed scores are logged, never applied
    a_drop = at("2026-01-10T10:00:00Z") + drop_after(a_engagement_at_demo(), fit=25)
    c_drop = at("2026-03-02T00:00:00Z") + drop_after(c_engagement_after_pricing(), fit=25)
    attempts = ws.query("""select profile_id, attempted_at, attempted_stage, stage_at_the_time, rule_id, outcome
                           from marts.lifecycle_regression_attempts order by attempted_at""")
    assert [(p, s, then, r, o) for p, _, s, then, r, o in attempts] == [
        (a, "lead", "opportunity", "score_decayed", "not_applied"),
        (c, "lead", "mql", "score_decayed", "not_applied"),
        (a, "lead", "customer", "opportunity_lost", "not_applied"),
    ]
    assert abs((attempts[0][1] - a_drop).total_seconds()) <= 1
    assert abs((attempts[1][1] - c_drop).total_seconds()) <= 1
    assert attempts[2][1] == at("2026-03-10T10:00:00Z")
    stages = dict(ws.query("select profile_id, lifecycle_stage from marts.dim_profiles"))
    assert [stages[p] for p in (a, b, c, e, f)] == ["customer", "customer", "mql", "subscriber", "mql"]
    assert stages[profile_of(ws, "anon-anchor")] is None
    # the deleted person is erased: out of the identity registry and every funnel mart, verified in the ledger
    gone = ws.query("select count(*) from ops.identity_profile_registry where node_key = 'user_id:u-d'")[0][0]
    assert gone == 0
    erased = [p for (p,) in ws.query("select profile_id from ops.erased_profiles")]
    assert len(erased) == 1
    d = erased[0]
    for table in ("fct_funnel_profiles", "lifecycle_stage_history", "fct_conversions", "lead_scores", "dim_profiles"):
        assert ws.query(f"select count(*) from marts.{table} where profile_id = ?", [d])[0][0] == 0, table
    assert ws.query("select count(*) from ops.deletion_ledger where profile_id = ? and step = 'verified'", [d]) == [
        (1,)]


def drop_after(engagement: float, fit: float) -> timedelta:
    """How long a score of fit + engagement takes to decay to the threshold."""
    return timedelta(days=HALF_LIFE * math.log2(engagement / (THRESHOLD - fit)))


def a_engagement_at_demo() -> float:
    """A's decayed engagement right after the demo request (newsletter 3, contact-sales 15, demo 30)."""
    return (3 * decay(days("2026-01-02T10:00:00Z", "2026-01-10T10:00:00Z"))
            + 15 * decay(days("2026-01-05T10:00:00Z", "2026-01-10T10:00:00Z")) + 30)


def c_engagement_after_pricing() -> float:
    """C's engagement right after three pricing views a day after the contact-sales form."""
    return 15 * decay(1) + 3 * 5


def test_scores_decay_and_breakdown_sums(funnel: Workspace) -> None:
    ws = funnel
    a, c, f = (profile_of(ws, k) for k in ("u-a", "u-c", "anon-f"))
    breakdown = {(p, r): (pts, occ) for p, r, pts, occ in ws.query(
        "select profile_id, rule_id, points, occurrences from marts.lead_score_breakdown")}
    # C: CMO (20) in GB (5); contact-sales form 31 days and three pricing views 30 days before as-of
    assert breakdown[(c, "title_executive")] == (20, 1)
    assert breakdown[(c, "country_core")] == (5, 1)
    assert float(breakdown[(c, "form_contact_sales")][0]) == round(15 * decay(31), 2)
    assert breakdown[(c, "pricing_page")] == (pytest.approx(7.5), 3)
    # A: Marketing Manager (10), Software (10), US (5); 20 employees match no size rule
    assert {r for p, r in breakdown if p == a} == {
        "title_marketing_data", "industry_target", "country_core",
        "form_newsletter", "form_contact_sales", "demo_request"}
    expected_a = 25 + sum(round(points * decay(days(ts, AS_OF)), 2) for points, ts in (
        (3, "2026-01-02T10:00:00Z"), (15, "2026-01-05T10:00:00Z"), (30, "2026-01-10T10:00:00Z")))
    scores = {p: (float(s), fit, eng, above, first) for p, s, fit, eng, above, first in ws.query(
        "select profile_id, lead_score, fit_score, engagement_score, is_above_mql_threshold, "
        "first_reached_threshold_at from marts.lead_scores")}
    assert scores[a][0] == pytest.approx(expected_a, abs=1e-9)
    assert scores[a][3] is False and scores[a][4] == at("2026-01-10T10:00:00Z")
    assert scores[c][0] == pytest.approx(25 + round(15 * decay(31), 2) + 7.5, abs=1e-9)
    assert scores[c][4] == at("2026-03-02T00:00:00Z")
    assert scores[f][0] == pytest.approx(round(30 * decay(days("2026-03-15T09:10:00Z", AS_OF)), 2), abs=1e-9)
    assert scores[f][4] is None  # 30 points never reach 50
    # every score is its breakdown, to the cent
    mismatched = ws.query("""
        select s.profile_id from marts.lead_scores as s
        join (select profile_id, sum(points) as total from marts.lead_score_breakdown group by 1) as b
          using (profile_id)
        where b.total <> s.lead_score or s.lead_score <> s.fit_score + s.engagement_score""")
    assert mismatched == []
    # history: C's score right after each step, with decay in between
    c_history = ws.query("""select scored_at, lead_score, crosses_threshold from marts.lead_score_history
                            where profile_id = ? order by scored_at""", [c])
    assert c_history == [
        (at("2026-03-01T00:00:00Z"), pytest.approx(40.0), False),
        (at("2026-03-02T00:00:00Z"), pytest.approx(25 + c_engagement_after_pricing()), True),
    ]
    dim = dict(ws.query("select profile_id, lead_score from marts.dim_profiles"))
    assert float(dim[c]) == pytest.approx(scores[c][0])


def test_conversions_and_funnel_metrics(funnel: Workspace) -> None:
    ws = funnel
    a, b, f = (profile_of(ws, k) for k in ("u-a", "anon-b", "anon-f"))
    conversions = sorted(ws.query("""
        select profile_id, conversion_name, source_key, conversion_value, currency, conversion_value_reporting,
               is_first_of_profile
        from marts.fct_conversions"""), key=lambda r: (r[1], r[2]))
    assert conversions == sorted([
        (a, "closed_won", "O-A1", 1000, "USD", 1000, True),
        (a, "demo_requested", "a-4", 0, "USD", 0, True),
        (f, "demo_requested", "f-2", 0, "USD", 0, True),
        (a, "opportunity_created", "O-A1", 1000, "USD", 1000, True),
        (a, "opportunity_created", "O-A2", 500, "EUR", 540, False),
        (b, "order_completed", "b-2", 80, "USD", 80, True),
    ], key=lambda r: (r[1], r[2]))

    pairs = ws.query("""
        select from_stage, to_stage, people_reached_from, people_reached_to, conversion_rate,
               median_days_between, mean_days_between
        from marts.funnel_stage_conversion where grain = 'all' order by from_stage_order""")
    assert pairs == [
        ("subscriber", "lead", 5, 4, pytest.approx(0.8), pytest.approx(0), pytest.approx(3 / 4)),
        ("lead", "mql", 4, 4, pytest.approx(1.0), pytest.approx(0.5), pytest.approx((5 + 0 + 1 + 0) / 4)),
        ("mql", "sql", 4, 2, pytest.approx(0.5), pytest.approx(5), pytest.approx(5)),
        ("sql", "opportunity", 2, 2, pytest.approx(1.0), pytest.approx(12 / 2), pytest.approx(6)),
        ("opportunity", "customer", 2, 2, pytest.approx(1.0), pytest.approx(19 / 2), pytest.approx(9.5)),
    ]
    by_channel = {(ch, s): n for ch, s, n in ws.query("""
        select first_touch_channel, from_stage, people_reached_from from marts.funnel_stage_conversion
        where grain = 'channel'""")}
    assert by_channel[("paid_search", "subscriber")] == 1 and by_channel[("email", "opportunity")] == 1
    assert by_channel[("organic_search", "lead")] == 1 and by_channel[("(none)", "subscriber")] == 2
    cohorts = {(m.isoformat(), ch, camp): n for m, ch, camp, n in ws.query("""
        select cohort_month, first_touch_channel, first_touch_campaign, people_reached_from
        from marts.funnel_stage_conversion
        where grain = 'cohort_month_channel_campaign' and from_stage = 'subscriber'""")}
    assert cohorts == {("2026-01-01", "paid_search", "spring"): 1, ("2026-02-01", "email", "weekly"): 1,
                       ("2026-03-01", "(none)", "(none)"): 1, ("2026-01-01", "(none)", "(none)"): 1,
                       ("2026-03-01", "organic_search", "(none)"): 1}

    velocity = ws.query("select month, qualified_leads, lead_velocity_rate from marts.funnel_lead_velocity order by 1")
    assert [(m.isoformat(), n, r) for m, n, r in velocity] == [
        ("2026-01-01", 1, None), ("2026-02-01", 1, pytest.approx(0.0)), ("2026-03-01", 2, pytest.approx(1.0))]

    opportunities = {o: rest for o, *rest in ws.query("""
        select opportunity_id, sales_cycle_days, is_marketing_sourced, is_marketing_influenced, first_touch_channel,
               amount_reporting
        from marts.fct_opportunities""")}
    assert opportunities == {"O-A1": [pytest.approx(31), True, True, "paid_search", 1000],
                             "O-A2": [pytest.approx(9), True, True, "paid_search", 540]}
    performance = ws.query("""
        select opportunities_created, pipeline_amount, marketing_sourced_pipeline, won_opportunities,
               lost_opportunities, win_rate, average_deal_size, average_sales_cycle_days, pipeline_velocity_per_day
        from marts.funnel_pipeline_performance where grain = 'all'""")
    assert performance == [(2, 1540, 1540, 1, 1, pytest.approx(0.5), pytest.approx(1000), pytest.approx(31),
                            pytest.approx(2 * 1000 * 0.5 / 31))]
    accounts = {k: rest for k, *rest in ws.query("""
        select account_key, people, people_reached_customer, furthest_stage, opportunities, pipeline_amount, won_amount
        from marts.funnel_accounts""")}
    assert accounts == {"acme corp": [1, 1, "customer", 2, 1540, 1000], "globex": [1, 0, "mql", 0, 0, 0]}


def test_a_reopened_deal_moves_nobody_back_in_the_next_run(funnel: Workspace) -> None:
    """Runs last (it lands a file): the CRM reopens A's won deal; A stays a customer, the won
    milestone and its conversion stay, and the opportunity itself shows its new state."""
    ws = funnel
    a = profile_of(ws, "u-a")
    (ws.landing / "crm_opportunities" / "reopened.csv").write_text(
        "opportunity_id,contact_id,amount,currency,stage,created_at,closed_at,is_won,updated_at\n"
        "O-A1,C-A,1200,USD,negotiation,2026-01-20T10:00:00Z,,false,2026-03-20T10:00:00Z\n")
    # the loaders and the funnel models (the fixture ran the full graph)
    assert run_pipeline(select="*marts/fct_opportunities,*marts/lifecycle_stage_history,*marts/fct_conversions") is True
    assert ws.query("select stage, is_won from marts.fct_opportunities where opportunity_id = 'O-A1'") == [
        ("negotiation", False)]
    assert [(s, r) for s, _, _, r, current, _ in history(ws, a) if current] == [("customer", "opportunity_won")]
    won = ws.query("select converted_at, conversion_value from marts.fct_conversions "
                   "where conversion_name = 'closed_won'")
    assert won == [(at("2026-02-20T10:00:00Z"), 1000)]
    created = ws.query("select conversion_value from marts.fct_conversions where source_key = 'O-A1' "
                       "and conversion_name = 'opportunity_created'")
    assert created == [(1200,)]
