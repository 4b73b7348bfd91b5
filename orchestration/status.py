"""`cdp status` and the end-of-run summary: what the warehouse holds, read from the warehouse itself."""

from __future__ import annotations

from orchestration.engines.catalog import base_tables, table_exists
from orchestration.settings import Settings, warehouse_label
from orchestration.warehouse import connect

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


def print_status(settings: Settings) -> None:
    if settings.dbt_target == "duckdb" and not settings.warehouse.exists():
        print(f"No warehouse at {settings.warehouse} yet: run `cdp run`.")
        return
    with connect(settings, read_only=True) as con:
        if not table_exists(con, "ops", "load_manifest"):
            print(f"Nothing loaded into {warehouse_label(settings)} yet: run `cdp run`.")
            return
        print(f"warehouse: {warehouse_label(settings)}")
        print_last_run(con, settings)
        files = con.execute(
            "select source, count(*), sum(rows_loaded), sum(rows_quarantined), sum(duplicates_skipped), "
            "max(loaded_at) from ops.load_manifest group by source order by source").fetchall()
        print("\nlanded files")
        print(f"  {'source':<20}{'files':>7}{'loaded':>12}{'quarantined':>13}{'duplicates':>12}  last load")
        for source, n, loaded, quarantined, dups, last in files:
            print(f"  {source:<20}{n:>7}{loaded:>12,}{quarantined:>13,}{dups:>12,}  {last:%Y-%m-%d %H:%M}")
        print("\nquarantined (ops.quarantine)")
        for source, rows, whole_files in quarantine_summary(con):
            print(f"  {source:<20}{rows:>8,} rows" + (f", {whole_files} whole files" if whole_files else ""))
        print("\nrows per table")
        print_layer_rows(con)
        identity = identity_summary(con)
        if identity:
            print(f"\nidentity (latest run): {identity}")
        syncs = con.execute(
            "select sync_name, status, coalesce(rows_added, 0), coalesce(rows_changed, 0), coalesce(rows_removed, 0), "
            "coalesce(rows_succeeded, 0), rows_failed, coalesce(rows_skipped_consent, 0), destination, finished_at "
            "from ops.sync_runs "
            "qualify row_number() over (partition by sync_name order by started_at desc) = 1 order by 1"
        ).fetchall()
        print("\nlatest syncs")
        for name, status, added, changed, removed, ok, failed, held, destination, finished in syncs or []:
            print(f"  {name}: {status}, +{added:,} ~{changed:,} -{removed:,}: {ok:,} applied, {failed:,} failed, "
                  f"{held:,} held back -> {destination} ({finished:%Y-%m-%d %H:%M})")
        if not syncs:
            print("  none yet")
        pending = con.execute(
            "select p.sync_name, p.batches - count(b.batch_no) from ops.sync_plans as p left join ops.sync_batches "
            "as b using (sync_name, plan_id) where p.status = 'pending' group by p.sync_name, p.plan_id, p.batches "
            "order by 1").fetchall()
        for name, batches in pending:
            print(f"  {name}: {batches:,} batches pending in its outbox (an interrupted run; resumes on the next)")
        deletions = con.execute("select count(distinct profile_id) filter (where step = 'verified'), "
                                "count(*) filter (where step = 'destination_delete') from ops.deletion_ledger"
                                ).fetchone()
        print(f"\ndeletion requests: {deletions[0]:,} people erased and verified, "
              f"{deletions[1]:,} deletes sent to destinations (ops.deletion_ledger)")


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


