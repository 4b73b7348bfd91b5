"""Loading the landing zone: incremental by content hash, idempotent, and reconciling for every file."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from cdp.ingest.contract import load_contract
from cdp.ingest.loader import load_source
from cdp.warehouse import connect
from tests.conftest import Workspace, make_workspace


def _table_counts(ws: Workspace) -> dict[str, int]:
    tables = ws.query("select table_name from information_schema.tables where table_schema = 'raw'")
    return {t: ws.query(f"select count(*) from raw.{t}")[0][0] for (t,) in tables}


def _non_blank_lines(path: Path) -> int:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def assert_reconciles(ws: Workspace) -> None:
    """Every file: read = loaded + quarantined + duplicates; raw holds what the manifest says."""
    broken = ws.query("""
        select file_path from ops.load_manifest
        where rows_read <> rows_loaded + rows_quarantined + duplicates_skipped
    """)
    assert broken == []
    per_source = dict(ws.query("select source, sum(rows_loaded) from ops.load_manifest group by source"))
    tables = {name: spec.table for name, spec in load_contract().sources.items()}
    counts = _table_counts(ws)
    for source, loaded in per_source.items():
        assert counts[tables[source]] == loaded, source
    quarantined = dict(ws.query("""
        select source_file, count(*) from ops.quarantine where line_number is not null group by source_file"""))
    for path, rows_quarantined in ws.query("select file_path, rows_quarantined from ops.load_manifest"):
        assert quarantined.get(path, 0) == rows_quarantined, path
    # Independently of the loader: an events file's non-blank lines are exactly what it read.
    for path, rows_read in ws.query(
            "select file_path, rows_read from ops.load_manifest where source = 'events' and status = 'loaded'"):
        assert _non_blank_lines(Path(path)) == rows_read, path


def test_sample_loads_once_and_reconciles(sample_workspace: Workspace) -> None:
    first = sample_workspace.load()
    assert sum(r.total("rows_loaded") for r in first.values()) > 30_000
    assert first["events"].total("rows_quarantined") > 0, "the sample carries planted defects"
    assert first["events"].total("duplicates_skipped") > 0, "the sample carries duplicated messages"
    assert_reconciles(sample_workspace)
    counts = _table_counts(sample_workspace)
    quarantine = sample_workspace.query("select count(*) from ops.quarantine")[0][0]
    manifest = sample_workspace.query("select count(*) from ops.load_manifest")[0][0]

    second = sample_workspace.load()
    assert all(not r.files for r in second.values())
    assert sum(r.files_already_loaded for r in second.values()) == manifest
    assert _table_counts(sample_workspace) == counts
    assert sample_workspace.query("select count(*) from ops.quarantine")[0][0] == quarantine
    assert sample_workspace.query("select count(*) from ops.load_manifest")[0][0] == manifest


def test_generated_data_reconciles_and_matches_ground_truth(generated: Path, tmp_path: Path, monkeypatch) -> None:
    ws = make_workspace(tmp_path, generated / "landing", monkeypatch)
    results = ws.load()
    assert len(results["events"].files) == 2
    assert_reconciles(ws)
    # Every planted defect was quarantined and every clean message loaded exactly once.
    truth = f"{generated}/ground_truth/event_people/*.parquet"
    missing = ws.query(f"""
        select count(*) from '{truth}' as t
        where t.defect is null and not exists (select 1 from raw.events as e where e.message_id = t.message_id)
    """)[0][0]
    assert missing == 0
    defects = ws.query(f"select count(*) from '{truth}' where defect is not null")[0][0]
    assert results["events"].total("rows_quarantined") == defects
    duplicated = ws.query(f"select count(*) from '{truth}' where is_duplicated and defect is null")[0][0]
    assert results["events"].total("duplicates_skipped") == duplicated


def test_a_new_file_loads_only_itself(sample_workspace: Workspace, generated: Path) -> None:
    sample_workspace.load()
    before = _table_counts(sample_workspace)
    new_file = sample_workspace.landing / "events" / "late_arrivals.ndjson.gz"
    shutil.copy(generated / "landing" / "events" / "events_00000.ndjson.gz", new_file)
    result = sample_workspace.load("events")["events"]
    assert [Path(f.path).name for f in result.files] == ["late_arrivals.ndjson.gz"]
    assert result.files_already_loaded == 1
    after = _table_counts(sample_workspace)
    assert after["events"] == before["events"] + result.total("rows_loaded")
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    assert_reconciles(sample_workspace)


def test_a_renamed_copy_is_not_loaded_twice(sample_workspace: Workspace) -> None:
    sample_workspace.load()
    before = _table_counts(sample_workspace)
    source = next((sample_workspace.landing / "consent").iterdir())
    shutil.copy(source, source.with_name("consent_again.csv"))
    result = sample_workspace.load("consent")["consent"]
    assert [f.status for f in result.files] == ["skipped_same_content"]
    assert _table_counts(sample_workspace) == before
    assert sample_workspace.load("consent")["consent"].files == []


def test_quarantined_line_numbers_point_at_the_real_lines(generated: Path, tmp_path: Path, monkeypatch) -> None:
    """On large multi-threaded loads, every quarantined event's line number is its line in the file."""
    ws = make_workspace(tmp_path, generated / "landing", monkeypatch)
    ws.load("events")
    rows = ws.query("select source_file, line_number, payload from ops.quarantine where source = 'events'")
    assert len(rows) > 20
    files: dict[str, list[str]] = {}
    for source_file, line_number, payload in rows:
        if source_file not in files:
            with gzip.open(source_file, "rt", encoding="utf-8") as handle:
                files[source_file] = handle.read().split("\n")
        assert files[source_file][line_number - 1] == payload
    loaded = ws.query("select _source_file, _line_number, message_id from raw.events using sample 200 rows")
    for source_file, line_number, message_id in loaded:
        assert f'"messageId":"{message_id}"' in files[source_file][line_number - 1]


