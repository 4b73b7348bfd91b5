"""What the whole-pipeline tests on PostgreSQL and Spark share: `cdp run` over the bundled sample on
the engine, the same steps on the DuckDB good run of the session, and what the two hold.

One `EngineRun` per engine module: the run itself (load, dbt, attribution, gates, erasure, syncs);
the sync to the PostgreSQL destination made from both warehouses, each into a database of its own;
then a poisoned landing file loaded into both, which on the engine also fails the raw gate and so
must stop every sync of that second run.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdp.cli import main as cli_main
from cdp.settings import get_settings
from cdp.warehouse import connect
from orchestration.run import run_pipeline
from tests.conftest import (
    POSTGRES_URL,
    SAMPLE_LANDING,
    SAMPLE_TRUTH,
    GoodRun,
    Workspace,
    connect_test_postgres,
    make_workspace,
)

CRM_SYNC = "high_intent_leads_to_crm"
CRM_TABLE = "cdp_high_intent_leads"
POISONED_FILE = "poisoned.ndjson"


def poisoned_lines() -> str:
    """One good event and five that break the landing contract in different ways."""
    good = {"type": "track", "messageId": "msg-poison-good-1", "timestamp": "2026-11-20T10:00:00Z",
            "anonymousId": "anon-poison-1", "event": "Page Viewed", "properties": {"path": "/"}}
    no_id = {k: v for k, v in good.items() if k != "messageId"}
    bad_time = {**good, "messageId": "msg-poison-bad-time", "timestamp": "yesterday at noon"}
    bad_type = {**good, "messageId": "msg-poison-bad-type", "type": "teleport"}
    nobody = {k: v for k, v in good.items() if k != "anonymousId"} | {"messageId": "msg-poison-nobody"}
    return "\n".join([json.dumps(good), "{this is not json", json.dumps(no_id), json.dumps(bad_time),
                      json.dumps(bad_type), json.dumps(nobody)]) + "\n"


@dataclass
class EngineRun:
    engine: str
    reference: Workspace            # a copy of the DuckDB good run, with the same sync and file applied
    ok: bool                        # the engine's `cdp run` over the sample
    printed: str
    status: str                     # `cdp status` on the engine
    verify_erasure: str             # `cdp verify-erasure` on the engine
    engine_quarantine: list[tuple]  # (line, reason) of the poisoned file on the engine
    duckdb_quarantine: list[tuple]
    poisoned_ok: bool               # the second run, with the poisoned file and a strict quarantine gate
    poisoned_printed: str
    sync_runs_before: int
    sync_runs_after: int
    engine_destination: list[tuple]
    duckdb_destination: list[tuple]
    query: Callable[..., list[tuple]]  # the engine's warehouse (DuckDB dialect, translated)
    url: str = ""                   # the engine's address, where it has one


def _capture(call: Callable[[], object]) -> tuple[object, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = call()
    return result, printed.getvalue()


def _destination_rows(url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        return sorted(tuple(r) for r in con.execute(
            f"select profile_id, email, lead_score from public.{CRM_TABLE}").fetchall())


@contextlib.contextmanager
def engine_run(engine: str, root: Path, good_run: GoodRun, configure: Callable[[pytest.MonkeyPatch], None]
               ) -> Iterator[EngineRun]:
    """Everything the module's tests read, made once (see the module)."""
    import psycopg

    admin = connect_test_postgres()
    patch = pytest.MonkeyPatch()
    destinations = {side: f"cdp_crm_{side}_{uuid.uuid4().hex[:8]}" for side in ("engine", "duckdb")}
    urls = {side: psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=name) for side, name in destinations.items()}
    for name in destinations.values():
        admin.execute(f"create database {name}")
    try:
        # the DuckDB side: a copy of the session's good run, its CRM sync sent to a database of its own
        reference = good_run.workspace(root / "duckdb", patch)
        patch.setenv("CDP_CRM_POSTGRES_URL", urls["duckdb"])
        assert cli_main(["sync", CRM_SYNC]) == 0
        (reference.landing / "events" / POISONED_FILE).write_text(poisoned_lines())
        assert cli_main(["load"]) in (0, 1)
        duckdb_quarantine = sorted(tuple(r) for r in reference.query(
            "select line_number, reason from ops.quarantine where source_file like ?", [f"%{POISONED_FILE}"]))

        # the engine: the sample, run end to end
        landing = root / "engine" / "landing"
        shutil.copytree(SAMPLE_LANDING, landing)
        make_workspace(root / "engine", landing, patch)
        patch.setenv("CDP_GROUND_TRUTH_DIR", str(SAMPLE_TRUTH))
        patch.setenv("CDP_TARGET", engine)
        patch.setenv("CDP_CRM_POSTGRES_URL", urls["engine"])
        configure(patch)
        ok, printed = _capture(run_pipeline)
        _, status = _capture(lambda: cli_main(["status"]))
        _, verified = _capture(lambda: cli_main(["verify-erasure"]))

        def query(sql: str, params: list | None = None) -> list[tuple]:
            with connect(get_settings(), read_only=True) as con:
                return [tuple(r) for r in con.execute(sql, params).fetchall()]

        sync_runs_before = query("select count(*) from ops.sync_runs")[0][0]
        engine_destination = _destination_rows(urls["engine"])
        # the poisoned file, with a quarantine gate it must fail: nothing downstream may run
        (landing / "events" / POISONED_FILE).write_text(poisoned_lines())
        patch.setenv("CDP_MAX_QUARANTINE_RATE", "0.1")
        # everything downstream of the events loader (the other loaders have no new file to load)
        poisoned_ok, poisoned_printed = _capture(lambda: run_pipeline(select="raw/events*"))
        patch.delenv("CDP_MAX_QUARANTINE_RATE")
        yield EngineRun(
            engine, reference, bool(ok), printed, status, verified,
            sorted(query("select line_number, reason from ops.quarantine where source_file like ?",
                         [f"%{POISONED_FILE}"])),
            duckdb_quarantine, bool(poisoned_ok), poisoned_printed, sync_runs_before,
            query("select count(*) from ops.sync_runs")[0][0], engine_destination,
            _destination_rows(urls["duckdb"]), query)
    finally:
        patch.undo()
        for name in destinations.values():
            admin.execute(f"drop database if exists {name} with (force)")
        admin.close()


