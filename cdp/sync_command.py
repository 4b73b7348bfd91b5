"""`cdp sync`: run syncs (or print their plans) outside Dagster, against the last build. It is the
application's glue (settings, the warehouse connection) around the reverse_etl library, which never
imports the orchestration package."""

from __future__ import annotations

from cdp.settings import Settings
from cdp.sync_workspace import sync_connection
from cdp.warehouse import connect
from reverse_etl.config import load_sync_config
from reverse_etl.reliability import DestinationError
from reverse_etl.sync import SyncError, run_sync


def run_syncs(settings: Settings, names: list[str] | None = None, *, dry_run: bool = False,
              full_resync: bool = False, override_guardrails: bool = False) -> int:
    """Returns 0 when every sync succeeded (or planned), 1 when one was blocked, partial or failed."""
    config = load_sync_config(settings.syncs_file)
    unknown = sorted(set(names or ()) - set(config.syncs))
    if unknown:
        raise ValueError(f"unknown sync(s) {unknown}; defined in {settings.syncs_file}: {sorted(config.syncs)}")
    failures = 0
    with connect(settings) as warehouse, sync_connection(settings, warehouse, config) as con:
        for sync in config.syncs.values():
            if names and sync.name not in names:
                continue
            try:
                outcome = run_sync(con, sync, config, settings.export_dir, dry_run=dry_run, full_resync=full_resync,
                                   override_guardrails=override_guardrails, progress=print)
            except (SyncError, DestinationError) as exc:
                print(f"[{sync.name}] FAILED: {exc}")
                failures += 1
                continue
            plan = outcome.plan
            if dry_run and plan is not None:
                state = "resumes pending plan" if plan.resumed else "plan"
                print(f"[{sync.name}] {state} -> {outcome.destination}: {plan.rows_added:,} adds, "
                      f"{plan.rows_changed:,} updates, {plan.rows_removed:,} deletes, {plan.rows_held_back:,} held back"
                      + (f"; BLOCKED: {'; '.join(plan.blocked)}" if plan.blocked else ""))
                for op, reason, rows in outcome.preview:
                    print(f"    {op:<8}{reason:<40}{rows:>10,}")
                if outcome.samples:
                    print("    sample (a few rows of each action):")
                for action, key, reason, payload in outcome.samples:
                    print(f"      {action:<10}{key:<24}{reason or '':<48}{(payload or '')[:160]}")
                failures += bool(plan.blocked)
            elif outcome.status == "partial":
                failures += 1
    return 1 if failures else 0
