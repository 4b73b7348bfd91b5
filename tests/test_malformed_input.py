"""Malformed landing files: every case is loaded or quarantined with a reason, and nothing is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from cdp.ingest.contract import load_contract
from tests.conftest import Workspace
from tests.test_ingestion import assert_reconciles

CONTACT_HEADER = "contact_id,email,phone,first_name,last_name,company,job_title,industry,company_size,country," \
                 "lead_source,created_at,updated_at"


def event(n: int, **fields) -> dict:
    message = {"type": "track", "messageId": f"m-{n}", "timestamp": "2026-10-01T12:00:00Z",
               "anonymousId": f"anon-{n}", "event": "Page Viewed", "properties": {"n": n},
               "context": {"page": {"url": "https://shop.example.com/"}}}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not ...}


def write_lines(path: Path, lines: list[str | bytes], *, newline: bytes = b"\n", gz: bool = False,
                prefix: bytes = b"") -> Path:
    data = prefix + newline.join(x if isinstance(x, bytes) else x.encode() for x in lines) + newline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def events_file(ws: Workspace, name: str, messages: list[dict | str | bytes], **kwargs) -> Path:
    lines = [json.dumps(m) if isinstance(m, dict) else m for m in messages]
    return write_lines(ws.landing / "events" / name, lines, **kwargs)


def quarantine(ws: Workspace, name: str) -> list[tuple]:
    return ws.query("select line_number, payload, reason from ops.quarantine where source_file like ? "
                    "order by line_number", [f"%/{name}"])


def manifest(ws: Workspace, name: str) -> tuple:
    rows = ws.query("select status, rows_read, rows_loaded, rows_quarantined, duplicates_skipped, reason "
                    "from ops.load_manifest where file_path like ?", [f"%/{name}"])
    assert len(rows) == 1
    return rows[0]


def test_truncated_gzip_is_quarantined_whole_and_the_run_continues(workspace: Workspace) -> None:
    good = events_file(workspace, "a_good.ndjson.gz", [event(i) for i in range(50)], gz=True)
    bad = workspace.landing / "events" / "b_truncated.ndjson.gz"
    whole = gzip.compress("\n".join(json.dumps(event(100 + i)) for i in range(500)).encode())
    bad.write_bytes(whole[: len(whole) // 2])
    result = workspace.load("events")["events"]
    assert {Path(f.path).name: f.status for f in result.files} == {good.name: "loaded", bad.name: "quarantined"}
    status, read, loaded, quarantined, _, reason = manifest(workspace, bad.name)
    assert (status, read, loaded, quarantined) == ("quarantined", 0, 0, 0)
    assert "could not be read" in reason and "gzip" in reason.lower()
    rows = quarantine(workspace, bad.name)
    assert rows == [(None, None, reason)]
    assert workspace.query("select count(*) from raw.events")[0][0] == 50
    assert_reconciles(workspace)


def test_an_invalid_json_line_among_good_ones(workspace: Workspace) -> None:
    lines: list[dict | str] = [event(i) for i in range(10)]
    lines[3] = '{"type": "track", "messageId": "m-3", "timestamp": "2026-10-01T12:'
    lines[6] = "[1, 2, 3]"
    events_file(workspace, "mixed.ndjson", lines)
    workspace.load("events")
    assert manifest(workspace, "mixed.ndjson")[:5] == ("loaded", 10, 8, 2, 0)
    rows = quarantine(workspace, "mixed.ndjson")
    assert [r[0] for r in rows] == [4, 7]
    assert rows[0][1] == lines[3] and "invalid JSON" in rows[0][2]
    assert "expected an object" in rows[1][2]
    assert_reconciles(workspace)


def test_missing_required_fields_and_wrong_types_in_events(workspace: Workspace) -> None:
    cases = {
        "no messageId": event(1, messageId=...),
        "no identity": event(2, anonymousId=...),
        "type is a number": event(3, type=42),
        "unknown type": event(4, type="purchase"),
        "properties is a string": event(5, properties="revenue=10"),
        "track without event": event(6, event=...),
        "timestamp is a number": event(7, timestamp=1700000000),
        "fine": event(8),
    }
    events_file(workspace, "types.ndjson", list(cases.values()))
    workspace.load("events")
    reasons = [r[2] for r in quarantine(workspace, "types.ndjson")]
    expected = ["missing required field messageId", "neither anonymousId nor userId", "unknown message type '42'",
                "unknown message type 'purchase'", "properties must be an object", "track message without an event",
                "timestamp '1700000000' is not ISO 8601"]
    assert len(reasons) == len(expected)
    for reason, fragment in zip(reasons, expected, strict=True):
        assert fragment in reason
    assert workspace.query("select message_id from raw.events") == [("m-8",)]


def test_unparseable_and_far_future_timestamps(workspace: Workspace) -> None:
    events_file(workspace, "time.ndjson", [
        event(1, timestamp="last tuesday"),
        event(2, timestamp="2199-01-01T00:00:00Z"),
        event(3, timestamp="1970-01-01T00:00:00Z"),
        event(4, timestamp="2026-10-01T14:00:00+02:00"),
    ])
    workspace.load("events")
    reasons = [r[2] for r in quarantine(workspace, "time.ndjson")]
    assert "is not ISO 8601" in reasons[0]
    assert "in the future" in reasons[1]
    assert "is before 2000-01-01" in reasons[2]
    loaded = workspace.query("select message_id, \"timestamp\" at time zone 'UTC' from raw.events")
    assert [(m, t.isoformat()) for m, t in loaded] == [("m-4", "2026-10-01T12:00:00")]


def test_duplicate_message_ids_within_and_across_files(workspace: Workspace) -> None:
    events_file(workspace, "a.ndjson", [event(1), event(2), event(1), event(3)])
    workspace.load("events")
    assert manifest(workspace, "a.ndjson")[:5] == ("loaded", 4, 3, 0, 1)
    events_file(workspace, "b.ndjson", [event(3), event(4), event(2)])
    workspace.load("events")
    assert manifest(workspace, "b.ndjson")[:5] == ("loaded", 3, 1, 0, 2)
    ids = workspace.query("select message_id, _line_number from raw.events order by message_id")
    assert ids == [("m-1", 1), ("m-2", 2), ("m-3", 4), ("m-4", 2)]
    assert_reconciles(workspace)


def test_empty_files(workspace: Workspace) -> None:
    (workspace.landing / "events").mkdir()
    (workspace.landing / "events" / "empty.ndjson").write_bytes(b"")
    (workspace.landing / "events" / "empty.ndjson.gz").write_bytes(gzip.compress(b""))
    (workspace.landing / "events" / "blank.ndjson").write_bytes(b"\n\n  \n")
    (workspace.landing / "crm_contacts").mkdir()
    (workspace.landing / "crm_contacts" / "empty.csv").write_bytes(b"")
    (workspace.landing / "crm_contacts" / "header_only.csv").write_text(CONTACT_HEADER + "\n")
    results = workspace.load()
    statuses = {Path(f.path).name: (f.status, f.rows_read) for r in results.values() for f in r.files}
    assert statuses == {"empty.ndjson": ("loaded", 0), "empty.ndjson.gz": ("loaded", 0),
                        "blank.ndjson": ("loaded", 0), "empty.csv": ("loaded", 0),
                        "header_only.csv": ("loaded", 0)}
    assert manifest(workspace, "blank.ndjson")[0] == "loaded"
    assert workspace.query("select blank_lines from ops.load_manifest where file_path like '%blank.ndjson'") == [(3,)]
    assert workspace.query("select count(*) from ops.quarantine") == [(0,)]
    assert_reconciles(workspace)


def test_utf8_bom_and_windows_line_endings(workspace: Workspace) -> None:
    events_file(workspace, "bom.ndjson", [event(1), event(2), event(3)], newline=b"\r\n", prefix=b"\xef\xbb\xbf")
    write_lines(workspace.landing / "crm_contacts" / "bom.csv", [
        CONTACT_HEADER,
        "C1, Ana@Example.org ,+44 20 7946 0018,Ana,Smith,Acme,CMO,Retail,25,GB,webinar,2026-05-01T10:00:00Z,",
        "C2,ben@example.org,,Ben,Jones,,,,,US,web_form,2026-05-02T10:00:00Z,2026-05-03T10:00:00Z",
    ], newline=b"\r\n", prefix=b"\xef\xbb\xbf")
    workspace.load()
    assert workspace.query("select message_id, _line_number from raw.events order by 1") == [
        ("m-1", 1), ("m-2", 2), ("m-3", 3)]
    contacts = workspace.query("select contact_id, email, updated_at, _line_number from raw.crm_contacts order by 1")
    assert contacts == [("C1", "Ana@Example.org", None, 2), ("C2", "ben@example.org", "2026-05-03T10:00:00Z", 3)]
    assert workspace.query("select count(*) from ops.quarantine") == [(0,)]


def test_non_utf8_bytes_quarantine_only_their_line(workspace: Workspace) -> None:
    events_file(workspace, "latin1.ndjson", [
        json.dumps(event(1)).encode(),
        json.dumps(event(2, event="Caf\u00e9 Visited"), ensure_ascii=False).encode("latin-1"),
        json.dumps(event(3)).encode(),
        b"\xff\xfe garbage",
        json.dumps(event(5)).encode(),
    ])
    write_lines(workspace.landing / "crm_contacts" / "latin1.csv", [
        CONTACT_HEADER.encode(),
        "C1,a@example.org,,Jos\u00e9,Garc\u00eda,,,,,ES,web_form,2026-05-01T10:00:00Z,".encode("latin-1"),
        b"C2,b@example.org,,Ben,Jones,,,,,US,web_form,2026-05-02T10:00:00Z,",
    ])
    workspace.load()
    rows = quarantine(workspace, "latin1.ndjson")
    assert [r[0] for r in rows] == [2, 4]
    assert all("unreadable line" in r[2] and "UTF" in r[2].upper() for r in rows)
    assert workspace.query("select message_id, _line_number from raw.events order by 1") == [
        ("m-1", 1), ("m-3", 3), ("m-5", 5)]
    contact_rows = quarantine(workspace, "latin1.csv")
    assert [r[0] for r in contact_rows] == [2]
    assert workspace.query("select contact_id, _line_number from raw.crm_contacts") == [("C2", 3)]
    assert_reconciles(workspace)


def test_csv_missing_a_required_column_is_quarantined_whole(workspace: Workspace) -> None:
    write_lines(workspace.landing / "crm_contacts" / "no_created_at.csv", [
        "contact_id,email,first_name", "C1,a@example.org,Ana", "C2,b@example.org,Ben"])
    write_lines(workspace.landing / "crm_contacts" / "good.csv", [
        "contact_id,created_at", "C3,2026-05-01T10:00:00Z"])
    workspace.load("crm_contacts")
    status, read, loaded, quarantined, _, reason = manifest(workspace, "no_created_at.csv")
    assert (status, read, loaded, quarantined) == ("quarantined", 2, 0, 2)
    assert "lacks required column(s) created_at" in reason
    rows = quarantine(workspace, "no_created_at.csv")
    assert [r[0] for r in rows] == [2, 3]
    assert json.loads(rows[0][1]) == {"contact_id": "C1", "email": "a@example.org", "first_name": "Ana"}
    assert workspace.query("select contact_id from raw.crm_contacts") == [("C3",)]
    assert_reconciles(workspace)


def test_csv_wrong_types_bad_values_and_ragged_rows(workspace: Workspace) -> None:
    write_lines(workspace.landing / "ad_spend" / "spend.csv", [
        "date,channel,source,medium,campaign,spend,currency,impressions,clicks",
        "2026-06-01,email,newsletter,email,spring,10.5,USD,100,5",
        "2026-06-02,email,newsletter,email,spring,N/A,USD,100,5",
        "2026-13-45,email,newsletter,email,spring,3,USD,100,5",
        "2026-06-04,email,newsletter,email,spring,3,USD,lots,5",
        "2026-06-05,email,newsletter,email,spring,3,USD,100,5,surplus",
        ",email,newsletter,email,spring,3,USD,100,5",
        "2026-06-01,email,newsletter,email,spring,10.5,USD,100,5",
    ])
    write_lines(workspace.landing / "consent" / "consent.csv", [
        "identifier_type,identifier,purpose,status,recorded_at,source",
        "email,a@example.org,email_marketing,granted,2026-05-01T10:00:00Z,web",
        "email,b@example.org,email_marketing,maybe,2026-05-01T10:00:00Z,web",
        "fax,123,email_marketing,granted,2026-05-01T10:00:00Z,web",
        "email,c@example.org,email_marketing,revoked,3026-05-01T10:00:00Z,web",
    ])
    workspace.load()
    spend = {r[0]: r[2] for r in quarantine(workspace, "spend.csv")}
    assert set(spend) == {3, 4, 5, 6, 7}
    assert "spend 'N/A' is not a number" in spend[3]
    assert "date '2026-13-45' is not a date" in spend[4]
    assert "impressions 'lots' is not an integer" in spend[5]
    assert "unreadable row" in spend[6] and "TOO MANY COLUMNS" in spend[6].upper()
    assert "missing required value date" in spend[7]
    assert manifest(workspace, "spend.csv")[:5] == ("loaded", 7, 1, 5, 1)
    consent = {r[0]: r[2] for r in quarantine(workspace, "consent.csv")}
    assert "status 'maybe' is not one of granted, revoked" in consent[3]
    assert "identifier_type 'fax' is not one of" in consent[4]
    assert "in the future" in consent[5]
    assert_reconciles(workspace)


def test_extra_and_missing_optional_columns_gzip_csv_and_parquet(workspace: Workspace) -> None:
    write_lines(workspace.landing / "crm_contacts" / "slim.csv.gz", [
        "Contact_ID,Created_At,Email,favourite_colour", "C1,2026-05-01T10:00:00Z,a@example.org,teal"], gz=True)
    parquet = workspace.landing / "crm_opportunities" / "opps.parquet"
    parquet.parent.mkdir(parents=True)
    duckdb.sql(f"""
        copy (select * from (values ('O1', 'C1', 'prospecting', timestamp '2026-05-02 10:00:00', 1200.5, 'x'),
                                    ('O2', 'C1', 'closed_won', timestamp '2026-05-03 10:00:00', 99.0, 'y'))
                 as t(opportunity_id, contact_id, stage, created_at, amount, region))
        to '{parquet}' (format parquet)
    """)
    workspace.load()
    contact = workspace.query("select contact_id, email, phone, _extra::varchar from raw.crm_contacts")
    assert contact == [("C1", "a@example.org", None, '{"favourite_colour":"teal"}')]
    opps = workspace.query("select opportunity_id, amount, currency, _extra->>'region', _line_number "
                           "from raw.crm_opportunities order by 1")
    assert opps == [("O1", "1200.5", None, "x", 1), ("O2", "99.0", None, "y", 2)]
    assert_reconciles(workspace)


def test_extra_event_fields_are_kept(workspace: Workspace) -> None:
    events_file(workspace, "extra.ndjson", [event(1, sentAt="2026-10-01T12:00:01Z", integrations={"All": True})])
    workspace.load("events")
    extra = workspace.query("select _extra from raw.events")[0][0]
    assert json.loads(extra) == {"sentAt": "2026-10-01T12:00:01Z", "integrations": {"All": True}}


@pytest.mark.parametrize("name", ["notes.txt", ".hidden.ndjson"])
def test_files_outside_the_contract_are_not_read(workspace: Workspace, name: str) -> None:
    write_lines(workspace.landing / "events" / name, [json.dumps(event(1))])
    assert workspace.load("events")["events"].files == []


AD_SPEND_HEADER = "date,channel,source,medium,campaign,spend,currency,impressions,clicks"


def _load_with_expectations(ws: Workspace, source: str):
    from cdp.ingest.loader import load_source
    from cdp.quality.expectations import SuiteValidator
    from cdp.warehouse import connect

    contract = load_contract()
    with connect(ws.settings) as con:
        return load_source(con, contract.sources[source], ws.landing, contract,
                           validator=SuiteValidator(project_dir=ws.root / "gx"))


def test_data_docs_render_each_load_s_new_results_and_drop_the_pages_of_pruned_ones(workspace: Workspace) -> None:
    from dataclasses import replace

    from cdp.ingest.loader import load_source
    from cdp.quality.expectations import SuiteValidator, load_suites
    from cdp.warehouse import connect

    contract = load_contract()
    site = workspace.root / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site"
    spend = workspace.landing / "ad_spend"
    spend.mkdir(parents=True, exist_ok=True)

    def load_new_file(n: int, keep_results: int) -> None:
        (spend / f"spend_{n}.csv").write_text(
            AD_SPEND_HEADER + "\n" + f"2026-11-0{n + 1},paid_search,google,cpc,brand,1{n}.00,USD,100,5\n")
        validator = SuiteValidator(project_dir=workspace.root / "gx",
                                   suites=replace(load_suites(), keep_results=keep_results))
        with connect(workspace.settings) as con:
            load_source(con, contract.sources["ad_spend"], workspace.landing, contract, validator=validator)
        assert validator.build_docs() == site / "index.html"

    def pages() -> dict[str, float]:
        return {p.parent.parent.name: p.stat().st_mtime_ns for p in (site / "validations").rglob("*.html")}

    load_new_file(0, keep_results=300)  # no site yet: rendered whole
    first = pages()
    assert list(first) == ["spend_0.csv batch 1"]
    load_new_file(1, keep_results=300)  # only the new result's page is rendered; the index lists both
    second = pages()
    assert set(second) == {"spend_0.csv batch 1", "spend_1.csv batch 1"}
    assert second["spend_0.csv batch 1"] == first["spend_0.csv batch 1"]
    assert "spend_0.csv batch 1" in (site / "index.html").read_text()
    load_new_file(2, keep_results=1)  # older results are pruned, and their pages with them
    assert list(pages()) == ["spend_2.csv batch 1"]
    assert "spend_0.csv batch 1" not in (site / "index.html").read_text()


def test_files_are_validated_as_one_group_and_a_failing_group_blames_only_its_bad_file(workspace: Workspace) -> None:
    spend = workspace.landing / "ad_spend"
    spend.mkdir(parents=True, exist_ok=True)
    for n in range(4):
        (spend / f"spend_{n}.csv").write_text(
            AD_SPEND_HEADER + "\n" + f"2026-11-0{n + 1},paid_search,google,cpc,brand,{10 + n}.00,USD,100,5\n")
    first = _load_with_expectations(workspace, "ad_spend")
    assert [f.status for f in first.files] == ["loaded"] * 4
    assert len(first.validations) == 1 and first.validations[0].rows == 4  # one GX run for the four files
    assert not first.validations[0].blocking

    for n in range(4, 8):
        amount = "-250.00" if n == 6 else f"{10 + n}.00"
        (spend / f"spend_{n}.csv").write_text(
            AD_SPEND_HEADER + "\n" + f"2026-11-0{n + 1},paid_search,google,cpc,brand,{amount},USD,100,5\n")
    second = _load_with_expectations(workspace, "ad_spend")
    statuses = {Path(f.path).name: f.status for f in second.files}
    assert statuses == {"spend_4.csv": "loaded", "spend_5.csv": "loaded", "spend_6.csv": "quarantined",
                        "spend_7.csv": "loaded"}
    # the failing group was validated again file by file; each file's own result decided and was recorded
    assert sorted(v.file for v in second.validations) == [f"spend_{n}.csv" for n in range(4, 8)]
    assert [v.file for v in second.validations if v.blocking] == ["spend_6.csv"]
    reason = manifest(workspace, "spend_6.csv")[5]
    assert "expect_column_values_to_be_between(spend)" in reason
    assert workspace.query("select count(*) from raw.ad_spend") == [(7,)]
    recorded = workspace.query("select target, bool_and(passed) from ops.quality_results "
                               "where engine = 'great_expectations' and target like 'spend_6.csv:%' group by 1")
    assert recorded and not all(passed for _, passed in recorded)


def test_a_warehouse_from_before_message_keys_gets_them_and_still_skips_duplicates(workspace: Workspace) -> None:
    events_file(workspace, "a.ndjson", [event(i) for i in range(5)])
    workspace.load("events")
    with duckdb.connect(str(workspace.settings.warehouse)) as con:  # as an older version left it
        con.execute("alter table raw.events drop column _message_key")
    events_file(workspace, "b.ndjson", [event(i) for i in range(3, 8)])
    result = workspace.load("events")["events"]
    assert [(f.rows_loaded, f.duplicates_skipped) for f in result.files] == [(3, 2)]
    assert workspace.query("select count(*), count(_message_key), count(distinct message_id) from raw.events") \
        == [(8, 8, 8)]
    assert workspace.query("select count(*) from raw.events where _message_key <> hash(message_id)") == [(0,)]


def test_one_load_of_overlapping_files_keeps_the_first_copy_and_a_rolled_back_file_loses_nothing(
        workspace: Workspace) -> None:
    """Files of one load are appended concurrently and commit in order: a key repeated by a later file
    is a duplicate of the earlier file's row, unless that file failed its expectations and was rolled
    back, in which case the later file's copy loads."""
    events_file(workspace, "a.ndjson", [event(1), event(2), event(3)])
    events_file(workspace, "b.ndjson", [event(3), event(4, properties={"revenue": -5}), event(5)])
    events_file(workspace, "c.ndjson", [event(5), event(6), event(2), event(4)])
    result = _load_with_expectations(workspace, "events")
    assert {Path(f.path).name: (f.status, f.rows_loaded, f.duplicates_skipped) for f in result.files} == {
        "a.ndjson": ("loaded", 3, 0), "b.ndjson": ("quarantined", 0, 0), "c.ndjson": ("loaded", 3, 1)}
    assert "expect_column_values_to_be_between(revenue)" in manifest(workspace, "b.ndjson")[5]
    ids = workspace.query("select message_id, _source_file like '%a.ndjson' from raw.events order by 1")
    assert ids == [("m-1", True), ("m-2", True), ("m-3", True), ("m-4", False), ("m-5", False), ("m-6", False)]
    assert_reconciles(workspace)


