"""What the bundled sample's syncs send is what each platform takes: after a good run over the
sample, `cdp sync` runs the sample's Google, Meta and email-platform syncs (reverse_etl/syncs.yml)
and HubSpot, Salesforce and Braze syncs of its high-intent leads against the local fakes, which hold
every request to the platform's published contract; none refuses a row, and each ends up holding
exactly the members the sync planned to send."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cdp.settings import REPO_ROOT, get_settings
from cdp.status import status_json
from cdp.sync_command import run_syncs
from tests.conftest import GoodRun, Workspace
from tests.fake_api import FakeApi, FakeApiServer
from tests.fake_braze import FakeBraze, FakeBrazeServer
from tests.fake_google_ads import FakeGoogleAds, FakeGoogleAdsServer
from tests.fake_hubspot import FakeHubSpot, FakeHubSpotServer
from tests.fake_meta import FakeMeta, FakeMetaServer
from tests.fake_salesforce import FakeSalesforce, FakeSalesforceServer

pytestmark = pytest.mark.slow(seconds=15)

LEADS = "aud_high_intent_leads"
LEAD_SYNCS = {
    "high_intent_leads_to_hubspot": {
        "destination": "hubspot", "mode": "mirror", "key": "email", "consent_purpose": "email_marketing",
        "mapping": {"email": "email", "firstname": "first_name", "lastname": "last_name", "company": "company",
                    "cdp_score": "lead_score"}, "options": {"list_id": "42"}},
    "high_intent_leads_to_salesforce": {
        "destination": "salesforce", "mode": "upsert", "key": "profile_id", "consent_purpose": "email_marketing",
        "mapping": {"CDP_Profile_Id__c": "profile_id", "Email": "email", "FirstName": "first_name",
                    "LastName": "last_name", "Lead_Score__c": "lead_score"}},
    "high_intent_leads_to_braze": {
        "destination": "braze", "mode": "upsert", "key": "profile_id", "consent_purpose": "email_marketing",
        "mapping": {"external_id": "profile_id", "email": "email", "first_name": "first_name",
                    "last_name": "last_name"}},
}


def _syncs_file(root: Path, google: str, hubspot: str, salesforce: str, braze: str) -> Path:
    """The bundled syncs.yml with three more destinations and syncs; Google's token endpoint, its own
    host in production, is served by the fake beside the API."""
    config = yaml.safe_load((REPO_ROOT / "reverse_etl" / "syncs.yml").read_text())
    config["destinations"]["google_ads"]["token_url"] = f"{google}/token"
    config["destinations"].update({
        "hubspot": {"kind": "hubspot", "default_url": hubspot, "auth_env": "CDP_TEST_HUBSPOT_TOKEN"},
        "salesforce": {"kind": "salesforce", "default_url": salesforce, "client_id_env": "CDP_TEST_SF_CLIENT_ID",
                       "client_secret_env": "CDP_TEST_SF_CLIENT_SECRET",
                       "refresh_token_env": "CDP_TEST_SF_REFRESH_TOKEN"},
        "braze": {"kind": "braze", "default_url": braze, "auth_env": "CDP_TEST_BRAZE_KEY"}})
    config["syncs"].update({name: {"audience": LEADS, **spec} for name, spec in LEAD_SYNCS.items()})
    path = root / "syncs.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _sent(ws: Workspace, sync_name: str) -> set[str]:
    return {k for (k,) in ws.query("select member_key from ops.sync_log where sync_name = ? and status = 'sent'",
                                   [sync_name])}


def test_every_platform_takes_what_the_sample_syncs_send(sample_good_run: GoodRun, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    ws = sample_good_run.workspace(tmp_path, monkeypatch)
    google = FakeGoogleAds("gid", "gsecret", "grefresh", "gdev", "1234567890", user_lists=frozenset({"9000000001"}))
    meta = FakeMeta("meta-token")
    hubspot, salesforce, braze = FakeHubSpot("hs-token"), FakeSalesforce("sfid", "sfsecret", "sfrefresh"), \
        FakeBraze("braze-key")
    email_platform = FakeApi()
    secrets = {"CDP_GOOGLE_ADS_CLIENT_ID": "gid", "CDP_GOOGLE_ADS_CLIENT_SECRET": "gsecret",
               "CDP_GOOGLE_ADS_REFRESH_TOKEN": "grefresh", "CDP_GOOGLE_ADS_DEVELOPER_TOKEN": "gdev",
               "CDP_GOOGLE_ADS_CUSTOMER_ID": "123-456-7890", "CDP_META_TOKEN": "meta-token",
               "CDP_TEST_HUBSPOT_TOKEN": "hs-token", "CDP_TEST_SF_CLIENT_ID": "sfid",
               "CDP_TEST_SF_CLIENT_SECRET": "sfsecret", "CDP_TEST_SF_REFRESH_TOKEN": "sfrefresh",
               "CDP_TEST_BRAZE_KEY": "braze-key", "CDP_EMAIL_PLATFORM_TOKEN": "esp-token"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    with FakeGoogleAdsServer(google) as g, FakeMetaServer(meta) as m, FakeHubSpotServer(hubspot) as h, \
            FakeSalesforceServer(salesforce) as s, FakeBrazeServer(braze) as b, FakeApiServer(email_platform) as e:
        monkeypatch.setenv("CDP_SYNCS_FILE", str(_syncs_file(tmp_path, g.url, h.url, s.url, b.url)))
        monkeypatch.setenv("CDP_GOOGLE_ADS_URL", g.url)
        monkeypatch.setenv("CDP_META_URL", m.url)
        monkeypatch.setenv("CDP_EMAIL_PLATFORM_URL", e.url)
        names = ["top_value_lookalike_google", "top_value_lookalike_meta", "lapsed_customers_to_email", *LEAD_SYNCS]
        status = run_syncs(get_settings(), names)
        printed = capsys.readouterr().out
        assert status == 0, printed[-3000:]

    runs = dict(ws.query("select sync_name, rows_failed from ops.sync_runs where sync_name in (select unnest(?)) "
                         "and status = 'succeeded'", [names]))
    assert runs == dict.fromkeys(names, 0), printed[-3000:]
    for name in names:
        assert _sent(ws, name), f"{name} sent nobody"
    # each platform holds what its sync sent
    assert len(google.members["9000000001"]) == len(_sent(ws, "top_value_lookalike_google"))
    assert meta.members["23850000000001"] == _sent(ws, "top_value_lookalike_meta")
    assert {c["email"] for c in hubspot.contacts.values()} == _sent(ws, "high_intent_leads_to_hubspot")
    assert salesforce.external_ids() == _sent(ws, "high_intent_leads_to_salesforce")
    assert set(braze.users) == _sent(ws, "high_intent_leads_to_braze")
    assert set(email_platform.records) == _sent(ws, "lapsed_customers_to_email")
    # the match rates the ad platforms reported (none of these people has an account at the fakes: Google's
    # lowest range, Meta's none of those received), kept with the run and shown by `cdp status --json`
    latest = {s["sync_name"]: s for s in json.loads(status_json(get_settings()))["syncs"]}
    google_run, meta_run = latest["top_value_lookalike_google"], latest["top_value_lookalike_meta"]
    assert (google_run["match_rate_low"], google_run["match_rate_high"], google_run["upload_state"]) == (
        0.0, 0.19, "SUCCESS")
    assert (meta_run["match_rate_low"], meta_run["match_rate_high"]) == (0.0, 0.0)
