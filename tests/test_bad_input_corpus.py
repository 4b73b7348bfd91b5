"""The malformed-input corpus: kinds of bad (and odd but valid) input across all six landing sources,
each landed as its own file next to the others, loaded in one run, with the exact outcome of each.

An outcome is what the landing contract (cdp/ingest/landing_contract.yml) and the
landing-zone policy say: the file's status and counts (read = loaded + quarantined + duplicates),
and for each quarantined row its line and a reason naming what was wrong. Files the zone refuses or
ignores (links, special and hidden files, other types, unowned folders) are never read and each is
reported. One file's trouble never stops the next file or source.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdp.ingest.contract import load_contract
from tests.conftest import Workspace
from tests.test_ingestion import assert_reconciles

pytestmark = pytest.mark.slow(seconds=10)

CONTACTS = "contact_id,email,phone,first_name,last_name,company,company_size,country,created_at,updated_at"
OPPS = "opportunity_id,contact_id,amount,currency,stage,created_at,closed_at,is_won"
SPEND = "date,channel,source,medium,campaign,spend,currency,impressions,clicks"
CONSENT = "identifier_type,identifier,purpose,status,recorded_at,source"
DELETION = "request_id,identifier_type,identifier,requested_at"
TS = "2026-10-01T12:00:00Z"


@dataclass
class Case:
    """One kind of input: the file it lands as and what must come of it."""
    kind: str
    source: str
    name: str
    content: bytes
    status: str = "loaded"                 # loaded | quarantined (whole file)
    loaded: int = 0
    quarantined: list[tuple[int | None, str]] = field(default_factory=list)  # (line, reason part)
    duplicates: int = 0


def lines(*rows: str | dict | bytes, newline: bytes = b"\n") -> bytes:
    out = []
    for r in rows:
        out.append(r if isinstance(r, bytes) else (json.dumps(r) if isinstance(r, dict) else r).encode())
    return newline.join(out) + newline


def ev(n: int, **over: object) -> dict:
    message: dict = {"type": "track", "messageId": f"corpus-{n}", "timestamp": TS, "anonymousId": f"anon-{n}",
                     "event": "Button Clicked", "properties": {"n": n}}
    message.update(over)
    return {k: v for k, v in message.items() if v is not ...}


def contact(cid: str, **over: str) -> str:
    row = {"contact_id": cid, "email": f"{cid.lower()}@corp.example", "phone": "", "first_name": "Ann",
           "last_name": "Lee", "company": "Corp", "company_size": "20", "country": "US", "created_at": TS,
           "updated_at": TS}
    row.update(over)
    return ",".join(row[c] for c in CONTACTS.split(","))


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"child": value}
    return value


CASES = [
    # ------------------------------------------------------------------ events (Segment Spec NDJSON)
    Case("invalid JSON line", "events", "e01.ndjson", lines(ev(101), '{"type": "track", "messageId": '),
         loaded=1, quarantined=[(2, "invalid JSON")]),
    Case("a JSON array instead of an object", "events", "e02.ndjson", lines(ev(102), "[1, 2]"),
         loaded=1, quarantined=[(2, "expected an object")]),
    Case("a bare JSON string", "events", "e03.ndjson", lines(ev(103), '"hello"'),
         loaded=1, quarantined=[(2, "expected an object")]),
    Case("blank lines between messages", "events", "e04.ndjson", lines(ev(104), "", "   ", ev(105)), loaded=2),
    Case("missing messageId", "events", "e05.ndjson", lines(ev(106), ev(107, messageId=...)),
         loaded=1, quarantined=[(2, "missing required field messageId")]),
    Case("messageId is an object", "events", "e06.ndjson", lines(ev(108, messageId={"id": 1})),
         quarantined=[(1, "messageId must be a string")]),
    Case("unknown message type", "events", "e07.ndjson", lines(ev(109, type="purchase")),
         quarantined=[(1, "unknown message type 'purchase'")]),
    Case("missing timestamp", "events", "e08.ndjson", lines(ev(110, timestamp=...)),
         quarantined=[(1, "missing required field timestamp")]),
    Case("timestamp that is not a date", "events", "e09.ndjson", lines(ev(111, timestamp="yesterday")),
         quarantined=[(1, "is not ISO 8601")]),
    Case("timestamp at the epoch (a clock reset)", "events", "e10.ndjson",
         lines(ev(112, timestamp="1970-01-01T00:00:00Z")),
         quarantined=[(1, "is before 2000-01-01")]),
    Case("timestamp far in the future", "events", "e11.ndjson", lines(ev(113, timestamp="2099-01-01T00:00:00Z")),
         quarantined=[(1, "hours in the future")]),
    Case("no anonymousId and no userId", "events", "e12.ndjson", lines(ev(114, anonymousId=...)),
         quarantined=[(1, "neither anonymousId nor userId")]),
    Case("track without an event name", "events", "e13.ndjson", lines(ev(115, event=...)),
         quarantined=[(1, "track message without an event name")]),
    Case("alias without previousId", "events", "e14.ndjson", lines(ev(116, type="alias", event=..., userId="u-116")),
         quarantined=[(1, "alias message without previousId")]),
    Case("context is a string", "events", "e15.ndjson", lines(ev(117, context="web")),
         quarantined=[(1, "context must be an object")]),
    Case("properties is an array", "events", "e16.ndjson", lines(ev(118, properties=[1, 2])),
         quarantined=[(1, "properties must be an object")]),
    Case("a top-level key holding a double quote", "events", "e17.ndjson",
         lines(ev(119), {**ev(120), 'we"ird': 1}), loaded=2),
    Case("a top-level key holding a backslash", "events", "e18.ndjson", lines({**ev(121), "back\\slash": "x"}),
         loaded=1),
    Case("an empty top-level key", "events", "e19.ndjson", lines(ev(122), {**ev(123), "": 1}),
         loaded=1, quarantined=[(2, "top-level key that is empty")]),
    Case("a top-level key given twice", "events", "e20.ndjson",
         lines(ev(124), '{"type": "track", "messageId": "corpus-125", "messageId": "corpus-999", "timestamp": "'
               + TS + '", "anonymousId": "a", "event": "x"}'),
         loaded=1, quarantined=[(2, "more than once: messageId")]),
    Case("deeply nested properties", "events", "e21.ndjson", lines(ev(126, properties=nested(60))), loaded=1),
    Case("a 300 kB property value", "events", "e22.ndjson", lines(ev(127, properties={"blob": "x" * 300_000})),
         loaded=1),
    Case("bytes that are not UTF-8", "events", "e23.ndjson",
         lines(ev(128), b'{"type": "track", "messageId": "corpus-129", "event": "\xff\xfe"}', ev(130)),
         loaded=2, quarantined=[(2, "unreadable line")]),
    Case("a UTF-8 byte-order mark", "events", "e24.ndjson", b"\xef\xbb\xbf" + lines(ev(131), ev(132)), loaded=2),
    Case("Windows line endings", "events", "e25.ndjson", lines(ev(133), ev(134), newline=b"\r\n"), loaded=2),
    Case("emoji, CJK and right-to-left text", "events", "e26.ndjson",
         lines(ev(135, properties={"name": "🎉 東京 مرحبا"})), loaded=1),
    Case("a numeric userId", "events", "e27.ndjson", lines(ev(136, userId=42)), loaded=1),
    Case("timestamp without a zone, and one with an offset", "events", "e28.ndjson",
         lines(ev(137, timestamp="2026-10-01T12:00:00"), ev(138, timestamp="2026-10-01T12:00:00+05:30")), loaded=2),
    Case("the same messageId twice in a file", "events", "e29.ndjson", lines(ev(139), ev(139)), loaded=1,
         duplicates=1),
    Case("an empty file", "events", "e30.ndjson", b""),
    Case("a truncated gzip", "events", "e31.ndjson.gz",
         gzip.compress(lines(*[ev(200 + i) for i in range(300)]))[:400],
         status="quarantined", quarantined=[(None, "could not be read")]),
    Case("plain text named .gz", "events", "e32.ndjson.gz", lines(ev(140)),
         status="quarantined", quarantined=[(None, "could not be read")]),
    Case("an order with negative revenue (fails the events suite)", "events", "e33.ndjson",
         lines(ev(141, event="Order Completed", properties={"revenue": -50, "currency": "USD"})),
         status="quarantined", quarantined=[(1, "failed expectations")]),
    Case("a JSON null line", "events", "e34.ndjson", lines(ev(142), "null"),
         loaded=1, quarantined=[(2, "expected an object")]),
    # ------------------------------------------------------------------------------ CRM contacts (CSV)
    Case("a header naming a column twice", "crm_contacts", "c01.csv",
         lines("contact_id,email,email,created_at", f"C-101,a@x.example,b@x.example,{TS}"),
         status="quarantined", quarantined=[(2, "names column(s) more than once: 'email' (columns 2, 3)")]),
    Case("a header holding a double quote", "crm_contacts", "c02.csv",
         lines(CONTACTS + ',"we""ird"', contact("C-102") + ",x"), loaded=1),
    Case("a header that reads as SQL", "crm_contacts", "c03.csv",
         lines(CONTACTS + ',"x); drop table raw.crm_contacts; --"', contact("C-103") + ",y"), loaded=1),
    Case("header names in other case and with spaces", "crm_contacts", "c04.csv",
         lines(" Contact_ID ,EMAIL,Created_At", f"C-104,c@x.example,{TS}"), loaded=1),
    Case("a header without a required column", "crm_contacts", "c05.csv",
         lines("email,created_at", f"d@x.example,{TS}"),
         status="quarantined", quarantined=[(2, "lacks required column(s) contact_id")]),
    Case("a header that is not UTF-8", "crm_contacts", "c06.csv",
         lines(b"contact_id,\xff\xfename,created_at", f"C-106,x,{TS}"),
         status="quarantined", quarantined=[(2, "not valid UTF-8")]),
    Case("a row with too many fields", "crm_contacts", "c07.csv",
         lines(CONTACTS, contact("C-107"), contact("C-108") + ",extra,fields"),
         loaded=1, quarantined=[(3, "unreadable row")]),
    Case("a row with too few fields", "crm_contacts", "c08.csv", lines(CONTACTS, contact("C-109"), "C-110,only"),
         loaded=1, quarantined=[(3, "unreadable row")]),
    Case("a company size that is not a number", "crm_contacts", "c09.csv",
         lines(CONTACTS, contact("C-111", company_size="lots")),
         quarantined=[(2, "company_size 'lots' is not an integer")]),
    Case("a created_at that is not a timestamp", "crm_contacts", "c10.csv",
         lines(CONTACTS, contact("C-112", created_at="31/12/2025")), quarantined=[(2, "is not a timestamp")]),
    Case("an empty required value", "crm_contacts", "c11.csv", lines(CONTACTS, contact("", company="NoId")),
         quarantined=[(2, "missing required value contact_id")]),
    Case("a spreadsheet formula as a name (kept as data)", "crm_contacts", "c12.csv",
         lines(CONTACTS, contact("C-113", first_name='"=HYPERLINK(""http://x.example"",""click"")"')), loaded=1),
    Case("a quoted field spanning two lines", "crm_contacts", "c13.csv",
         lines(CONTACTS, contact("C-114", company='"Two\nLines Inc"'), contact("C-115")), loaded=2),
    Case("a byte-order mark before the header", "crm_contacts", "c14.csv",
         b"\xef\xbb\xbf" + lines(CONTACTS, contact("C-116")), loaded=1),
    Case("tab-separated", "crm_contacts", "c15.tsv", lines(CONTACTS.replace(",", "\t"),
                                                            contact("C-117").replace(",", "\t")), loaded=1),
    Case("gzipped CSV", "crm_contacts", "c16.csv.gz", gzip.compress(lines(CONTACTS, contact("C-118"))), loaded=1),
    Case("Parquet with odd column names", "crm_contacts", "c17.parquet", parquet_bytes(pa.table({
        "contact_id": ["C-119"], "created_at": [TS], 'odd"name': ["q"], "semi;colon": ["s"]})), loaded=1),
    Case("an empty CSV file", "crm_contacts", "c18.csv", b""),
    Case("a header and no rows", "crm_contacts", "c19.csv", lines(CONTACTS)),
    Case("the same row twice", "crm_contacts", "c20.csv", lines(CONTACTS, contact("C-120"), contact("C-120")),
         loaded=1, duplicates=1),
    Case("an empty header line", "crm_contacts", "c21.csv", lines("", contact("C-121")),
         status="quarantined", quarantined=[(2, "no header line")]),
    # ------------------------------------------------------------------------ CRM opportunities (CSV)
    Case("is_won that is not a boolean", "crm_opportunities", "o01.csv",
         lines(OPPS, f"O-1,C-1,10,USD,won,{TS},,maybe"), quarantined=[(2, "is_won 'maybe' is not a boolean")]),
    Case("an amount that is not a number", "crm_opportunities", "o02.csv",
         lines(OPPS, f"O-2,C-1,abc,USD,won,{TS},,true"), quarantined=[(2, "amount 'abc' is not a number")]),
    Case("a negative amount (fails the opportunities suite)", "crm_opportunities", "o03.csv",
         lines(OPPS, f"O-3,C-1,-10,USD,won,{TS},,true"),
         status="quarantined", quarantined=[(2, "failed expectations")]),
    Case("a closed_at before 2000", "crm_opportunities", "o04.csv",
         lines(OPPS, f"O-4,C-1,10,USD,won,{TS},1999-12-31T00:00:00Z,true"),
         quarantined=[(2, "is before 2000-01-01")]),
    # ------------------------------------------------------------------------------ ad spend (CSV)
    Case("a date that does not exist", "ad_spend", "a01.csv",
         lines(SPEND, "2026-13-45,paid_search,google,cpc,c,1.00,USD,10,1"), quarantined=[(2, "is not a date")]),
    Case("spend with a thousands separator", "ad_spend", "a02.csv",
         lines(SPEND, '2026-10-01,paid_search,google,cpc,c,"1,234.50",USD,10,1'),
         quarantined=[(2, "spend '1,234.50' is not a number")]),
    Case("impressions as a decimal", "ad_spend", "a03.csv",
         lines(SPEND, "2026-10-02,paid_search,google,cpc,c,1.00,USD,10.5,1"),
         quarantined=[(2, "impressions '10.5' is not an integer")]),
    # ------------------------------------------------------------------------------ consent (CSV)
    Case("a status outside granted and revoked", "consent", "k01.csv",
         lines(CONSENT, f"email,a@x.example,email_marketing,maybe,{TS},web"),
         quarantined=[(2, "status 'maybe' is not one of granted, revoked")]),
    Case("an identifier type that does not exist", "consent", "k02.csv",
         lines(CONSENT, f"fax,123,email_marketing,granted,{TS},web"), quarantined=[(2, "identifier_type 'fax'")]),
    Case("accepted values in capitals", "consent", "k03.csv",
         lines(CONSENT, f"EMAIL,b@x.example,email_marketing,GRANTED,{TS},web"), loaded=1),
    # ------------------------------------------------------------------------ deletion requests (CSV)
    Case("a request without its time", "deletion_requests", "d01.csv", lines(DELETION, "R-1,email,a@x.example,"),
         quarantined=[(2, "missing required value requested_at")]),
    Case("a semicolon-separated file", "deletion_requests", "d02.csv",
         lines(DELETION.replace(",", ";"), f"R-2;email;b@x.example;{TS}"),
         status="quarantined", quarantined=[(2, "lacks required column(s)")]),
]


@dataclass
class Refused:
    kind: str
    path: str
    reason: str


def land_refused(landing: Path, outside: Path) -> list[Refused]:
    """Entries the landing-zone policy must not read, each reported."""
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (landing / "events" / "link.ndjson").symlink_to(outside)
    (landing / "crm_contacts" / "linked_folder").symlink_to(outside.parent, target_is_directory=True)
    os.mkfifo(landing / "events" / "pipe.ndjson")
    (landing / "events" / ".hidden.ndjson").write_text(json.dumps(ev(900)) + "\n")
    (landing / "events" / "notes.txt").write_text("not an event file\n")
    (landing / "mystery").mkdir()
    (landing / "README.txt").write_text("what is this\n")
    return [
        Refused("a symbolic link to a file outside the zone", "events/link.ndjson", "symbolic link"),
        Refused("a symbolic link to a folder", "crm_contacts/linked_folder", "symbolic link"),
        Refused("a named pipe", "events/pipe.ndjson", "named pipe"),
        Refused("a hidden file", "events/.hidden.ndjson", "hidden file"),
        Refused("a file of another type", "events/notes.txt", "not a events file"),
        Refused("a folder no source owns", "mystery", "no landing source owns"),
        Refused("a file at the top of the zone", "README.txt", "no landing source owns"),
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict, list[Refused], dict]:
    from cdp.ingest.contract import load_contract
    from cdp.ingest.landing_zone import scan_root
    from cdp.ingest.loader import load_source
    from cdp.quality.expectations import SuiteValidator
    from cdp.warehouse import connect
    from tests.conftest import make_workspace

    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("corpus")
    landing = root / "landing"
    for source in ("events", "crm_contacts", "crm_opportunities", "ad_spend", "consent", "deletion_requests"):
        (landing / source).mkdir(parents=True)
    for case in CASES:
        (landing / case.source / case.name).write_bytes(case.content)
    refused = land_refused(landing, root / "outside" / "passwd")
    ws = make_workspace(root, landing, monkeypatch)
    contract = load_contract()
    validator = SuiteValidator()  # as `cdp load` and the raw assets load: Great Expectations included
    with connect(ws.settings) as con:
        results = {name: load_source(con, spec, landing, contract, validator=validator)
                   for name, spec in contract.sources.items()}
    notices = {os.path.relpath(n.path, landing): n.reason for r in results.values() for n in r.notices}
    notices.update({os.path.relpath(n.path, landing): n.reason for n in scan_root(landing, load_contract())})
    yield ws, results, refused, notices
    monkeypatch.undo()


def test_corpus_has_enough_kinds_across_every_source() -> None:
    assert len(CASES) >= 60
    assert {c.source for c in CASES} == {"events", "crm_contacts", "crm_opportunities", "ad_spend", "consent",
                                         "deletion_requests"}


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_each_kind_has_its_exact_outcome(corpus, case: Case) -> None:
    ws, _, _, _ = corpus
    rows = ws.query("""select status, rows_read, rows_loaded, rows_quarantined, duplicates_skipped, reason
                       from ops.load_manifest where file_path like ?""", [f"%/{case.source}/{case.name}"])
    assert len(rows) == 1, f"{case.name} has no manifest row"
    status, read, loaded, quarantined, duplicates, _ = rows[0]
    line_rows = [q for q in case.quarantined if q[0] is not None]
    assert (status, loaded, duplicates) == (case.status, case.loaded, case.duplicates)
    assert quarantined == len(line_rows) and read == loaded + quarantined + duplicates
    held = ws.query("select line_number, reason, source_file, payload from ops.quarantine where source_file like ? "
                    "order by line_number nulls first", [f"%/{case.source}/{case.name}"])
    assert [h[0] for h in held] == [q[0] for q in case.quarantined]
    for (_, want), (_, reason, source_file, _payload) in zip(case.quarantined, held, strict=True):
        assert want in reason, (reason, want)
        assert source_file.endswith(case.name)
    if line_rows:
        assert all(h[3] for h in held if h[0] is not None), "a quarantined row keeps its payload"


def test_odd_names_are_kept_as_data_never_as_sql(corpus) -> None:
    ws, _, _, _ = corpus
    extras = dict(ws.query("select contact_id, cast(_extra as varchar) from raw.crm_contacts "
                           "where contact_id in ('C-102', 'C-103', 'C-119')"))
    assert json.loads(extras["C-102"]) == {'we"ird': "x"}
    assert json.loads(extras["C-103"]) == {"x); drop table raw.crm_contacts; --": "y"}
    assert json.loads(extras["C-119"]) == {'odd"name': "q", "semi;colon": "s"}
    events = dict(ws.query("select message_id, cast(_extra as varchar) from raw.events "
                           "where message_id in ('corpus-120', 'corpus-121')"))
    assert json.loads(events["corpus-120"]) == {'we"ird': 1}
    assert json.loads(events["corpus-121"]) == {"back\\slash": "x"}
    duplicated = ws.query("select payload from ops.quarantine where source_file like '%/c01.csv'")[0][0]
    assert json.loads(duplicated) == {"contact_id": "C-101", "email": "a@x.example", "email#2": "b@x.example",
                                      "created_at": TS}


def test_the_zone_refuses_and_reports_what_it_does_not_read(corpus) -> None:
    ws, _, refused, notices = corpus
    for entry in refused:
        assert entry.path in notices, f"{entry.kind} was not reported"
        assert entry.reason in notices[entry.path], (entry.kind, notices[entry.path])
    everything = " ".join(p for (p,) in ws.query("select coalesce(payload, '') from ops.quarantine"))
    assert "root:x:0:0" not in everything
    assert ws.query("select count(*) from ops.load_manifest where file_path like '%link%' "
                    "or file_path like '%pipe%' or file_path like '%hidden%'") == [(0,)]


def test_every_file_reconciles_and_every_source_loaded(corpus) -> None:
    ws, results, _, _ = corpus
    assert_reconciles(ws)
    assert set(results) == set(load_contract().sources)
    assert ws.query("select count(*) from raw.consent")[0][0] == 1
