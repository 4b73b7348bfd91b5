"""Shared fixtures: an isolated landing zone, warehouse and export folder per test, and generated data.

Every test that writes points the product at its own temporary folders through the same
environment variables a user sets (CDP_LANDING_DIR, CDP_WAREHOUSE, ...), so nothing touches the
repository's warehouse/ and tests can run in any order.

Files run in parallel, one file per worker; the files that build the whole pipeline carry
`pytest.mark.slow(seconds=...)` with their measured time, and collection puts the longest first, so
no worker is left with a long file at the end while the other sits idle.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

from cdp.ingest.contract import load_contract
from cdp.ingest.loader import SourceResult, load_source
from cdp.sample_data.generator import GenerationSpec, generate
from cdp.settings import REPO_ROOT, Settings, get_settings
from cdp.warehouse import connect

SAMPLE_LANDING = REPO_ROOT / "seeds" / "landing"
SAMPLE_TRUTH = REPO_ROOT / "seeds" / "ground_truth"


def _file_seconds(item: pytest.Item) -> float:
    """The measured time of the item's file (its `slow` mark), 0 for the quick files."""
    mark = item.get_closest_marker("slow")
    return float(mark.kwargs.get("seconds", 0)) if mark else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first; tests keep their order inside a file (the sort is stable)."""
    items.sort(key=lambda item: -_file_seconds(item))


@dataclass
class Workspace:
    root: Path
    landing: Path
    settings: Settings

    def load(self, source: str | None = None) -> dict[str, SourceResult]:
        contract = load_contract()
        names = [source] if source else list(contract.sources)
        with connect(self.settings) as con:
            return {n: load_source(con, contract.sources[n], self.landing, contract) for n in names}

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


#: the PostgreSQL the tests use (a real server; CI starts it)
POSTGRES_URL = os.environ.get("CDP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def connect_test_postgres():
    """An autocommit connection to the test PostgreSQL; skips with the reason when there is none,
    except under CI=true, where the tests that need it must run."""
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at CDP_TEST_POSTGRES_URL={POSTGRES_URL}: {exc}")


def assert_nothing_sent_or_published(ws: Workspace) -> None:
    """After a failed gate: no sync wrote its export, no serving copy or dashboard was published."""
    assert not (ws.settings.export_dir / "recent_form_submitters.csv").exists()
    assert not ws.settings.serving_warehouse.exists()
    assert not (ws.settings.dashboard_dir / "index.html").exists()


def make_workspace(root: Path, landing: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("CDP_LANDING_DIR", str(landing))
    monkeypatch.setenv("CDP_WAREHOUSE", str(root / "warehouse" / "cdp.duckdb"))
    monkeypatch.setenv("CDP_SERVING_WAREHOUSE", str(root / "warehouse" / "cdp_serving.duckdb"))
    monkeypatch.setenv("CDP_EXPORT_DIR", str(root / "exports"))
    monkeypatch.setenv("CDP_GX_DIR", str(root / "warehouse" / "gx"))
    monkeypatch.setenv("CDP_DUCKDB_MEMORY_LIMIT", "2GB")
    monkeypatch.delenv("CDP_GROUND_TRUTH_DIR", raising=False)
    monkeypatch.delenv("CDP_IDENTITY_MAX_CLUSTER_SIZE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # Recording a run in the Dagster instance (SQLite, an insert per event) costs seconds a run; the
    # tests that check the recording (the session's good run, the killed run) turn it on.
    monkeypatch.setenv("CDP_RECORD_RUNS", "false")
    return Workspace(root, landing, get_settings())


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """An empty landing zone and warehouse of the test's own."""
    landing = tmp_path / "landing"
    landing.mkdir()
    return make_workspace(tmp_path, landing, monkeypatch)


@pytest.fixture
def sample_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A copy of the bundled sample landing zone with an empty warehouse."""
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    return make_workspace(tmp_path, landing, monkeypatch)


@dataclass
class GoodRun:
    """A folder holding landing/, warehouse/ (serving copy, reports, Data Docs) and exports/ after one
    good `cdp run` over the bundled sample, and what that run printed."""
    root: Path
    printed: str

    def workspace(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
        """A copy of the folder of the test's own, as the workspace the product points at."""
        for name in ("landing", "warehouse", "exports"):
            shutil.copytree(self.root / name, root / name)
        return make_workspace(root, root / "landing", monkeypatch)


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every worker of this test session sees (xdist gives each worker its own base folder,
    under one per session)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def sample_reference_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the bundled sample loaded by the loaders and its models built on DuckDB by
    `build_models` (no erasure or syncs after): the reference the engine parity tests compare each
    engine's build with. Made once per session under a lock; the tests only read it."""
    from tests.engine_parity import build_duckdb_sample

    shared = shared_dir(tmp_path_factory, "sample_reference_build")
    with FileLock(str(shared) + ".lock"):
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir(parents=True)
            with pytest.MonkeyPatch.context() as patch:
                build_duckdb_sample(shared, patch)
            (shared / "built").touch()
    return shared


@pytest.fixture(scope="session")
def sample_good_run(tmp_path_factory: pytest.TempPathFactory) -> GoodRun:
    """The bundled sample after one good run (with its ground truth), made once per test session: the
    first worker to ask builds it under a lock, the others wait and share it (each test copies it)."""
    from orchestration.run import run_pipeline

    shared = shared_dir(tmp_path_factory, "sample_good_run")
    with FileLock(str(shared) + ".lock"):
        if not (shared / "printed.txt").exists():
            shutil.rmtree(shared, ignore_errors=True)
            shutil.copytree(SAMPLE_LANDING, shared / "landing")
            printed = io.StringIO()
            with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
                make_workspace(shared, shared / "landing", patch)
                patch.setenv("CDP_GROUND_TRUTH_DIR", str(SAMPLE_TRUTH))
                patch.setenv("CDP_RECORD_RUNS", "true")  # as `make run` does: recorded for `cdp dev`
                ok = run_pipeline()
            assert ok, printed.getvalue()[-4000:]
            (shared / "printed.txt").write_text(printed.getvalue())
    return GoodRun(shared, (shared / "printed.txt").read_text())


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4,000 generated people in two chunks (seed 7): a second, larger dataset than the sample. Made once
    per test session under a lock (like the good run); the tests only read it."""
    out = shared_dir(tmp_path_factory, "generated")
    with FileLock(str(out) + ".lock"):
        if not (out / "generation.done").exists():
            shutil.rmtree(out, ignore_errors=True)
            generate(GenerationSpec(people=4000, seed=7, chunk_size=2000), out, log=lambda _: None)
            (out / "generation.done").touch()
    return out
