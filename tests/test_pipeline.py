"""The whole pipeline through Dagster: definitions, a full in-process run, gates that stop it."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import phonenumbers
import pytest

from cdp.sample_data.vocabulary import CHANNELS
from cdp.settings import REPO_ROOT
from orchestration.assets.dbt import ensure_manifest
from orchestration.run import run_pipeline
from tests.conftest import SAMPLE_TRUTH, GoodRun, Workspace, assert_nothing_sent_or_published

pytestmark = pytest.mark.slow(seconds=50)

EXPECTED_ASSETS = {
    "raw/events", "raw/crm_contacts", "raw/crm_opportunities", "raw/ad_spend", "raw/consent",
    "raw/deletion_requests", "raw/budgets", "staging/stg_budgets__plans", "marts/budget_pacing",
    "marts/pipeline_forecast", "marts/marketing_kpis", "marts/marketing_kpi_inputs", "marts/metricflow_time_spine",
    "reports/dashboard",
    "rules/channel_rules", "rules/channel_source_categories", "rules/phone_numbering_plans",
    "rules/phone_calling_code_lengths",
    "rules/blocked_identifiers",
    "staging/stg_segment__events", "staging/stg_crm__contacts", "staging/stg_crm__opportunity_snapshots",
    "staging/stg_crm__opportunities", "staging/stg_ads__spend", "staging/stg_consent__records",
    "staging/stg_privacy__deletion_requests",
    "rules/identity_identifier_types", "rules/identity_link_rules", "rules/blocked_identifier_patterns",
    "rules/identity_nicknames", "intermediate/int_identity__match_records",
    "intermediate/identity_probabilistic_links",  # the Splink tier's links, read by int_identity__pairs
    "intermediate/int_identity__pairs", "intermediate/int_identity__identifiers", "intermediate/int_identity__edges",
    "intermediate/int_identity__protected_identifiers", "intermediate/int_identity__clusters",
    "intermediate/int_identity__event_profiles", "ops/identity_profile_assignments", "ops/identity_profile_registry",
    "ops/identity_merge_events",
    "ops/identity_protection_events", "marts/dim_profiles", "marts/profile_identifiers", "marts/canonical_id_aliases",
    "marts/identity_blocked_identifiers", "marts/identity_protections", "marts/identity_cluster_sizes",
    "marts/identity_largest_clusters", "marts/identity_accuracy", "marts/identity_health",
    "marts/identity_dropped_identifiers",
    "audiences/aud_recent_form_submitters", "audiences/aud_likely_converters",
    "intermediate/int_propensity__features", "intermediate/int_propensity__training_rows", "marts/profile_propensity",
    "rules/conversion_definitions", "rules/currency_rates", "rules/lifecycle_stages", "rules/lifecycle_stage_rules",
    "rules/lead_score_rules",
    "intermediate/int_privacy__deleted_profiles", "intermediate/int_profiles__traits",
    "intermediate/int_profiles__activity", "intermediate/int_profiles__as_of", "intermediate/int_profiles__attributes",
    "intermediate/int_marketing__touches", "intermediate/int_funnel__profile_events",
    "intermediate/int_funnel__opportunities", "intermediate/int_scoring__fit_matches",
    "intermediate/int_scoring__engagement_matches", "intermediate/int_scoring__score_steps",
    "marts/fct_conversions", "marts/lead_score_breakdown", "marts/lead_score_history", "marts/lead_scores",
    "marts/lifecycle_stage_signals", "marts/lifecycle_stage_history", "marts/lifecycle_regression_attempts",
    "marts/fct_funnel_profiles", "marts/funnel_stage_conversion", "marts/funnel_lead_velocity",
    "marts/fct_opportunities", "marts/funnel_pipeline_performance", "marts/funnel_accounts",
    "marts/fct_attribution_touches", "marts/attribution_credits", "marts/attribution_model_comparison",
    "intermediate/int_attribution__paths", "intermediate/int_attribution__markov_transitions",
    "marts/attribution_markov", "intermediate/int_attribution__coalitions", "marts/attribution_shapley",
    "marts/attribution_roi", "reports/attribution_comparison", "marts/attribution_data_driven_credits",
    "audiences/aud_high_intent_leads", "audiences/aud_lapsed_customers", "audiences/aud_top_value_customers",
    "audiences/aud_suppression_list", "rules/suppression_rules", "privacy/erasure",
    "reverse_etl/recent_form_submitters_csv", "reverse_etl/high_intent_leads_to_crm",
    "reverse_etl/high_intent_leads_parquet", "reverse_etl/lapsed_customers_to_email",
    "reverse_etl/top_value_lookalike_google", "reverse_etl/top_value_lookalike_meta",
    "reverse_etl/suppression_list_jsonl", "serving/warehouse_copy", "marts/data_health_scores",
    "ops/load_manifest",  # the dbt source the health score reads (written by the loaders)
    "ops/erased_profiles",  # the dbt source of who was erased (written by privacy/erasure, after the build)
    "ops/holdout_assignments",  # the dbt source of holdout membership (written when syncs plan)
    "marts/activation_holdout_lift",
    "ops/sync_runs", "ops/sync_log", "marts/contact_ledger",  # what the syncs sent, read back by the ledger
}


EMAIL_TEXT = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PHONE_TEXT = r"\+[1-9][0-9]{7,14}"


def assert_no_clear_personal_data(serving: duckdb.DuckDBPyConnection) -> None:
    """Scan every text column of the serving copy (configuration in `rules` aside) for anything that
    looks like an email address or an E.164 phone number."""
    columns = serving.execute("""select table_schema, table_name, column_name from information_schema.columns
                                 where data_type in ('VARCHAR', 'JSON') and table_schema <> 'rules'""").fetchall()
    assert len(columns) > 50
    found = []
    for schema, table, column in columns:
        hits = serving.execute(f"""select count(*) from "{schema}"."{table}"
                                   where regexp_matches(cast("{column}" as varchar), ?)
                                      or regexp_matches(cast("{column}" as varchar), ?)""",
                               [EMAIL_TEXT, PHONE_TEXT]).fetchone()[0]
        if hits:
            found.append((schema, table, column, hits))
    assert found == [], "clear emails or phones in the serving copy"


def test_definitions_form_one_lineage_graph() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    staging_parents = {k.to_user_string() for k in graph.get(
        next(k for k in graph.get_all_asset_keys() if k.path == ["staging", "stg_segment__events"])).parent_keys}
    assert "raw/events" in staging_parents
    checks = {f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys}
    assert "raw/events:reconciliation" in checks
    assert any(c.startswith("staging/stg_segment__events:unique_") for c in checks)
    assert "raw/events:source_unique_raw_events_message_id" in checks  # dbt source tests check raw assets
    # Every dbt test is an asset check (a singular test with several parents needs meta.dagster.ref,
    # else dagster-dbt logs it as a bare observation).
    manifest = json.loads(ensure_manifest().read_text())
    dbt_tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    assert dbt_tests and dbt_tests <= {c.name for c in graph.asset_check_keys}
    assert defs.resolve_job_def("cdp_pipeline") is not None
    assert {s.name for s in defs.schedules} == {"cdp_daily", "sync_high_intent_leads_to_crm"}
    assert "reverse_etl/high_intent_leads_to_crm:guardrails" in checks
    sync_parents = {k.to_user_string() for k in graph.get(dg.AssetKey(["reverse_etl", "high_intent_leads_to_crm"])
                                                          ).parent_keys}
    assert sync_parents == {"audiences/aud_high_intent_leads", "audiences/aud_suppression_list", "privacy/erasure"}
    assert {s.name for s in defs.sensors} == {"landing_files_sensor", "cdp_alerts"}


def library_e164(raw: str, region: str) -> str | None:
    """What libphonenumber makes of a phone typed into a form: E.164 when it is a possible number."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if re.fullmatch(r"(\d)\1*", re.sub(r"\D", "", text)):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if (
        phonenumbers.is_possible_number(number)) else None