def test_a_suites_parsed_expressions_feed_its_columns_and_a_malformed_parsed_entry_names_the_source(
        tmp_path: Path) -> None:
    """`parsed` expressions are computed once per row and used by name in `columns`; a `parsed` that is
    not a mapping is refused with the source named."""
    from cdp.quality.expectations import SuiteConfigError, SuiteValidator, parse_suites

    rule = {"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "revenue", "min_value": 0}}
    suites = parse_suites({"sources": {"orders": {
        "parsed": {"fields": "json_extract_string(properties, ['$.revenue', '$.currency'])"},
        "columns": {"revenue": "try_cast(fields[1] as double)", "currency": "upper(fields[2])"},
        "expectations": [rule]}}}, "test suites", check_names=False)
    con = duckdb.connect()
    con.execute("""create table orders as select * from (values ('{"revenue": "12.5", "currency": "eur"}'::json),
                   ('{"currency": "usd"}'::json)) as t(properties)""")
    projected = SuiteValidator(tmp_path, suites).project(con, "orders", relation="orders").to_pylist()
    assert projected == [{"revenue": 12.5, "currency": "EUR"}, {"revenue": None, "currency": "USD"}]
    with pytest.raises(SuiteConfigError, match=r"sources\.orders\.parsed"):
        parse_suites({"sources": {"orders": {"parsed": ["json_extract_string(properties, '$.revenue')"],
                                             "columns": {"revenue": "1"}, "expectations": [rule]}}},
                     "test suites", check_names=False)


def test_hostile_column_and_table_names_reach_postgresql_quoted(tmp_path: Path) -> None:
    """Publishing to PostgreSQL builds DDL and COPY from column names (a tabular source's header
    among them): a name with quotes, a semicolon and a comment is a column, never SQL."""
    import uuid

    from cdp.engines.postgres_engine import PostgresEngine
    from cdp.engines.transfer import duckdb_columns, sendable_select, stream_into
    from cdp.ingest.publish import create_table_like
    from tests.conftest import POSTGRES_URL, connect_test_postgres

    hostile = 'x"); drop table ops.victim; --'
    admin = connect_test_postgres()
    database = f"cdp_hostile_{uuid.uuid4().hex[:8]}"
    admin.execute(f"create database {database}")
    try:
        import psycopg

        engine = PostgresEngine(psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database))
        try:
            engine.execute("create schema ops")
            engine.execute("create table ops.victim (id integer)")
            con = duckdb.connect(str(tmp_path / "scratch.duckdb"))
            con.execute('create table t ("' + hostile.replace('"', '""') + '" varchar, payload json)')
            con.execute("insert into t values ('it''s; fine', '{\"a\": \"b\"}')")
            columns = duckdb_columns(con, "main", "t")
            create_table_like(engine, columns, "ops", "incoming")
            assert stream_into(engine, con, sendable_select(columns, "t"), "ops", "incoming") == 1
            assert engine.table_exists("ops", "victim")
            assert hostile in engine.columns("ops", "incoming")
            assert engine.execute('select * from ops.incoming').fetchall()[0][0] == "it's; fine"
            con.close()
        finally:
            engine.close()
    finally:
        admin.execute(f"drop database if exists {database} with (force)")
        admin.close()