def identity_summary(con) -> str | None:
    """One line on the latest identity run (marts.identity_health), or None before the first."""
    if not table_exists(con, "marts", "identity_health"):
        return None
    rows = con.execute("""
        select profiles, identifiers, largest_profile_identifiers, merges, shared_value_protections
                   + profile_limit_protections, blocked_identifiers, resolution_rounds,
               pairwise_precision, pairwise_recall
        from marts.identity_health order by run_at desc limit 1""").fetchall()
    if not rows:
        return None
    profiles, identifiers, largest, merges, protections, blocked, rounds, precision, recall = rows[0]
    line = (f"{profiles:,} profiles from {identifiers:,} identifiers (largest {largest}), {merges} merges this run, "
            f"{protections} protected, {blocked} blocked, {rounds} clustering rounds")
    if precision is not None:
        line += f"; vs planted truth: pairwise precision {precision:.4f}, recall {recall:.4f}"
    return line


def print_last_run(con, settings: Settings) -> None:
    """The last run's gates, freshness per layer, failing checks and the health score."""
    if not table_exists(con, "ops", "quality_results"):
        return
    last = con.execute("select run_id, min(checked_at), max(checked_at), count(*) filter (where passed), "
                       "count(*) filter (where not passed and severity = 'error'), "
                       "count(*) filter (where not passed and severity = 'warn') from ops.quality_results "
                       "where run_id is not null group by run_id order by max(checked_at) desc limit 1").fetchone()
    if last:
        run_id, started, finished, passed, failed, warned = last
        published = table_exists(con, "ops", "audience_size_history") and con.execute(
            "select count(*) from ops.audience_size_history where run_id = ?", [run_id]).fetchone()[0] > 0
        verdict = "gates passed, serving copy published" if published else (
            "FAILED a blocking gate" if failed else "not published (partial run, or stopped before the end)")
        print(f"\nlast run {run_id} ({started:%Y-%m-%d %H:%M}-{finished:%H:%M} UTC): {verdict}; "
              f"{passed} checks passed, {failed} failed, {warned} warned")
    print("\nfreshness per layer (when its data or gates last changed)")
    loaded = con.execute("select max(loaded_at) from ops.load_manifest").fetchone()[0]
    layers = con.execute(
        "select layer, max(checked_at) from ops.quality_results where layer in ('staging', 'identity', 'marts', "
        "'audiences', 'reverse_etl') group by layer order by min(checked_at)").fetchall()
    rows = [("landing -> raw", loaded), *layers]
    if settings.serving_warehouse.exists():
        from datetime import UTC, datetime

        rows.append(("serving copy", datetime.fromtimestamp(settings.serving_warehouse.stat().st_mtime, UTC)))
    for layer, when in rows:
        print(f"  {layer:<20}{when:%Y-%m-%d %H:%M} UTC" if when else f"  {layer:<20}never")
    failing = con.execute("""
        select layer, asset, check_name, severity, target, rows_failed, checked_at from (
            select *, row_number() over (partition by asset, check_name, coalesce(target, '')
                                         order by checked_at desc) as latest
            from ops.quality_results)
        where latest = 1 and not passed order by severity, layer, asset, check_name""").fetchall()
    print(f"\nfailing checks (latest evaluation of each): {len(failing) or 'none'}")
    for layer, asset, check, severity, target, rows_failed, when in failing[:20]:
        print(f"  {severity:<6}{layer:<12}{asset} {check}" + (f" [{target}]" if target else "")
              + (f": {rows_failed:,} rows" if rows_failed else "") + f" ({when:%Y-%m-%d %H:%M})")
    if table_exists(con, "marts", "data_health_scores"):
        health = con.execute("select source, health_score, complete_share, valid_share, unique_share, fresh_share "
                             "from marts.data_health_scores where measured_at = (select max(measured_at) from "
                             "marts.data_health_scores) order by source = 'overall', source").fetchall()
        print("\ndatabase health (marts.data_health_scores, latest build)")
        print(f"  {'source':<20}{'score':>7}{'complete':>10}{'valid':>8}{'unique':>8}{'fresh':>8}")
        for source, score, complete, valid, unique, fresh in health:
            print(f"  {source:<20}{score:>7.3f}{complete:>10.3f}{valid:>8.3f}{unique:>8.3f}{fresh:>8.3f}")
