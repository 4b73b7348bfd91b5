"""Rule-based attribution against hand-computed journeys, through the whole pipeline.

    J1  one touch (paid search), then an order of 100.00;
    J2  two touches (email, then a direct visit two days later), then an order of 100.00;
    J3  four touches, the last two at the same second (ties go by message_id), order of 100.00;
    J4  an order of 50.00 whose only touch is older than the 90-day lookback: unattributed;
    J5  B2B: display, email (then the lead form), webinar (then the opportunity), paid search, direct;
        the deal is won at 1,000.00: W-shaped and full-path milestones.

Shipped settings: lookback 90 days, direct counts, time-decay half-life 7 days, custom weights
first 0.3 / middle 0.3 / last 0.4. Values are in cents-exact rounding: touch k gets
round(V x cumulative share to k) - round(V x cumulative share to k-1).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.run import run_pipeline
from tests.conftest import Workspace, make_workspace

pytestmark = pytest.mark.slow(seconds=47)

SITE = "https://shop.example.com"
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "u_shaped", "position_50_50",
          "w_shaped", "full_path", "j_shaped", "inverse_j", "custom")


def landing(mid: str, ts: str, anon: str, *, user: str | None = None, referrer: str = "",
            utm: tuple[str, str, str] | None = None) -> dict:
    context: dict = {"page": {"path": "/", "url": SITE + "/", "referrer": referrer}}
    if utm:
        context["campaign"] = {"source": utm[0], "medium": utm[1], "name": utm[2]}
    message = {"type": "page", "messageId": mid, "timestamp": ts, "anonymousId": anon, "name": "/",
               "context": context}
    if user:
        message["userId"] = user
    return message


def track(mid: str, ts: str, anon: str, name: str, properties: dict, *, user: str | None = None,
          email: str | None = None) -> dict:
    context: dict = {"page": {"path": "/", "url": SITE + "/", "referrer": SITE + "/"}}
    if email:
        context["traits"] = {"email": email}
    message = {"type": "track", "messageId": mid, "timestamp": ts, "anonymousId": anon, "event": name,
               "properties": properties, "context": context}
    if user:
        message["userId"] = user
    return message


def order(mid: str, ts: str, anon: str, revenue: float) -> dict:
    return track(mid, ts, anon, "Order Completed", {"order_id": "ord-" + mid, "revenue": revenue, "currency": "USD"})


MESSAGES = [
    landing("j1-t1", "2026-02-01T10:00:00Z", "anon-j1", utm=("google", "cpc", "c1")),
    order("j1-o", "2026-02-01T10:30:00Z", "anon-j1", 100.0),
    landing("j2-t1", "2026-02-01T10:00:00Z", "anon-j2", utm=("newsletter", "email", "c2")),
    landing("j2-t2", "2026-02-03T10:00:00Z", "anon-j2"),
    order("j2-o", "2026-02-03T10:10:00Z", "anon-j2", 100.0),
    landing("j3-t1", "2026-03-01T10:00:00Z", "anon-j3", referrer="https://www.google.com/"),
    landing("j3-t2", "2026-03-02T10:00:00Z", "anon-j3", utm=("facebook", "paid_social", "c3")),
    landing("j3-t3a", "2026-03-03T10:00:00Z", "anon-j3", utm=("newsletter", "email", "c3")),
    landing("j3-t3b", "2026-03-03T10:00:00Z", "anon-j3", referrer="https://blog.example-partner.org/post"),
    order("j3-o", "2026-03-04T10:00:00Z", "anon-j3", 100.0),
    landing("j4-t1", "2025-11-01T10:00:00Z", "anon-j4", utm=("google", "cpc", "c4")),
    order("j4-o", "2026-03-01T10:00:00Z", "anon-j4", 50.0),
    landing("j5-t1", "2026-01-01T10:00:00Z", "anon-j5", user="u-j5", utm=("gdn", "display", "c5")),
    landing("j5-t2", "2026-01-06T10:00:00Z", "anon-j5", user="u-j5", utm=("newsletter", "email", "c5")),
    track("j5-f", "2026-01-07T10:00:00Z", "anon-j5", "Form Submitted", {"form_id": "contact_sales"},
          user="u-j5", email="j5@corp.example"),
    landing("j5-t3", "2026-01-11T10:00:00Z", "anon-j5", user="u-j5", utm=("zoom", "webinar", "c5")),
    landing("j5-t4", "2026-01-21T10:00:00Z", "anon-j5", user="u-j5", utm=("google", "cpc", "c5")),
    landing("j5-t5", "2026-01-26T10:00:00Z", "anon-j5", user="u-j5"),
]
CONTACTS = ("contact_id,email,company,job_title,country,lead_source,created_at,updated_at\n"
            "C-J5,j5@corp.example,Corp Five,Analyst,US,web_form,2026-01-07T12:00:00Z,2026-01-07T12:00:00Z\n")
OPPORTUNITIES = ("opportunity_id,contact_id,amount,currency,stage,created_at,closed_at,is_won,updated_at\n"
                 "O-J5,C-J5,1000,USD,prospecting,2026-01-12T10:00:00Z,,false,2026-01-12T10:00:00Z\n"
                 "O-J5,C-J5,1000,USD,closed_won,2026-01-12T10:00:00Z,2026-02-01T10:00:00Z,true,"
                 "2026-02-01T10:00:00Z\n")

SPEND = ("date,channel,source,medium,campaign,spend,currency,impressions,clicks\n"
         "2026-02-01,paid_search,google,cpc,c1,30.00,USD,1000,40\n"
         "2026-02-15,paid_search,google,cpc,c1,20.00,USD,800,30\n")


def cents_exact(value: float, shares: list[float]) -> list[float]:
    """The documented rounding: cumulative shares rounded to the cent, differenced."""
    cents, out, cumulative, previous = round(value * 100), [], 0.0, 0
    for share in shares:
        cumulative += share
        now = round(cents * cumulative)
        out.append((now - previous) / 100)
        previous = now
    return out


def normalised(weights: list[float]) -> list[float]:
    return [w / sum(weights) for w in weights]


def decay(days_before: list[float]) -> list[float]:
    return normalised([0.5 ** (d / 7) for d in days_before])


@pytest.fixture(scope="module")
def attribution(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("attribution")
    land = root / "landing"
    for folder in ("events", "crm_contacts", "crm_opportunities", "ad_spend"):
        (land / folder).mkdir(parents=True)
    (land / "events" / "journeys.ndjson").write_text("".join(json.dumps(m) + "\n" for m in MESSAGES))
    (land / "crm_contacts" / "contacts.csv").write_text(CONTACTS)
    (land / "crm_opportunities" / "opportunities.csv").write_text(OPPORTUNITIES)
    (land / "ad_spend" / "spend.csv").write_text(SPEND)
    ws = make_workspace(root, land, monkeypatch)
    assert run_pipeline() is True
    yield ws
    monkeypatch.undo()


def credits(ws: Workspace, journey: str) -> dict[str, list[tuple]]:
    """model -> [(first message id of the journey's touches in order or channel, share, value)]."""
    columns = ", ".join(f"{m}_share, {m}_value" for m in MODELS)
    rows = ws.query(f"""
        select coalesce(c.message_id, c.channel), {columns}
        from marts.attribution_credits as c
        inner join marts.fct_conversions as v using (conversion_id)
        where v.source_key = ? order by c.touch_position""", [journey])
    return {m: [(r[0], float(r[1 + 2 * i]), float(r[2 + 2 * i])) for r in rows] for i, m in enumerate(MODELS)}


def values(result: dict[str, list[tuple]], model: str) -> list[float]:
    return [v for _, _, v in result[model]]


def test_single_and_two_touch_journeys(attribution: Workspace) -> None:
    one = credits(attribution, "j1-o")
    for model in MODELS:
        assert one[model] == [("j1-t1", pytest.approx(1.0), 100.0)], model
    two = credits(attribution, "j2-o")
    assert [m for m, _, _ in two["linear"]] == ["j2-t1", "j2-t2"]
    expected = {
        "first_touch": [100.0, 0.0], "last_touch": [0.0, 100.0], "last_non_direct": [100.0, 0.0],
        "linear": [50.0, 50.0], "u_shaped": [50.0, 50.0], "position_50_50": [50.0, 50.0],
        "j_shaped": [25.0, 75.0], "inverse_j": [75.0, 25.0], "custom": cents_exact(100, normalised([0.3, 0.4])),
        # the buyer passed over the lead stage at the order, so the lead-created touch is the last one
        "w_shaped": [50.0, 50.0], "full_path": [50.0, 50.0],
        "time_decay": cents_exact(100, decay([2 + 10 / 1440, 10 / 1440])),
    }
    for model, want in expected.items():
        assert values(two, model) == pytest.approx(want), model


def test_ties_in_time_and_position_models(attribution: Workspace) -> None:
    four = credits(attribution, "j3-o")
    assert [m for m, _, _ in four["linear"]] == ["j3-t1", "j3-t2", "j3-t3a", "j3-t3b"]
    expected = {
        "first_touch": [100, 0, 0, 0], "last_touch": [0, 0, 0, 100], "last_non_direct": [0, 0, 0, 100],
        "linear": [25, 25, 25, 25], "u_shaped": [40, 10, 10, 40], "position_50_50": [50, 0, 0, 50],
        "j_shaped": [20, 10, 10, 60], "inverse_j": [60, 10, 10, 20], "custom": [30, 15, 15, 40],
        "w_shaped": cents_exact(100, normalised([0.3, 0.05, 0.05, 0.3])),
        "full_path": cents_exact(100, normalised([0.225, 0.05, 0.05, 0.225])),
        "time_decay": cents_exact(100, decay([3, 2, 1, 1])),
    }
    for model, want in expected.items():
        assert values(four, model) == pytest.approx(want), model
    shares = {m: [s for _, s, _ in four[m]] for m in MODELS}
    assert shares["time_decay"][2] == pytest.approx(shares["time_decay"][3])  # same second, same weight


def test_unattributed_and_milestone_models(attribution: Workspace) -> None:
    old = credits(attribution, "j4-o")
    for model in MODELS:
        assert old[model] == [("unattributed", pytest.approx(1.0), 50.0)], model
    deal = credits(attribution, "O-J5")
    assert [m for m, _, _ in deal["linear"]] == ["j5-t1", "j5-t2", "j5-t3", "j5-t4", "j5-t5"]
    assert values(deal, "w_shaped") == pytest.approx([300, 300, 300, 50, 50])
    assert values(deal, "full_path") == pytest.approx([225, 225, 225, 100, 225])
    assert values(deal, "last_non_direct") == pytest.approx([0, 0, 0, 1000, 0])
    assert values(deal, "u_shaped") == pytest.approx([400, 66.67, 66.66, 66.67, 400])
    flags = attribution.query("""select message_id, is_lead_created_touch, is_opportunity_created_touch
                                 from marts.fct_attribution_touches where message_id like 'j5-%' order by 1""")
    assert flags == [("j5-t1", False, False), ("j5-t2", True, False), ("j5-t3", False, True),
                     ("j5-t4", False, False), ("j5-t5", False, False)]
    # side by side: every model credits all attributed value, unattributed included
    totals = attribution.query("""select model, sum(credited_value) from marts.attribution_model_comparison
                                  where grain = 'channel' group by model""")
    assert {m for m, _ in totals} == {*MODELS, "markov", "shapley"}
    assert all(float(t) == pytest.approx(1350.0) for _, t in totals)
    unattributed = attribution.query("""select distinct credited_value from marts.attribution_model_comparison
                                        where channel = 'unattributed'""")
    assert unattributed == [(50,)]




def dense_removal_effects(paths: list[tuple[str, list[str], bool, float]]
                          ) -> tuple[float, dict[str, float], dict[str, float]]:
    """Independent check: the full transition matrix over start, channels, conversion and null,
    absorbing probabilities from the fundamental matrix (I - Q)^-1; removing a channel moves every
    probability of entering it to null. The value chain (ChannelAttribution's definition) rewards
    absorption in conversion from state s with the mean value of the conversions whose journey
    ended in s. Returns P(conversion), removal effects and value removal effects."""
    import numpy as np

    channels = sorted({c for _, steps, _, _ in paths for c in steps})
    states = ["start", *channels, "conversion", "null"]
    at = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states)))
    value_sum = np.zeros(len(states))
    for _, steps, converted, value in paths:
        sequence = ["start", *steps, "conversion" if converted else "null"]
        for origin, target in itertools.pairwise(sequence):
            counts[at[origin], at[target]] += 1
        if converted:
            value_sum[at[steps[-1]]] += value
    probabilities = np.zeros_like(counts)
    rows = counts.sum(axis=1)
    probabilities[rows > 0] = counts[rows > 0] / rows[rows > 0][:, None]
    into_conversion = counts[:, at["conversion"]]
    mean_value = np.divide(value_sum, into_conversion, out=np.zeros_like(value_sum), where=into_conversion > 0)
    transient = [at["start"]] + [at[c] for c in channels]

    def absorbed(matrix: np.ndarray) -> tuple[float, float]:
        q = matrix[np.ix_(transient, transient)]
        r = matrix[transient, at["conversion"]]
        fundamental = np.linalg.inv(np.eye(len(transient)) - q)
        return float((fundamental @ r)[0]), float((fundamental @ (r * mean_value[transient]))[0])

    base, base_value = absorbed(probabilities)
    effects, value_effects = {}, {}
    for c in channels:
        removed = probabilities.copy()
        removed[:, at["null"]] += removed[:, at[c]]
        removed[:, at[c]] = 0.0
        p, v = absorbed(removed)
        effects[c] = max(1 - p / base, 0.0)
        value_effects[c] = max(1 - v / base_value, 0.0)
    return base, effects, value_effects


