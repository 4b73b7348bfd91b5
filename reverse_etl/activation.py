"""Activation rules applied when a sync plans (configured in syncs.yml), as SQL over the audience:

- **Holdout**: `holdout: {experiment, share}` on a sync puts a stable share of its eligible members
  in a control group that is never sent. Membership is a hash of profile and experiment (MD5, the
  same on every machine and DuckDB version), so it survives reruns; each member's variant and first
  assignment are kept in `ops.holdout_assignments`, which marts.activation_holdout_lift reads.
- **Priority lists**: `priorities: {list: [highest, ..., lowest]}` ranks audiences; a person who is
  also in a higher-ranked audience of the list is held back from this sync (and, in mirror mode,
  removed from its destination), naming that audience.
- **Frequency caps**: `frequency_caps: [{channel, max_sends, window_days}]` count what every sync of
  the channel (`channel:` on a sync) sent a person (`ops.sync_log`, status sent) in the window; a
  person at the cap is held back for this run only: not sent, not removed, logged with the cap.

Every held-back person is logged in `ops.sync_log` with the rule that held them.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from reverse_etl.config import SyncConfig, SyncDefinition
from reverse_etl.state import table_exists

#: a hold reason starting with this only pauses a member (caps), never removes them
PAUSE_PREFIX = "frequency cap:"
#: holdout buckets: the share of a sync's members in control is whole buckets of this many
HOLDOUT_BUCKETS = 10_000


class ActivationRuleError(RuntimeError):
    """A rule names an audience that does not exist."""


@dataclass(frozen=True)
class ActivationRules:
    joins: str               # left joins onto the audience `s`
    hold_cases: str          # `when ... then <reason>` branches, in order
    holdout_variant: str     # 'control' | 'treatment' | null (no holdout on this sync)
    pause_prefix: str = PAUSE_PREFIX


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def holdout_control_sql(experiment: str, share: float, profile: str = "s.profile_id") -> str:
    """True when the profile is in the experiment's control group (stable: MD5 of profile and experiment)."""
    return (f"(md5_number({profile} || ':' || {_text(experiment)}) % {HOLDOUT_BUCKETS}) "
            f"< {round(share * HOLDOUT_BUCKETS)}")


def _priority(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig) -> tuple[str, str]:
    ranked = config.higher_priority(sync.audience)
    if not ranked or not ranked[1]:
        return "", ""
    name, higher = ranked
    parts = []
    for rank, audience in enumerate(higher):
        if not table_exists(con, "audiences", audience):
            raise ActivationRuleError(f"sync {sync.name}: priority list {name} ranks audiences.{audience} above "
                                      f"{sync.audience}, but it does not exist; build it first (cdp run)")
        parts.append(f"select profile_id, {rank} as rank, {_text(audience)} as audience "
                     f"from audiences.{_quote(audience)}")
    join = (f"left join (select profile_id, arg_min(audience, rank) as audience from ({' union all '.join(parts)}) "
            "group by profile_id) as pri on pri.profile_id = s.profile_id")
    reason = (f"when pri.profile_id is not null then 'priority: also in ' || pri.audience || "
              f"{_text(f', ranked above {sync.audience} in priority list {name}')}")
    return join, reason


def _caps(sync: SyncDefinition, config: SyncConfig) -> tuple[str, str]:
    caps = config.caps_for(sync.channel)
    if not caps:
        return "", ""
    syncs = ", ".join(_text(n) for n in config.syncs_on(sync.channel))
    parts = [f"""select profile_id, {i} as rank, count(*) as sends,
                        {_text(f'{PAUSE_PREFIX} ')} || count(*) || {_text(
                            f' {cap.channel} sends in the last {cap.window_days:g} days (at most {cap.max_sends})')}
                            as reason
                 from ops.sync_log
                 where status = 'sent' and op <> 'delete' and sync_name in ({syncs}) and profile_id is not null
                   and logged_at > now() - to_seconds({cap.window_days * 86400:.0f})
                 group by profile_id having count(*) >= {cap.max_sends}"""
             for i, cap in enumerate(caps)]
    join = (f"left join (select profile_id, arg_min(reason, rank) as reason from ({' union all '.join(parts)}) "
            "group by profile_id) as cap on cap.profile_id = s.profile_id")
    return join, "when cap.profile_id is not null then cap.reason"


def activation_rules(con: duckdb.DuckDBPyConnection, sync: SyncDefinition, config: SyncConfig) -> ActivationRules:
    """The SQL of the rules that apply to `sync` (empty strings where none does)."""
    holds, joins = [], []
    variant = "cast(null as varchar)"
    if sync.holdout:
        control = holdout_control_sql(sync.holdout.experiment, sync.holdout.share)
        holds.append(f"when {control} then {_text(f'holdout: control group of experiment {sync.holdout.experiment}')}")
        variant = f"case when {control} then 'control' else 'treatment' end"
    for join, hold in (_priority(con, sync, config), _caps(sync, config)):
        joins.append(join)
        holds.append(hold)
    return ActivationRules("\n".join(j for j in joins if j), "\n".join(h for h in holds if h), variant)


def record_holdout_assignments(con: duckdb.DuckDBPyConnection, sync: SyncDefinition) -> int:
    """Add this plan's newly eligible members to the experiment (control and treatment); members
    already assigned keep their variant and first assignment time. Returns how many were added."""
    if not sync.holdout:
        return 0
    before = con.execute("select count(*) from ops.holdout_assignments where experiment = ?",
                         [sync.holdout.experiment]).fetchone()[0]
    con.execute("""
        insert into ops.holdout_assignments
        select distinct ?, ?, e.profile_id, e.holdout_variant, now()
        from _cdp_eligible as e
        where e.holdout_variant is not null and e.profile_id is not null
          and not exists (select 1 from ops.holdout_assignments as h
                          where h.experiment = ? and h.profile_id = e.profile_id)""",
                [sync.holdout.experiment, sync.name, sync.holdout.experiment])
    return con.execute("select count(*) from ops.holdout_assignments where experiment = ?",
                       [sync.holdout.experiment]).fetchone()[0] - before
