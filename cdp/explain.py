"""`cdp explain-profile ID`: why a profile is what it is.

Prints every identifier of the profile, the edges (with the source rows that produced them) that
joined them, its merge history and the protections that kept identifiers out. A retired id is
followed to the profile that carries on for it. Reads the warehouse read-only; all lookups are
keyed by one profile, so this stays instant on any warehouse size.
"""

from __future__ import annotations

from collections.abc import Callable

from cdp.engines.types import Warehouse
from cdp.settings import Settings
from cdp.warehouse import connect

EDGE_LIMIT = 60
MEMBERS = """members as (
                select c.node_id, c.node_key
                from ops.identity_profile_registry as r
                inner join intermediate.int_identity__clusters as c on c.node_key = r.node_key
                where r.profile_id = ?)"""


class UnknownProfile(LookupError):
    """The id is neither a current nor a retired profile id."""


def _rows(con: Warehouse, sql: str, params: list) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _current_id(con: Warehouse, profile_id: str, out: Callable[[str], None]) -> str:
    if _rows(con, "select 1 from ops.identity_profile_registry where profile_id = ? limit 1", [profile_id]):
        return profile_id
    alias = _rows(con, "select survivor_profile_id, retired_at, merges_followed from marts.canonical_id_aliases "
                       "where retired_profile_id = ?", [profile_id])
    if not alias:
        raise UnknownProfile(f"no profile {profile_id!r}: not in ops.identity_profile_registry and not a retired id "
                             "in marts.canonical_id_aliases (ids look like prf_ followed by 24 hex digits)")
    survivor, retired_at, hops = alias[0]
    if retired_at is None:
        out(f"{profile_id} is the id one of {survivor}'s identifiers carried on its own; it is now {survivor}\n")
    else:
        out(f"{profile_id} was retired at {retired_at:%Y-%m-%d %H:%M:%S} ({hops} merge(s)); it is now {survivor}\n")
    return survivor


def explain_profile(settings: Settings, profile_id: str, out: Callable[[str], None] = print) -> None:
    with connect(settings, read_only=True) as con:
        current = _current_id(con, profile_id, out)
        identifiers = _rows(con, """
            select c.identifier_type, c.identifier, c.first_seen_at, c.last_seen_at, c.protection_rule,
                   r.assignment, r.assigned_at
            from ops.identity_profile_registry as r
            inner join intermediate.int_identity__clusters as c on c.node_key = r.node_key
            where r.profile_id = ?
            order by c.type_priority, c.first_seen_at, c.identifier""", [current])
        profile = _rows(con, "select email, first_name, last_name, company, event_count, email_marketing_consent "
                             "from marts.dim_profiles where profile_id = ?", [current])
        out(f"profile {current}: {len(identifiers)} identifiers")
        if profile:
            email, first, last, company, events, consent = profile[0]
            name = " ".join(p for p in (first, last) if p) or "-"
            out(f"  {name} <{email or '-'}> {company or ''}  events: {events}  email consent: {consent}")
        else:
            out("  (not in marts.dim_profiles: a deletion request covers it)")

        out("\nidentifiers")
        for kind, value, first_seen, last_seen, protection, assignment, assigned_at in identifiers:
            note = f"  [{protection}]" if protection else ""
            out(f"  {kind:<15} {value:<40} seen {first_seen:%Y-%m-%d} .. {last_seen:%Y-%m-%d}  "
                f"{assignment} {assigned_at:%Y-%m-%d %H:%M}{note}")

        edges = _rows(con, f"""
            with {MEMBERS}
            select l.node_key, r.node_key, e.rule, e.first_seen_at, e.first_source, e.first_source_key, e.observations
            from intermediate.int_identity__edges as e
            inner join members as l on l.node_id = e.left_node_id
            inner join members as r on r.node_id = e.right_node_id
            where e.is_allowed
            order by e.first_seen_at, l.node_key, r.node_key""", [current])
        out(f"\nedges that joined them ({len(edges)})")
        for left, right, rule, first_seen, source, key, observations in edges[:EDGE_LIMIT]:
            out(f"  {left} <-> {right}\n      rule {rule}, first {first_seen:%Y-%m-%d %H:%M:%S} in {source} {key}"
                f" ({observations} observation{'s' if observations != 1 else ''})")
        if len(edges) > EDGE_LIMIT:
            out(f"  ... and {len(edges) - EDGE_LIMIT} more (intermediate.int_identity__edges)")

        merges = _rows(con, """
            select recorded_at, event_type, retired_profile_id, surviving_profile_id, identifiers_moved,
                   joined_by_identifier, joined_identifier, joined_by_rule, joined_by_source, joined_by_source_key
            from ops.identity_merge_events
            where surviving_profile_id = ? or retired_profile_id = ?
            order by recorded_at""", [current, current])
        out(f"\nmerge history ({len(merges)})")
        for at, kind, retired, survivor, moved, by, joined, rule, source, key in merges:
            how = f": {by} linked to {joined} by rule {rule} ({source} {key})" if by else ""
            out(f"  {at:%Y-%m-%d %H:%M:%S} {kind} {retired} -> {survivor}, {moved} identifiers moved{how}")

        protections = _rows(con, f"""
            with {MEMBERS},
            touching as (
                select c.node_key from intermediate.int_identity__edges as e
                inner join members as m on m.node_id = e.left_node_id
                inner join intermediate.int_identity__clusters as c on c.node_id = e.right_node_id
                union
                select c.node_key from intermediate.int_identity__edges as e
                inner join members as m on m.node_id = e.right_node_id
                inner join intermediate.int_identity__clusters as c on c.node_id = e.left_node_id
                union
                select node_key from members
            )
            select p.node_key, p.protection_rule, p.protection_detail, p.profile_id, p.first_recorded_at
            from marts.identity_protections as p
            where p.node_key in (select node_key from touching)
            order by p.node_key""", [current])
        out(f"\nprotections applied ({len(protections)})")
        for key, rule, detail, stands_in, first_recorded in protections:
            where = "kept in this profile" if stands_in == current else f"left in {stands_in}"
            out(f"  {key}: {rule} ({detail}); {where}; since {first_recorded:%Y-%m-%d %H:%M}")