def test_markov_and_shapley_on_generated_journeys(tmp_path: Path, generated: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """On the 4,000 generated people of the session (read-only landing zone, own warehouse)."""
    ws = make_workspace(tmp_path, generated / "landing", monkeypatch)
    assert run_pipeline() is True
    rows = ws.query("select journey_id, step, channel, converted, conversion_value_reporting "
                    "from intermediate.int_attribution__paths order by journey_id, step")
    journeys: dict[str, tuple[list[str], bool, float]] = {}
    for journey, _, channel, converted, value in rows:
        steps, _, _ = journeys.setdefault(journey, ([], converted, float(value or 0)))
        if not steps or steps[-1] != channel:
            steps.append(channel)
    paths = [(j, steps, converted, value) for j, (steps, converted, value) in journeys.items()]
    assert sum(1 for _, _, converted, _ in paths if converted) > 50 and len(paths) > 500
    base, effects, value_effects = dense_removal_effects(paths)
    markov = {c: (e, v, p) for c, e, v, p in ws.query(
        "select channel, removal_effect, value_removal_effect, conversion_probability from marts.attribution_markov "
        "where channel <> 'unattributed'")}
    assert set(markov) == set(effects) and len(effects) >= 10
    for channel, effect in effects.items():
        assert markov[channel][0] == pytest.approx(effect, abs=1e-9), channel
        assert markov[channel][1] == pytest.approx(value_effects[channel], abs=1e-9), channel
        assert markov[channel][2] == pytest.approx(base, abs=1e-9)
    # value credit follows the value removal effects, not the conversion ones
    attributed = float(ws.query("select sum(linear_value) from marts.attribution_credits "
                                "where channel <> 'unattributed'")[0][0])
    credited = {c: float(v) for c, v in ws.query("select channel, credited_value from marts.attribution_markov "
                                                 "where channel <> 'unattributed'")}
    total_effect = sum(value_effects.values())
    for channel, effect in value_effects.items():
        assert credited[channel] == pytest.approx(attributed * effect / total_effect, abs=0.01), channel
    linear = ws.query("select sum(linear_value) from marts.attribution_credits")[0][0]
    total = ws.query("select sum(credited_value), min(credited_value) from marts.attribution_markov")[0]
    assert total[0] == linear and total[1] >= 0  # exact decimals: the cents sum to the attributed value

    # Shapley of the conversion-rate game: efficiency (values sum to v(all channels), the overall
    # conversion rate of journeys), credits that sum to the attributed value, and not the equal split
    shapley = {c: (v, g, share) for c, v, g, share in ws.query(
        "select channel, shapley_value, grand_coalition_value, credit_share "
        "from marts.attribution_shapley where channel <> 'unattributed'")}
    converted_total = sum(1 for _, _, converted, _ in paths if converted)
    assert sum(v for v, _, _ in shapley.values()) == pytest.approx(converted_total / len(paths), abs=1e-9)
    assert all(g == pytest.approx(converted_total / len(paths), abs=1e-12) for _, g, _ in shapley.values())
    shapley_total = ws.query("select sum(credited_value) from marts.attribution_shapley")[0][0]
    assert shapley_total == linear
    equal_split: dict[str, float] = {}
    for _, steps, converted, _ in paths:
        if converted:
            for channel in set(steps):
                equal_split[channel] = equal_split.get(channel, 0.0) + 1 / len(set(steps)) / converted_total
    assert max(abs(shapley[c][2] - equal_split.get(c, 0.0)) for c in shapley) > 0.02
    coalitions = [(members.split("|"), float(j), float(c)) for members, j, c in ws.query(
        "select channel_set, journeys, conversions from intermediate.int_attribution__coalitions")]
    assert_symmetry_and_brute_force(coalitions)
    assert_one_figure_per_model(ws)


def assert_one_figure_per_model(ws: Workspace) -> None:
    """Per channel, the data-driven models credit the same conversions and value (to the cent) in
    their channel tables, in the per-touch table, in ROI and in the model comparison."""
    for model in ("markov", "shapley"):
        table = {c: (float(n), float(v)) for c, n, v in ws.query(
            f"select channel, credited_conversions, credited_value from marts.attribution_{model}")}
        per_touch = {c: (float(n), float(v)) for c, n, v in ws.query(
            f"select channel, sum({model}_share), sum({model}_value) from marts.attribution_data_driven_credits "
            "group by channel")}
        roi = {c: (float(n), float(v)) for c, n, v in ws.query(
            "select channel, credited_conversions, credited_value from marts.attribution_roi "
            "where grain = 'channel' and model = ?", [model])}
        comparison = {c: (float(n), float(v)) for c, n, v in ws.query(
            "select channel, credited_conversions, credited_value from marts.attribution_model_comparison "
            "where grain = 'channel' and model = ?", [model])}
        credited = {c for c, (n, v) in table.items() if n or v}
        for other in (per_touch, roi, comparison):
            assert {c for c, (n, v) in other.items() if n or v} == credited, model
            for channel in credited:
                assert other[channel][0] == pytest.approx(table[channel][0], abs=1e-6), (model, channel)
                assert round(other[channel][1], 2) == round(table[channel][1], 2), (model, channel)


def brute_force_shapley(players: list[str], value: Callable[[frozenset[str]], float]) -> dict[str, float]:
    """Shapley values by the definition: the mean marginal contribution over every ordering."""
    orders = list(itertools.permutations(players))
    phi = dict.fromkeys(players, 0.0)
    for order in orders:
        members: set[str] = set()
        for player in order:
            phi[player] += (value(frozenset(members | {player})) - value(frozenset(members))) / len(orders)
            members.add(player)
    return phi


def assert_symmetry_and_brute_force(coalitions: list[tuple[list[str], float, float]]) -> None:
    """Make two channels interchangeable (add every journey's mirror image with the two swapped):
    they must get equal values; and on six channels the values equal the mean marginal contribution
    over all 720 orderings of a rate game computed here from the journeys themselves."""
    from cdp.attribution_math import coalition_values, shapley_values

    swap = {"email": "paid_search", "paid_search": "email"}
    mirrored = coalitions + [([swap.get(c, c) for c in members], j, c) for members, j, c in coalitions]
    channels = sorted({c for members, _, _ in mirrored for c in members})
    phi = dict(zip(channels, shapley_values(coalition_values(channels, mirrored), len(channels)), strict=True))
    assert phi["email"] == pytest.approx(phi["paid_search"], abs=1e-12)
    small = channels[:6]
    projected = [([c for c in members if c in small], j, c) for members, j, c in coalitions]
    projected = [(members, j, c) for members, j, c in projected if members]

    def rate(members: frozenset[str]) -> float:
        within = [(j, c) for key, j, c in projected if set(key) <= members]
        total = sum(j for j, _ in within)
        return sum(c for _, c in within) / total if total else 0.0

    exact = dict(zip(small, shapley_values(coalition_values(small, projected), len(small)), strict=True))
    assert exact == pytest.approx(brute_force_shapley(small, rate), abs=1e-12)


def test_shapley_on_a_game_with_an_interaction() -> None:
    """Webinar converts only together with email (every webinar+email journey converts, none of the
    webinar-only or email-only ones); search converts 10% of its own journeys. Under the rate game
    v(S) = conversions / journeys of the journeys within S the pair shares a synergy and search is
    credited for what it does alone, unlike the equal split over distinct channels."""
    from cdp.attribution_math import coalition_values, credit_weights, shapley_values

    journeys = {("email", "webinar"): (20, 20), ("webinar",): (40, 0), ("email",): (40, 0), ("search",): (100, 10)}

    def rate(members: frozenset[str]) -> float:
        within = [(j, c) for key, (j, c) in journeys.items() if set(key) <= members]
        total = sum(j for j, _ in within)
        return sum(c for _, c in within) / total if total else 0.0

    channels = ["email", "search", "webinar"]
    game = coalition_values(channels, [(list(k), float(j), float(c)) for k, (j, c) in journeys.items()])
    phi = dict(zip(channels, shapley_values(game, 3), strict=True))
    assert phi == pytest.approx(brute_force_shapley(channels, rate), abs=1e-12)
    assert sum(phi.values()) == pytest.approx(30 / 200, abs=1e-12)  # efficiency: the overall rate
    assert phi["email"] == pytest.approx(phi["webinar"], abs=1e-12)  # symmetric players
    weights = dict(zip(channels, credit_weights(list(phi.values())), strict=True))
    equal_split = {"email": 10 / 30, "webinar": 10 / 30, "search": 10 / 30}
    assert max(abs(weights[c] - equal_split[c]) for c in channels) > 0.05
    # alone, email and webinar convert nothing: each is worth something only with the other
    assert rate(frozenset({"email"})) == 0 and rate(frozenset({"email", "webinar"})) == pytest.approx(0.2)
    # a channel whose journeys convert below the rest has a negative value and takes no credit
    journeys[("display",)] = (300, 0)
    channels4 = ["display", "email", "search", "webinar"]
    game4 = coalition_values(channels4, [(list(k), float(j), float(c)) for k, (j, c) in journeys.items()])
    phi4 = dict(zip(channels4, shapley_values(game4, 4), strict=True))
    assert phi4 == pytest.approx(brute_force_shapley(channels4, rate), abs=1e-12)
    assert phi4["display"] < 0 and credit_weights(list(phi4.values()))[0] == 0


def test_roi_for_every_model(attribution: Workspace) -> None:
    """Paid search spent 50.00 in February. Linear credits it J1's whole order (100.00, J1's first and
    only conversion) and a fifth of J5's won deal (200.00 of 1,000.00, also a first conversion)."""
    as_of = datetime(2026, 3, 4, 10, tzinfo=UTC)  # the latest record: J3's order
    tenure_j1 = max((as_of - datetime(2026, 2, 1, 10, 30, tzinfo=UTC)).total_seconds() / 86400 / 30.4375, 1)
    tenure_j5 = max((as_of - datetime(2026, 2, 1, 10, tzinfo=UTC)).total_seconds() / 86400 / 30.4375, 1)
    row = attribution.query("""
        select spend, credited_conversions, credited_value, new_customers, roas, cpa, cac, romi, ltv, ltv_to_cac,
               payback_months
        from marts.attribution_roi
        where model = 'linear' and grain = 'channel_month' and channel = 'paid_search' and month = '2026-02-01'""")
    new_customers = 1 + 0.2
    ltv = (100 + 0.2 * 1000) / new_customers
    cac = 50 / new_customers
    assert row == [(50, pytest.approx(1.2), 300, pytest.approx(new_customers), pytest.approx(6.0),
                    pytest.approx(50 / 1.2), pytest.approx(cac), pytest.approx(5.0), pytest.approx(ltv),
                    pytest.approx(ltv / cac), pytest.approx(cac / ((100 + 200) / (tenure_j1 + 0.2 * tenure_j5))))]
    by_campaign = attribution.query("""select spend, credited_value from marts.attribution_roi
                                       where model = 'first_touch' and grain = 'campaign' and campaign = 'c1'""")
    assert by_campaign == [(50, 100)]
    efficiency = attribution.query("""select distinct spend, credited_value, marketing_efficiency_ratio
                                      from marts.attribution_roi where grain = 'all'""")
    assert efficiency == [(50, 1350, pytest.approx(27.0))]
    models = {m for (m,) in attribution.query(
        "select distinct model from marts.attribution_roi where grain = 'channel'")}
    assert models == {*MODELS, "markov", "shapley"}
    unpaid = attribution.query("""select count(*) from marts.attribution_roi
                                  where channel = 'email' and (cpa is not null or roas is not null)""")
    assert unpaid == [(0,)]


def test_data_driven_credits_per_conversion(attribution: Workspace) -> None:
    """Markov and Shapley per conversion: a single-touch journey's credit sits on its touch, an
    untouched order stays unattributed, and per channel the touches sum to the channel tables."""
    rows = attribution.query("""
        select v.source_key, d.channel, d.markov_value > 0, d.shapley_value >= 0
        from marts.attribution_data_driven_credits as d
        inner join marts.fct_conversions as v using (conversion_id)
        where v.source_key in ('j1-o', 'j4-o') order by 1""")
    assert rows == [("j1-o", "paid_search", True, True), ("j4-o", "unattributed", True, True)]
    unattributed = attribution.query("""select markov_value, shapley_value from marts.attribution_data_driven_credits
                                        where channel = 'unattributed'""")
    assert unattributed == [(50, 50)]
    assert_one_figure_per_model(attribution)