def test_ad_platform_ids_from_settings_and_answers_never_become_request_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids that end up in Google Ads request paths, headers and its search query (GAQL) are digits or
    refused: a customer id or manager id with query text in it stops the sync naming the variable, and
    a job name a platform answers with that is not `customers/<digits>/offlineUserDataJobs/<digits>` is
    never searched for."""
    from reverse_etl.destinations.google_customer_match import GoogleCustomerMatchDestination
    from reverse_etl.reliability import DestinationError

    settings = {"client_id_env": "T_ID", "client_secret_env": "T_SECRET", "refresh_token_env": "T_REFRESH",
                "developer_token_env": "T_DEV", "customer_id_env": "T_CUSTOMER", "login_customer_id_env": "T_LOGIN"}
    for name in ("T_ID", "T_SECRET", "T_REFRESH", "T_DEV"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("T_CUSTOMER", "123 OR 1=1")
    with pytest.raises(DestinationError, match=r"T_CUSTOMER must be a Google Ads customer id"):
        GoogleCustomerMatchDestination.from_settings("http://127.0.0.1:9", settings, {"user_list_id": "1"},
                                                     "profile_id", 1.0)
    monkeypatch.setenv("T_CUSTOMER", "123-456-7890")
    monkeypatch.setenv("T_LOGIN", "1\r\nX-Injected: yes")
    with pytest.raises(DestinationError, match=r"T_LOGIN must be a Google Ads manager customer id"):
        GoogleCustomerMatchDestination.from_settings("http://127.0.0.1:9", settings, {"user_list_id": "1"},
                                                     "profile_id", 1.0)
    monkeypatch.setenv("T_LOGIN", "111-222-3333")
    google = GoogleCustomerMatchDestination.from_settings("http://127.0.0.1:9", settings, {"user_list_id": "1"},
                                                          "profile_id", 1.0)
    assert (google.customer_id, google.login_customer_id) == ("1234567890", "1112223333")
    # no client is open: a search would fail loudly; a hostile name is turned away before any request
    assert google.upload_status("customers/1/offlineUserDataJobs/2' OR offline_user_data_job.id > 0") is None
    assert google.upload_status("customers/1/offlineUserDataJobs/2\nSELECT") is None


def test_gate_thresholds_that_would_become_sql_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt pastes the identity thresholds into SQL (macro cdp_gate): a threshold must be a number, so text
    written into gates.yml or the override variable is refused with its key before dbt ever sees it."""
    import yaml

    from cdp.gate_thresholds import GatesConfigError, dbt_gates_json, load_gates
    from cdp.settings import get_settings

    raw = yaml.safe_load(get_settings().gates_file.read_text())
    raw["identity"]["merge_jump"]["floor"] = "100) or (1=1"
    hostile = tmp_path / "gates.yml"
    hostile.write_text(yaml.safe_dump(raw))
    with pytest.raises(GatesConfigError, match=r"identity\.merge_jump\.floor"):
        load_gates(hostile)
    monkeypatch.setenv("CDP_IDENTITY_MAX_CLUSTER_SIZE", "500 or 1=1")
    with pytest.raises(ValueError, match="CDP_IDENTITY_MAX_CLUSTER_SIZE"):
        dbt_gates_json(get_settings())