def test_a_source_load_ends_checkpointed(sample_workspace: Workspace) -> None:
    """The loader defers DuckDB's checkpoints while a source loads and makes one at the end: the rows are
    in the database file (the write-ahead log is empty) and the threshold is back to what it was."""
    contract = load_contract()
    wal = sample_workspace.settings.warehouse.with_name(sample_workspace.settings.warehouse.name + ".wal")
    with connect(sample_workspace.settings) as con:
        threshold = con.execute("select current_setting('checkpoint_threshold')").fetchall()[0][0]
        result = load_source(con, contract.sources["consent"], sample_workspace.landing, contract)
        assert result.total("rows_loaded") > 0
        assert not wal.exists() or wal.stat().st_size == 0
        assert con.execute("select current_setting('checkpoint_threshold')").fetchall()[0][0] == threshold
    assert sample_workspace.query("select count(*) from raw.consent")[0][0] == result.total("rows_loaded")


def test_contract_mistakes_name_the_source_and_key() -> None:
    """The landing contract is typed: a misspelt key, an unknown column type, a missing folder and a
    dedupe key outside the contract are each reported with the source and key."""
    import pytest
    import yaml

    from cdp.ingest.contract import CONTRACT_PATH, ContractError, parse_contract

    raw = yaml.safe_load(CONTRACT_PATH.read_text())
    assert set(parse_contract(raw, "landing_contract.yml").sources) == set(raw["sources"])
    raw["sources"]["crm_contacts"]["typess"] = {}
    raw["sources"]["ad_spend"]["types"]["spend"] = "money"
    raw["sources"]["budgets"].pop("folder")
    raw["sources"]["consent"]["dedupe_on"] = "nobody"
    with pytest.raises(ContractError) as error:
        parse_contract(raw, "landing_contract.yml")
    message = str(error.value)
    assert "landing_contract.yml: sources.crm_contacts: unknown key 'typess'" in message
    assert "sources.ad_spend.types.spend must be one of 'timestamp', 'date', 'month'" in message
    assert "sources.budgets lacks 'folder'" in message
    assert "sources.consent: dedupe_on must be 'row' or a contract column, got 'nobody'" in message