def _export_rows(ws: Workspace) -> list[dict]:
    with (ws.settings.export_dir / "recent_form_submitters.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_full_run_on_the_sample(sample_good_run: GoodRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the session's one good run over the sample (shared with the gate tests), in a copy of this test's own
    ws = sample_good_run.workspace(tmp_path, monkeypatch)
    monkeypatch.setenv("CDP_GROUND_TRUTH_DIR", str(SAMPLE_TRUTH))
    printed = sample_good_run.printed
    assert "cdp run succeeded" in printed and "0 failed" in printed
    # progress: one line per step, the last one finishing every step of the run
    assert re.search(r"^\[(\d+)/\1\] done +reports__dashboard in [0-9.]+s", printed, flags=re.M), printed[:2000]

    # The run is recorded in the Dagster instance beside the warehouse, which `cdp dev` opens.
    run_prefix = re.search(r"cdp run succeeded in [0-9.]+s \(run (\w+)\)", printed).group(1)
    with dg.DagsterInstance.from_config(str(ws.settings.warehouse.parent / "dagster")) as instance:
        [run] = [r for r in instance.get_runs() if r.run_id.startswith(run_prefix)]
        assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "cdp_pipeline"
        recorded = instance.get_latest_materialization_event(dg.AssetKey(["marts", "dim_profiles"]))
        assert recorded is not None and recorded.run_id == run.run_id
        # with the warehouse's column types and the descriptions the marts' YAML documents
        schema = recorded.asset_materialization.metadata["dagster/column_schema"].value
        columns = {c.name: c for c in schema.columns}
        assert columns["profile_id"].type.upper() == "VARCHAR" and "profile" in columns["profile_id"].description
        assert len(columns) == ws.query("select count(*) from information_schema.columns where table_schema = "
                                        "'marts' and table_name = 'dim_profiles'")[0][0]

    # The CSV sync sends the audience minus the suppression list, and logs who it held back and why.
    audience = ws.query("select profile_id, email, email_sha256 from audiences.aud_recent_form_submitters "
                        "where profile_id not in (select profile_id from audiences.aud_suppression_list) "
                        "order by profile_id")
    exported = _export_rows(ws)
    assert len(audience) > 20
    assert [(r["profile_id"], r["email"], r["email_sha256"]) for r in exported] == audience
    sent = ws.query("select status, rows_planned, rows_sent, rows_skipped_consent from ops.sync_runs "
                    "where sync_name = 'recent_form_submitters_csv'")
    suppressed = ws.query("select count(*) from audiences.aud_recent_form_submitters where profile_id in "
                          "(select profile_id from audiences.aud_suppression_list)")[0][0]
    assert sent == [("succeeded", len(audience), len(audience), suppressed)]
    held = ws.query("select count(*) from ops.sync_log where sync_name = 'recent_form_submitters_csv' "
                    "and status = 'held_back' and reason like 'suppressed: %'")[0][0]
    assert held == suppressed
    statuses = dict(ws.query("select sync_name, status from ops.sync_runs"))
    assert statuses["high_intent_leads_to_crm"] == "not_configured"        # no CDP_CRM_POSTGRES_URL here
    assert statuses["high_intent_leads_parquet"] == statuses["suppression_list_jsonl"] == "succeeded"

    # The sample's deletion requests: matched, erased from every layer, verified; nothing remains.
    from cdp.privacy import verify_erasure
    from cdp.warehouse import connect

    ledger = dict(ws.query("select step, count(distinct profile_id) from ops.deletion_ledger group by 1"))
    requests = ws.query("select count(*) from raw.deletion_requests")[0][0]
    assert requests >= 1 and ledger["matched"] == ledger["verified"] >= 1
    erased = ws.query("select profile_id from ops.erased_profiles")
    assert ws.query(f"select count(*) from marts.dim_profiles where profile_id in "
                    f"({', '.join(repr(p) for (p,) in erased)})") == [(0,)]
    with connect(ws.settings) as con:
        assert verify_erasure(con) == {}
        # the verification can fail: a raw event carrying a deleted person's identifier is found
        con.execute("""insert into raw.events
                       select e.* replace ('leak-1' as message_id, (
                           select d.identifier from staging.stg_privacy__deletion_requests as d
                           inner join ops.erased_profiles using (request_id) limit 1) as user_id)
                       from raw.events as e limit 1""")
        assert verify_erasure(con) == {"raw.events": 1}
        con.execute("delete from raw.events where message_id = 'leak-1'")
        # ... and inside the raw JSON, where the landing contract places a device id and an email
        identifier = con.execute("select d.identifier from staging.stg_privacy__deletion_requests as d "
                                 "inner join ops.erased_profiles using (request_id) limit 1").fetchone()[0]
        con.execute("""insert into raw.events
                       select e.* replace ('leak-' || k as message_id, null as user_id, null as traits,
                                           case k when 2 then json_object('device', json_object('id', upper(?)))
                                                else json_object('traits', json_object('email', ?)) end as context)
                       from (select * from raw.events limit 1) as e, range(2, 4) as r(k)""", [identifier, identifier])
        assert verify_erasure(con) == {"raw.events": 2}
        con.execute("delete from raw.events where message_id in ('leak-2', 'leak-3')")

    # Staging against the generator's ground truth: phones in every national format become the
    # person's true E.164 number; emails normalise to the true address.
    truth = f"{SAMPLE_TRUTH}/people/*.parquet"
    contact_people = f"{SAMPLE_TRUTH}/contact_people/*.parquet"
    phones = ws.query(f"""
        select count(*), count(*) filter (where c.phone_e164 = p.phone_e164)
        from staging.stg_crm__contacts as c
        inner join '{contact_people}' as cp using (contact_id)
        inner join '{truth}' as p using (person_id)
        where c.phone_raw is not null and cp.defect is null
    """)[0]
    assert phones[0] > 100 and phones[1] == phones[0]
    # ... and agree with libphonenumber on every raw phone (CRM with the contact's country, events
    # with the default), reading "00" as "+" whatever the region and never taking placeholders.
    crm_phones = ws.query("select distinct phone_raw, coalesce(country, 'US'), phone_e164 "
                          "from staging.stg_crm__contacts where phone_raw is not null")
    event_phones = ws.query("""
        select distinct coalesce(json_extract_string(r.traits, '$.phone'),
                                 json_extract_string(r.context, '$.traits.phone')) as raw, 'US', s.phone_e164
        from raw.events as r inner join staging.stg_segment__events as s using (message_id)
        where raw is not null""")
    assert len(crm_phones) > 100 and len(event_phones) > 100
    disagree = [row for row in crm_phones + event_phones if row[2] != library_e164(row[0], row[1])]
    assert disagree == []
    emails = ws.query(f"""
        select count(*), count(*) filter (where c.email = p.email)
        from staging.stg_crm__contacts as c
        inner join '{contact_people}' as cp using (contact_id)
        inner join '{truth}' as p using (person_id)
        where c.email is not null and not c.email_is_blocked and cp.defect is null
    """)[0]
    assert emails[0] > 100 and emails[1] == emails[0]
    channels = dict(ws.query("select channel, count(*) from staging.stg_segment__events group by 1"))
    assert len(set(channels) - {"internal"}) >= 10
    # every generated UTM/referrer combination lands in the channel the generator planted
    assert set(channels) - {"internal"} <= {c.name for c in CHANNELS}, set(channels)

    # No deleted or unsubscribed person is in the audience; no placeholder email either.
    leaks = ws.query("""
        select count(*) from audiences.aud_recent_form_submitters as a
        where a.email in (select identifier from staging.stg_privacy__deletion_requests)
           or a.email in (select identifier from staging.stg_consent__records
                          where purpose = 'email_marketing' and status = 'revoked'
                            and recorded_at = (select max(recorded_at) from staging.stg_consent__records as r2
                                               where r2.identifier = stg_consent__records.identifier
                                                 and r2.purpose = 'email_marketing'))
           or a.email in (select identifier from rules.blocked_identifiers)
    """)[0][0]
    assert leaks == 0

    # Identity resolution against the planted truth, as the pipeline itself reports it.
    health = ws.query("""select pairwise_precision, pairwise_recall, largest_profile_identifiers,
                                profiles_breaking_limits, events_resolved, events from marts.identity_health""")
    assert len(health) == 1
    precision, recall, largest, breaking, resolved, events = health[0]
    assert precision >= 0.99 and recall >= 0.98
    assert largest < 50 and breaking == 0 and resolved == events

    # The serving copy holds the marts and audiences, and opens read-only beside nothing else.
    serving = duckdb.connect(str(ws.settings.serving_warehouse), read_only=True)
    try:
        assert serving.execute("select count(*) from audiences.aud_recent_form_submitters").fetchall() == ws.query(
            "select count(*) from audiences.aud_recent_form_submitters")
        assert_no_clear_personal_data(serving)
        # the warehouse keeps the clear values the syncs send; the copy holds their SHA-256
        assert ws.query("select count(*) from audiences.aud_recent_form_submitters where email like '%@%'")[0][0] > 0
        assert serving.execute("""select count(*) from audiences.aud_recent_form_submitters
                                  where length(email) = 64""").fetchall() == ws.query(
            "select count(email) from audiences.aud_recent_form_submitters")
        assert "payload" not in {c for (c,) in serving.execute(
            "select column_name from information_schema.columns where table_name = 'quarantine'").fetchall()}
    finally:
        serving.close()

    # The attribution chart: every model, rule-based and data-driven, as a column of the heat map.
    report = (ws.settings.warehouse.parent / "reports" / "attribution_comparison.html").read_text()
    assert all(f"<th>{m}</th>" in report for m in ("first_touch", "w_shaped", "custom", "markov", "shapley"))

    # The BI contract: every column of every mart and audience is documented in the dbt YAML (the
    # tables the Markov and Shapley step writes are documented as dbt sources).
    manifest = json.loads((REPO_ROOT / "dbt_project" / "target" / "manifest.json").read_text())
    nodes = [*manifest["nodes"].values(), *manifest["sources"].values()]
    documented = {(n["schema"], n["name"], c) for n in nodes
                  if n["resource_type"] in ("model", "source") for c, spec in n["columns"].items()
                  if spec.get("description")}
    columns = set(ws.query("""select table_schema, table_name, column_name from information_schema.columns
                              where table_schema in ('marts', 'audiences')"""))
    assert columns and columns - documented == set()

    # A second run over the same files changes nothing and re-sends the same audience.
    counts = ws.query("select count(*) from staging.stg_segment__events")
    assert run_pipeline() is True
    assert ws.query("select count(*) from staging.stg_segment__events") == counts
    assert [(r["profile_id"], r["email"], r["email_sha256"]) for r in _export_rows(ws)] == audience


def test_a_failed_gate_stops_everything_downstream(sample_workspace: Workspace, monkeypatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    """More quarantined rows than CDP_MAX_QUARANTINE_RATE allows: nothing after raw is built or sent."""
    ws = sample_workspace
    broken = ws.landing / "events" / "broken.ndjson"
    broken.write_text("\n".join(json.dumps({"type": "track", "messageId": f"x{i}"}) for i in range(5000)) + "\n")
    monkeypatch.setenv("CDP_MAX_QUARANTINE_RATE", "0.05")
    assert run_pipeline() is False
    printed = capsys.readouterr().out
    assert "FAILED raw/events: quarantine_rate" in printed
    assert_nothing_sent_or_published(ws)
    tables = ws.query("select table_schema from information_schema.tables where table_schema = 'audiences'")
    assert tables == []


def test_new_landing_file_flows_through_incrementally(sample_good_run: GoodRun, generated: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ws = sample_good_run.workspace(tmp_path, monkeypatch)
    upstream_of_staging = "*staging/stg_segment__events"   # loaders and staging; the full run is tested above
    before = ws.query("select count(*) from staging.stg_segment__events")[0][0]
    shutil.copy(generated / "landing" / "events" / "events_00001.ndjson.gz", ws.landing / "events" / "new.ndjson.gz")
    assert run_pipeline(select=upstream_of_staging) is True
    raw_new = ws.query("select count(*) from raw.events where _source_file like '%new.ndjson.gz'")[0][0]
    assert raw_new > 1000
    assert ws.query("select count(*) from staging.stg_segment__events")[0][0] == before + raw_new
    assert ws.query("select count(*) - count(distinct message_id) from staging.stg_segment__events") == [(0,)]


def test_landing_sensor_requests_a_run_only_when_files_change(sample_workspace: Workspace) -> None:
    import dagster as dg

    from orchestration.schedules import landing_files_sensor

    first = landing_files_sensor(dg.build_sensor_context(cursor=None))
    assert isinstance(first, dg.RunRequest)
    signature = first.run_key
    unchanged = landing_files_sensor(dg.build_sensor_context(cursor=signature))
    assert isinstance(unchanged, dg.SkipReason)
    (sample_workspace.landing / "consent" / "late.csv").write_text(
        "identifier_type,identifier,purpose,status,recorded_at,source\n"
        "email,a@example.org,email_marketing,granted,2026-05-01T10:00:00Z,web\n")
    changed = landing_files_sensor(dg.build_sensor_context(cursor=signature))
    assert isinstance(changed, dg.RunRequest) and changed.run_key != signature


def test_multiprocess_run_keeps_one_warehouse_writer(sample_workspace: Workspace, tmp_path: Path) -> None:
    """Under a real Dagster instance (as `dagster dev` runs it: one process per step), the project's
    dagster.yaml limits the `duckdb` pool to one step, and every step of the pipeline is in that pool,
    so loaders, dbt, gates and syncs never open the warehouse together."""
    import os
    import subprocess
    import sys

    from cdp.settings import REPO_ROOT
    from orchestration.assets.resources import WAREHOUSE_POOL
    from orchestration.definitions import defs

    steps = defs.resolve_job_def("cdp_pipeline").nodes
    assert len(steps) > 20 and {n.name: n.definition.pool for n in steps} == {n.name: WAREHOUSE_POOL for n in steps}
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        # two loaders with nothing between them: without the pool they would open the warehouse at once
        # (a step process each costs seconds to start, so not the whole graph: that runs in-process
        # in the other tests)
        [str(dagster), "asset", "materialize", "-m", "orchestration.definitions",
         "--select", "raw/events,raw/crm_contacts"],
        cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True,
        timeout=900, check=False,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "RUN_SUCCESS" in log
    assert "Step blocked by limit for pool duckdb" in log
    assert "Could not open the warehouse" not in log
    assert sample_workspace.query("select count(*) from raw.events")[0][0] > 20_000
    assert sample_workspace.query("select count(*) from raw.crm_contacts")[0][0] > 1_000
