"""`cdp status` and the end-of-run summary: what the warehouse holds, read from the warehouse itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cdp.engines.catalog import base_tables, table_exists
from cdp.settings import Settings, warehouse_label
from cdp.warehouse import connect

LAYERS = ("raw", "staging", "marts", "audiences")


def layer_rows(con) -> list[tuple[str, str, int]]:
    """(schema, table, rows) for every table of the pipeline's layers."""
    tables = base_tables(con, LAYERS)
    order = {name: i for i, name in enumerate(LAYERS)}
    rows = [(s, t, con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]) for s, t in tables]
    return sorted(rows, key=lambda r: (order[r[0]], r[1]))


def print_layer_rows(con) -> None:
    for schema, table, rows in layer_rows(con):
        print(f"  {schema + '.' + table:<50}{rows:>12,}")


def quarantine_summary(con) -> list[tuple[str, int, int]]:
    """(source, quarantined rows, files quarantined whole)."""
    return con.execute(
        "select source, count(line_number), count(*) - count(line_number) from ops.quarantine "
        "group by source order by source"
    ).fetchall()


def status_report(settings: Settings) -> dict[str, Any]:
    """What the warehouse holds, as data: `cdp status --json` prints it, `cdp status` renders it.
    `state` is `no_warehouse`, `nothing_loaded` or `loaded`; the other keys exist once loaded."""
    label = warehouse_label(settings)
    if settings.dbt_target == "duckdb" and not settings.warehouse.exists():
        return {"warehouse": label, "state": "no_warehouse"}
    with connect(settings, read_only=True) as con:
        if not table_exists(con, "ops", "load_manifest"):
            return {"warehouse": label, "state": "nothing_loaded"}
        report: dict[str, Any] = {"warehouse": label, "state": "loaded"}
        report.update(last_run_report(con, settings))
        report["files"] = _records(con, (
            "select source, count(*) as files, sum(rows_loaded) as rows_loaded, sum(rows_quarantined) as "
            "rows_quarantined, sum(duplicates_skipped) as duplicates_skipped, max(loaded_at) as last_loaded_at "
            "from ops.load_manifest group by source order by source"))
        report["quarantine"] = [{"source": source, "rows": rows, "whole_files": whole}
                                for source, rows, whole in quarantine_summary(con)]
        report["tables"] = [{"schema": s, "table": t, "rows": n} for s, t, n in layer_rows(con)]
        report["identity"] = identity_health(con)
        report["syncs"] = _records(con, (
            "select sync_name, status, coalesce(rows_added, 0) as rows_added, coalesce(rows_changed, 0) as "
            "rows_changed, coalesce(rows_removed, 0) as rows_removed, coalesce(rows_succeeded, 0) as rows_applied, "
            "rows_failed, coalesce(rows_skipped_consent, 0) as rows_held_back, destination, finished_at, "
            "match_rate_low, match_rate_high, upload_state "
            "from ops.sync_runs "
            "qualify row_number() over (partition by sync_name order by started_at desc) = 1 order by 1"))
        report["pending_outboxes"] = _records(con, (
            "select p.sync_name, p.batches - count(b.batch_no) as batches_pending from ops.sync_plans as p left "
            "join ops.sync_batches as b using (sync_name, plan_id) where p.status = 'pending' "
            "group by p.sync_name, p.plan_id, p.batches order by 1"))
        erased, deletes = con.execute(
            "select count(distinct profile_id) filter (where step = 'verified'), "
            "count(*) filter (where step = 'destination_delete') from ops.deletion_ledger").fetchone()
        report["deletions"] = {"people_erased_and_verified": erased, "destination_deletes_sent": deletes}
        return report