def assert_same_destination_rows(run: EngineRun) -> None:
    """The CRM sync sent the same rows to PostgreSQL from the engine as from DuckDB."""
    assert len(run.engine_destination) > 50
    assert run.engine_destination == run.duckdb_destination


def assert_erased_and_verified(run: EngineRun) -> None:
    """As many people erased as on DuckDB, with the same raw rows in the ledger; `cdp verify-erasure`
    finds nothing, `cdp status` says so."""
    erased = run.query("select count(distinct profile_id) from ops.erased_profiles")[0][0]
    assert erased >= 1
    assert erased == run.reference.query("select count(distinct profile_id) from ops.erased_profiles")[0][0]
    # the raw rows the ledger says were erased, per table, people and rows, as on DuckDB
    ledger = ("select target, count(distinct profile_id), sum(rows_affected) from ops.deletion_ledger "
              "where step = 'erased' and target like 'raw.%' group by target order by target")
    assert run.query(ledger) == run.reference.query(ledger)
    assert len(run.query(ledger)) >= 1
    assert "nothing remains" in run.verify_erasure
    assert f"deletion requests: {erased} people erased and verified" in run.status
    assert f"{CRM_SYNC}: succeeded" in run.status


def assert_poison_quarantined_alike(run: EngineRun) -> None:
    assert len(run.duckdb_quarantine) >= 4
    assert len({reason for _, reason in run.duckdb_quarantine}) >= 3
    assert run.engine_quarantine == run.duckdb_quarantine


def assert_failed_gate_stopped_syncs(run: EngineRun) -> None:
    assert not run.poisoned_ok
    assert "FAILED raw/events: quarantine_rate" in run.poisoned_printed
    assert f"step not run (upstream failed or a blocking gate failed): reverse_etl__{CRM_SYNC}" \
        in run.poisoned_printed
    assert run.sync_runs_after == run.sync_runs_before
