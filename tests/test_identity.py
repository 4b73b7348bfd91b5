"""Identity resolution end to end through the pipeline: protections, stable ids, merges, rebuilds.

One run over the bundled sample plus a file of hand-made people whose right answer is obvious
(a shared tablet, a placeholder email, an alias chain, a group mailbox, two users meeting only
through a chain), then a file that merges two existing profiles, then a rebuild from scratch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cdp.cli import main
from orchestration.run import run_pipeline
from tests.conftest import Workspace, make_workspace

pytestmark = pytest.mark.slow(seconds=95)


def message(message_id: str, ts: str, kind: str = "identify", **fields: object) -> dict:
    return {"type": kind, "messageId": message_id, "timestamp": ts, **fields}


HAND_MADE = [
    # a family tablet: one anonymous id, two people logging in on it
    message("hm-1", "2026-10-01T10:00:00Z", anonymousId="anon-tablet", userId="u-mum",
            traits={"email": "mum@fam.example"}),
    message("hm-2", "2026-10-02T10:00:00Z", anonymousId="anon-tablet", userId="u-kid",
            traits={"email": "kid@fam.example"}),
    message("hm-3", "2026-10-03T10:00:00Z", "page", anonymousId="anon-tablet", name="/home"),
    # a placeholder email typed by two different people
    message("hm-4", "2026-10-01T11:00:00Z", anonymousId="anon-p1", userId="u-p1",
            traits={"email": "Test@Example.com "}),
    message("hm-5", "2026-10-01T12:00:00Z", anonymousId="anon-p2", userId="u-p2", traits={"email": "test@example.com"}),
    # an alias chain: two earlier anonymous ids aliased to one user
    message("hm-6", "2026-10-01T13:00:00Z", "alias", anonymousId="anon-z2", previousId="anon-z1", userId="u-z"),
    message("hm-7", "2026-10-01T14:00:00Z", "alias", anonymousId="anon-z3", previousId="anon-z2", userId="u-z"),
    message("hm-8", "2026-09-01T14:00:00Z", "page", anonymousId="anon-z1", name="/pricing"),
    # a group mailbox used by four different users
    *[message(f"hm-g{i}", "2026-10-05T10:00:00Z", anonymousId=f"anon-g{i}", userId=f"u-g{i}",
              traits={"email": "team@corp-x.example"}) for i in range(4)],
    # two users who only meet through a chain: u-c1 -- anon-c -- email -- u-c2
    message("hm-c1", "2026-10-06T10:00:00Z", "page", anonymousId="anon-c", userId="u-c1", name="/"),
    message("hm-c2", "2026-10-06T11:00:00Z", "track", anonymousId="anon-c", event="Form Submitted",
            context={"traits": {"email": "carol@corp-y.example"}}),
    message("hm-c3", "2026-10-07T10:00:00Z", anonymousId="anon-c2", userId="u-c2",
            traits={"email": "carol@corp-y.example"}),
    # signed up on the web; the CRM has them too, with a mistyped email (HMF-1) or a nickname (HMF-2)
    message("hm-f1", "2026-10-08T10:00:00Z", anonymousId="anon-f1", userId="u-margaret",
            traits={"email": "margaret.okafor@outlook.com", "firstName": "Margaret", "lastName": "Okafor",
                    "company": "Brightwave", "country": "GB"}),
    message("hm-f2", "2026-10-08T11:00:00Z", anonymousId="anon-f2", userId="u-jon",
            traits={"email": "jsmith@northwind.example", "firstName": "Jon", "lastName": "Smith",
                    "company": "Northwind", "country": "US"}),
]

#: CRM contacts only the probabilistic tier can place: a typo and a nickname of the web users above,
#: and two different people with the same common name, who must stay apart
FUZZY_CONTACTS = (
    "HMF-1,margaret.okafro@outlok.com,,Margaret,Okafor,Brightwave Ltd,CMO,Media,50,GB,event,"
    "2026-10-09T10:00:00Z,2026-10-09T10:00:00Z\n"
    "HMF-2,jon.smith@northwind.example,,Jonathan,Smith,NORTHWIND Inc.,CTO,Software,200,US,event,"
    "2026-10-09T10:00:00Z,2026-10-09T10:00:00Z\n"
    "HMF-3,john.smith@gmail.com,(415) 555-0111,John,Smith,,,,,US,web,2026-10-09T10:00:00Z,2026-10-09T10:00:00Z\n"
    "HMF-4,jsmith88@yahoo.com,(312) 555-0199,John,Smith,Globex,AE,Retail,20,US,event,"
    "2026-10-09T10:00:00Z,2026-10-09T10:00:00Z\n")


def write_events(path: Path, messages: list[dict]) -> None:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))


def profiles(ws: Workspace) -> dict[str, str]:
    return dict(ws.query("select node_key, profile_id from ops.identity_profile_registry"))


def test_identity_rules_stable_ids_merges_and_rebuild(sample_workspace: Workspace, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    ws = sample_workspace
    write_events(ws.landing / "events" / "hand_made.ndjson", HAND_MADE)
    (ws.landing / "crm_contacts" / "hand_made.csv").write_text(
        "contact_id,email,phone,first_name,last_name,company,job_title,industry,company_size,country,"
        "lead_source,created_at,updated_at\n" + "".join(
            f"HM-{i},rep{i}@corp-s.example,(415) 555-0100,Rep,{i},Corp S,AE,Software,50,US,event,"
            "2026-10-01T10:00:00Z,2026-10-01T10:00:00Z\n" for i in range(4)) + FUZZY_CONTACTS)
    assert run_pipeline() is True
    first = profiles(ws)

    # the probabilistic tier: a typo and a nickname merged, two John Smiths kept apart
    assert first["crm_contact_id:HMF-1"] == first["user_id:u-margaret"]
    assert first["crm_contact_id:HMF-2"] == first["user_id:u-jon"]
    assert first["crm_contact_id:HMF-3"] != first["crm_contact_id:HMF-4"]
    links = ws.query("select left_value, right_value, evidence, match_probability "
                     "from intermediate.identity_probabilistic_links where 'HMF-2' in (left_value, right_value)")
    assert len(links) == 1 and "first_name nickname" in links[0][2] and "u-jon" in links[0][:2]
    assert links[0][3] >= 0.99
    # Fellegi and Sunter (1969): the pair's weight is the prior odds of a match plus log2(m / u) of the
    # level each field reached (a missing field adds nothing), with m, u and the prior from the card
    weight, = ws.query("select match_weight from intermediate.identity_probabilistic_links "
                       "where 'HMF-2' in (left_value, right_value)")[0]
    prior, parameters = ws.query("select probability_two_random_records_match, parameters "
                                 "from ops.identity_probabilistic_models order by trained_at desc limit 1")[0]
    levels = {f: {lv["level"]: (lv["m"], lv["u"]) for lv in lvs} for f, lvs in json.loads(parameters).items()}
    by_hand = math.log2(prior / (1 - prior))
    for part in links[0][2].split(", "):
        field, level = part.split(" ", 1)
        if level != "missing":
            m, u = levels[field][level]
            by_hand += math.log2(m / u)
    assert weight == pytest.approx(by_hand, abs=1e-3)  # the link's weight is kept to 4 places
    assert links[0][3] == pytest.approx(2 ** weight / (1 + 2 ** weight), abs=1e-5)
    assert main(["explain-profile", first["user_id:u-jon"]]) == 0
    explained = capsys.readouterr().out
    assert "rule probabilistic" in explained and f"p={links[0][3]} (first_name nickname" in explained
    # the sample's own people are all deterministic: nobody else was linked by probability
    assert ws.query("select count(*) from intermediate.identity_probabilistic_links") == [(2,)]

    # shared tablet: cut, so mum and kid stay two people; each keeps their own email
    assert first["user_id:u-mum"] != first["user_id:u-kid"]
    assert first["email:mum@fam.example"] == first["user_id:u-mum"]
    assert first["anonymous_id:anon-tablet"] not in (first["user_id:u-mum"], first["user_id:u-kid"])
    protections = dict(ws.query("select node_key, protection_rule from marts.identity_protections"))
    assert protections["anonymous_id:anon-tablet"] == "profile_limit"
    # placeholder: links nothing, belongs to nobody, counted
    assert first["user_id:u-p1"] != first["user_id:u-p2"]
    assert "email:test@example.com" not in first
    blocked = dict(ws.query("select identifier, observations from marts.identity_blocked_identifiers "
                            "where identifier_type = 'email'"))
    assert blocked["test@example.com"] >= 2
    # alias chain: one person
    assert len({first[k] for k in ("user_id:u-z", "anonymous_id:anon-z1", "anonymous_id:anon-z2",
                                   "anonymous_id:anon-z3")}) == 1
    # group mailbox: four users, so linking it would break the one-user-id limit
    assert len({first[f"user_id:u-g{i}"] for i in range(4)}) == 4
    assert protections["email:team@corp-x.example"] == "profile_limit"
    # a switchboard phone on four CRM contacts (contacts have no limit): a shared value
    assert len({first[f"crm_contact_id:HM-{i}"] for i in range(4)}) == 4
    assert protections["phone:+14155550100"] == "shared_value"
    # two user ids meeting through a chain: the bridging anonymous id is cut by the limit repair
    assert first["user_id:u-c1"] != first["user_id:u-c2"]
    assert first["email:carol@corp-y.example"] == first["user_id:u-c2"]
    assert protections["anonymous_id:anon-c"] == "profile_limit"
    assert ws.query("select max(user_id_count) from marts.dim_profiles")[0][0] == 1

    # explain-profile names identifiers, the edge with its source row, and the protection
    assert main(["explain-profile", first["user_id:u-z"]]) == 0
    explained = capsys.readouterr().out
    assert "anon-z1" in explained and "rule event_alias" in explained and "hm-6" in explained

    # A later login joins an older known user with a younger anonymous-only profile.
    old_id, user_id, old_seen = ws.query("""
        select p.profile_id, p.user_id, p.profile_first_seen_at from marts.dim_profiles as p
        where p.user_id like 'user_%' order by p.profile_first_seen_at, p.profile_id limit 1""")[0]
    young_id, anon = ws.query("""
        select p.profile_id, i.identifier from marts.dim_profiles as p
        inner join marts.profile_identifiers as i using (profile_id)
        where p.identifier_count = 1 and i.identifier_type = 'anonymous_id' and i.protection_rule is null
          and p.profile_first_seen_at > ?
        order by p.profile_first_seen_at desc, p.profile_id limit 1""", [old_seen])[0]
    write_events(ws.landing / "events" / "login.ndjson",
                 [message("merge-1", "2026-11-16T09:00:00Z", anonymousId=anon, userId=user_id)])
    assert run_pipeline() is True
    second = profiles(ws)
    assert second[f"anonymous_id:{anon}"] == old_id
    assert young_id not in set(second.values())
    unrelated = {k: v for k, v in first.items() if v != young_id}
    assert {k: second[k] for k in unrelated} == unrelated
    merges = ws.query("""select event_type, retired_profile_id, surviving_profile_id, joined_by_identifier,
                                joined_identifier, joined_by_rule, joined_by_source_key
                         from ops.identity_merge_events""")
    assert merges == [("merged", young_id, old_id, f"user_id:{user_id}", f"anonymous_id:{anon}",
                       "event_identity", "merge-1")]
    assert ws.query("select retired_profile_id, survivor_profile_id from marts.canonical_id_aliases "
                    "where evidence = 'merge_history'") == [(young_id, old_id)]
    assert ws.query("select merges from marts.identity_health order by run_at desc limit 1") == [(1,)]
    assert main(["explain-profile", young_id]) == 0
    explained = capsys.readouterr().out
    assert f"it is now {old_id}" in explained and f"merged {young_id} -> {old_id}" in explained

    # A rebuild from scratch over the same files gives every identifier the same profile id.
    # (the whole graph: erasure, at its end, removes the sample's erased people from the registry)
    rebuilt = make_workspace(tmp_path / "rebuild", ws.landing, monkeypatch)
    assert run_pipeline() is True
    assert profiles(rebuilt) == second
    assert rebuilt.query("select count(*) from ops.identity_merge_events") == [(0,)]
    # with no merge history, the retired id still resolves to its survivor
    assert rebuilt.query("select survivor_profile_id, evidence from marts.canonical_id_aliases "
                         "where retired_profile_id = ?", [young_id]) == [(old_id, "derived_from_identifier")]