def _records(con, sql: str, parameters: list | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, parameters or [])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def print_status(settings: Settings) -> None:
    report = status_report(settings)
    if report["state"] == "no_warehouse":
        print(f"No warehouse at {settings.warehouse} yet: run `cdp run`.")
        return
    if report["state"] == "nothing_loaded":
        print(f"Nothing loaded into {report['warehouse']} yet: run `cdp run`.")
        return
    print(f"warehouse: {report['warehouse']}")
    _print_last_run(report)
    print("\nlanded files")
    print(f"  {'source':<20}{'files':>7}{'loaded':>12}{'quarantined':>13}{'duplicates':>12}  last load")
    for f in report["files"]:
        print(f"  {f['source']:<20}{f['files']:>7}{f['rows_loaded']:>12,}{f['rows_quarantined']:>13,}"
              f"{f['duplicates_skipped']:>12,}  {f['last_loaded_at']:%Y-%m-%d %H:%M}")
    print("\nquarantined (ops.quarantine)")
    for q in report["quarantine"]:
        print(f"  {q['source']:<20}{q['rows']:>8,} rows" + (f", {q['whole_files']} whole files" if q["whole_files"]
                                                              else ""))
    print("\nrows per table")
    for t in report["tables"]:
        print(f"  {t['schema'] + '.' + t['table']:<50}{t['rows']:>12,}")
    if report["identity"]:
        print(f"\nidentity (latest run): {describe_identity(report['identity'])}")
    print("\nlatest syncs")
    for s in report["syncs"]:
        print(f"  {s['sync_name']}: {s['status']}, +{s['rows_added']:,} ~{s['rows_changed']:,} -{s['rows_removed']:,}: "
              f"{s['rows_applied']:,} applied, {s['rows_failed']:,} failed, {s['rows_held_back']:,} held back -> "
              f"{s['destination']} ({s['finished_at']:%Y-%m-%d %H:%M})" + _match_rate(s))
    if not report["syncs"]:
        print("  none yet")
    for p in report["pending_outboxes"]:
        print(f"  {p['sync_name']}: {p['batches_pending']:,} batches pending in its outbox (an interrupted run; "
              "resumes on the next)")
    d = report["deletions"]
    print(f"\ndeletion requests: {d['people_erased_and_verified']:,} people erased and verified, "
          f"{d['destination_deletes_sent']:,} deletes sent to destinations (ops.deletion_ledger)")


def _match_rate(sync: dict) -> str:
    """`; match rate 71-80%` where the platform reported one, `; upload RUNNING` while it processes."""
    low, high = sync.get("match_rate_low"), sync.get("match_rate_high")
    if low is not None and high is not None:
        rate = f"{low:.0%}" if low == high else f"{low * 100:.0f}-{high:.0%}"
        return f"; match rate {rate}"
    return f"; upload {sync['upload_state']}" if sync.get("upload_state") else ""


def print_run_syncs(con, run_id: str) -> None:
    """The syncs of one run: status, rows applied, failed and held back."""
    syncs = con.execute(
        "select sync_name, status, coalesce(rows_succeeded, 0), coalesce(rows_failed, 0), "
        "coalesce(rows_skipped_consent, 0), destination from ops.sync_runs where run_id = ? order by 1",
        [run_id]).fetchall()
    if syncs:
        print("\nsyncs (ops.sync_runs; every row sent or held back in ops.sync_log)")
    for name, status, ok, failed, held, destination in syncs:
        print(f"  {name:<30}{status:<15}{ok:>7,} applied{failed:>5,} failed{held:>6,} held back  {destination}")


def identity_health(con) -> dict[str, Any] | None:
    """The latest identity run (marts.identity_health), or None before the first."""
    if not table_exists(con, "marts", "identity_health"):
        return None
    rows = _records(con, """
        select profiles, identifiers, largest_profile_identifiers, merges, shared_value_protections
                   + profile_limit_protections as protections, blocked_identifiers, resolution_rounds,
               pairwise_precision, pairwise_recall
        from marts.identity_health order by run_at desc limit 1""")
    return rows[0] if rows else None


def describe_identity(health: dict[str, Any]) -> str:
    line = (f"{health['profiles']:,} profiles from {health['identifiers']:,} identifiers (largest "
            f"{health['largest_profile_identifiers']}), {health['merges']} merges this run, {health['protections']} "
            f"protected, {health['blocked_identifiers']} blocked, {health['resolution_rounds']} clustering rounds")
    if health["pairwise_precision"] is not None:
        line += (f"; vs planted truth: pairwise precision {health['pairwise_precision']:.4f}, "
                 f"recall {health['pairwise_recall']:.4f}")
    return line


def identity_summary(con) -> str | None:
    """One line on the latest identity run, or None before the first."""
    health = identity_health(con)
    return describe_identity(health) if health else None