def test_a_propensity_model_id_is_a_quoted_literal_in_the_scoring_sql() -> None:
    from cdp.propensity import _literal

    assert _literal("propensity_x' as y; drop table marts.dim_profiles; --") == (
        "'propensity_x'' as y; drop table marts.dim_profiles; --'")


def test_probabilistic_identity_settings_that_would_become_sql_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tier's threshold and m probabilities become numbers in Splink's SQL and its levels' labels
    text in the evidence: text where a number belongs, a switch that is not true or false, or a level
    the comparison does not know is refused naming the var before any SQL is written."""
    from cdp.identity_probabilistic import _comparisons, probabilistic_settings

    monkeypatch.setenv("CDP_DBT_VARS", '{cdp__identity_probabilistic_min_probability: "0.99) or (1=1"}')
    with pytest.raises(ValueError):
        probabilistic_settings()
    monkeypatch.setenv("CDP_DBT_VARS", '{cdp__identity_probabilistic_enabled: "yes; drop table x"}')
    with pytest.raises(ValueError, match="cdp__identity_probabilistic_enabled"):
        probabilistic_settings()
    monkeypatch.delenv("CDP_DBT_VARS")
    m = probabilistic_settings().m_probabilities
    with pytest.raises(ValueError, match=r"m_probabilities\.first_name"):
        _comparisons({**m, "first_name": {"exact' then 1 end --": 1.0}})
    with pytest.raises(ValueError):
        _comparisons({**m, "phone": {"exact": "0.9 or 1=1", "different": 0.1}})