def last_run_report(con, settings: Settings) -> dict[str, Any]:
    """The last run's gates, freshness per layer, failing checks and the health score."""
    if not table_exists(con, "ops", "quality_results"):
        return {"last_run": None, "freshness": {}, "failing_checks": [], "health": []}
    report: dict[str, Any] = {"last_run": None}
    last = con.execute("select run_id, min(checked_at), max(checked_at), count(*) filter (where passed), "
                       "count(*) filter (where not passed and severity = 'error'), "
                       "count(*) filter (where not passed and severity = 'warn') from ops.quality_results "
                       "where run_id is not null group by run_id order by max(checked_at) desc limit 1").fetchone()
    if last:
        run_id, started, finished, passed, failed, warned = last
        published = table_exists(con, "ops", "audience_size_history") and con.execute(
            "select count(*) from ops.audience_size_history where run_id = ?", [run_id]).fetchone()[0] > 0
        outcome = "published" if published else ("failed_gate" if failed else "not_published")
        report["last_run"] = {"run_id": run_id, "started_at": started, "finished_at": finished, "outcome": outcome,
                              "checks_passed": passed, "checks_failed": failed, "checks_warned": warned}
    loaded = con.execute("select max(loaded_at) from ops.load_manifest").fetchone()[0]
    layers = con.execute(
        "select layer, max(checked_at) from ops.quality_results where layer in ('staging', 'identity', 'marts', "
        "'audiences', 'reverse_etl') group by layer order by min(checked_at)").fetchall()
    freshness = {"raw": loaded, **dict(layers)}
    if settings.serving_warehouse.exists():
        freshness["serving copy"] = datetime.fromtimestamp(settings.serving_warehouse.stat().st_mtime, UTC)
    report["freshness"] = freshness
    report["failing_checks"] = _records(con, """
        select layer, asset, check_name, severity, target, rows_failed, checked_at from (
            select *, row_number() over (partition by asset, check_name, coalesce(target, '')
                                         order by checked_at desc) as latest
            from ops.quality_results)
        where latest = 1 and not passed order by severity, layer, asset, check_name""")
    report["health"] = _records(con, (
        "select source, health_score, complete_share, valid_share, unique_share, fresh_share "
        "from marts.data_health_scores where measured_at = (select max(measured_at) from "
        "marts.data_health_scores) order by source = 'overall', source")) if table_exists(
        con, "marts", "data_health_scores") else []
    return report


OUTCOMES = {"published": "gates passed, serving copy published", "failed_gate": "FAILED a blocking gate",
            "not_published": "not published (partial run, or stopped before the end)"}


def _print_last_run(report: dict[str, Any]) -> None:
    last = report["last_run"]
    if last:
        print(f"\nlast run {last['run_id']} ({last['started_at']:%Y-%m-%d %H:%M}-{last['finished_at']:%H:%M} UTC): "
              f"{OUTCOMES[last['outcome']]}; {last['checks_passed']} checks passed, {last['checks_failed']} failed, "
              f"{last['checks_warned']} warned")
    if not report["freshness"]:
        return
    print("\nfreshness per layer (when its data or gates last changed)")
    for layer, when in report["freshness"].items():
        label = "landing -> raw" if layer == "raw" else layer
        print(f"  {label:<20}{when:%Y-%m-%d %H:%M} UTC" if when else f"  {label:<20}never")
    failing = report["failing_checks"]
    print(f"\nfailing checks (latest evaluation of each): {len(failing) or 'none'}")
    for f in failing[:20]:
        print(f"  {f['severity']:<6}{f['layer']:<12}{f['asset']} {f['check_name']}"
              + (f" [{f['target']}]" if f["target"] else "")
              + (f": {f['rows_failed']:,} rows" if f["rows_failed"] else "") + f" ({f['checked_at']:%Y-%m-%d %H:%M})")
    if report["health"]:
        print("\ndatabase health (marts.data_health_scores, latest build)")
        print(f"  {'source':<20}{'score':>7}{'complete':>10}{'valid':>8}{'unique':>8}{'fresh':>8}")
        for h in report["health"]:
            print(f"  {h['source']:<20}{h['health_score']:>7.3f}{h['complete_share']:>10.3f}{h['valid_share']:>8.3f}"
                  f"{h['unique_share']:>8.3f}{h['fresh_share']:>8.3f}")


def status_json(settings: Settings) -> str:
    """`cdp status --json`: the report with timestamps as ISO 8601 and numbers as JSON numbers."""
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if hasattr(value, "is_finite"):  # Decimal from PostgreSQL
            return float(value)
        return str(value)

    return json.dumps(status_report(settings), default=encode, indent=2)
