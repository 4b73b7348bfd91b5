"""Loading a landing folder into `raw.<table>`: new files only, one transaction per file.

A file is known by the SHA-256 of its bytes. `ops.load_manifest` holds one row per (path, hash), so a
re-run loads nothing, a new or changed file loads only itself, and a copy of an already-loaded file
under another name is recorded as `skipped_same_content` without loading a row twice.

Within a file's transaction: the file is validated into good rows and quarantined rows (see
`events_file` and `table_file`), duplicates are removed (by `messageId`, or by the whole row for
tabular sources) against the file itself and against what raw already holds, and the manifest row
records read = loaded + quarantined + duplicates skipped, which is asserted before commit. A file
that cannot be read at all (truncated gzip, not a CSV) loads nothing and is quarantined whole.

Two files are staged and validated (contract, then Great Expectations) at a time, each on its own
cursor, while their transactions commit one at a time in file order: the single-threaded read of one
file and its Great Expectations run (mostly Python) overlap the parsing and inserting of the other,
and the result is the same as loading them one by one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest.contract import LandingContract, SourceSpec, load_contract
from orchestration.ingest.events_file import RAW_EVENTS_DDL, stage_events_file
from orchestration.ingest.reading import drop_temp_objects, sql_string
from orchestration.ingest.table_file import raw_table_ddl, stage_table_file
from orchestration.quality.expectations import FileValidation, SuiteValidator
from orchestration.quality.results import record_outcomes

log = logging.getLogger(__name__)

#: every column of ops.load_manifest a load writes (rows_erased is the privacy erasure's)
MANIFEST_COLUMNS = ("(file_path, source, file_hash, file_bytes, status, rows_read, rows_loaded, rows_quarantined, "
                    "duplicates_skipped, blank_lines, reason, loaded_at, load_seconds)")


class ReconciliationError(RuntimeError):
    """A file's counts do not add up; the file's transaction is rolled back."""


@dataclass(frozen=True)
class FileResult:
    path: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicates_skipped: int
    blank_lines: int
    seconds: float
    reason: str | None = None


@dataclass
class SourceResult:
    source: str
    files: list[FileResult]
    files_already_loaded: int
    validations: list[FileValidation] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def discover(landing_dir: Path, spec: SourceSpec) -> list[Path]:
    folder = landing_dir / spec.folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(spec.suffixes)
                  and not p.name.startswith("."))


def ensure_raw_table(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    con.execute(RAW_EVENTS_DDL if spec.format == "ndjson" else raw_table_ddl(spec))


def _dedupe_key(spec: SourceSpec) -> str:
    return "message_id" if spec.format == "ndjson" else "_row_hash"


READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)


@dataclass
class _Staged:
    """A file validated into its cursor's temp objects `_good` / `_bad`, or why it could not be read."""
    path: Path
    file_hash: str
    started: float
    blank: int = 0
    file_reason: str | None = None
    read_error: str | None = None


def _stage(cur: duckdb.DuckDBPyConnection, spec: SourceSpec, contract: LandingContract,
           path: Path, file_hash: str) -> _Staged:
    staged = _Staged(path, file_hash, time.perf_counter())
    try:
        if spec.format == "ndjson":
            staged.blank = stage_events_file(cur, spec, contract, path, file_hash)
        else:
            staged.file_reason = stage_table_file(cur, spec, contract, path, file_hash)
    except READ_ERRORS as exc:
        staged.read_error = f"file could not be read: {str(exc).splitlines()[0]}"
    return staged


def _validate(cur: duckdb.DuckDBPyConnection, spec: SourceSpec, staged: _Staged,
              validator: SuiteValidator | None) -> FileValidation | None:
    """Great Expectations on a staged file's loadable rows. It reads only the file's own temp objects, so
    it runs before the file's turn to commit, while another file is being inserted."""
    if validator is None or staged.read_error is not None:
        return None
    return validator.validate(cur, spec.name, str(staged.path))


def _commit(cur: duckdb.DuckDBPyConnection, spec: SourceSpec, staged: _Staged,
            validation: FileValidation | None = None, run_id: str | None = None) -> FileResult:
    """Deduplicate, insert, quarantine and record one staged (and validated) file in one transaction. A
    file failing an error-severity expectation loads nothing: it is quarantined whole with the failed
    expectations as the reason."""
    cur.execute("begin transaction")
    try:
        if validation is not None:
            record_outcomes(cur, validation.outcomes, run_id)
        if staged.read_error is not None or (validation is not None and validation.blocking):
            reason = staged.read_error or validation.reason()  # type: ignore[union-attr]
            result = _quarantine_whole_file(cur, spec, staged.path, staged.file_hash, reason,
                                            time.perf_counter() - staged.started)
        else:
            result = _insert_staged(cur, spec, staged)
        cur.execute("commit")
    except Exception:
        cur.execute("rollback")
        raise
    return result


def _insert_staged(con: duckdb.DuckDBPyConnection, spec: SourceSpec, staged: _Staged) -> FileResult:
    path, file_hash, file_reason, blank = staged.path, staged.file_hash, staged.file_reason, staged.blank
    key = _dedupe_key(spec)
    good = con.execute("select count(*) from _good").fetchall()[0][0]
    bad = con.execute("select count(*) from _bad").fetchall()[0][0]
    loaded = 0
    if good:
        # Keep the first copy of each key within the file, and only keys raw does not hold yet. The
        # duplicate lines are found on the narrow (key, line) pairs, not on whole rows.
        # Keys raw already holds: the file's keys are the hash table and raw's key column is only
        # scanned, so the cost per file stays small as raw grows.
        con.execute(f"""
            create or replace temp table _existing as
            select distinct r.{key} from raw.{spec.table} as r
            semi join (select {key} from _good) as g on g.{key} = r.{key}
        """)
        con.execute(f"""
            create or replace temp table _repeats as
            select {key}, _line_number from (
                select {key}, _line_number,
                       row_number() over (partition by {key} order by _line_number) as copy_number
                from _good
            ) where copy_number > 1
            union all
            select g.{key}, g._line_number from _good as g semi join _existing as e on e.{key} = g.{key}
        """)
        loaded = con.execute(f"""
            insert into raw.{spec.table} by name
            select g.* from _good as g
            anti join _repeats as d on d.{key} = g.{key} and d._line_number = g._line_number
        """).fetchall()[0][0]
    duplicates = good - loaded
    con.execute(f"""
        insert into ops.quarantine
        select {sql_string(spec.name)}, {sql_string(path)}, {sql_string(file_hash)}, line_number, payload,
               reason, now()
        from _bad
    """)
    if file_reason and not bad:
        _quarantine_file_row(con, spec, path, file_hash, file_reason)
    read = good + bad
    if read != loaded + bad + duplicates:  # pragma: no cover - guards the arithmetic above
        raise ReconciliationError(f"{path}: read {read} != loaded {loaded} + quarantined {bad} + dup {duplicates}")
    status = "quarantined" if file_reason else "loaded"
    seconds = time.perf_counter() - staged.started
    con.execute(
        f"insert into ops.load_manifest {MANIFEST_COLUMNS} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
        [str(path), spec.name, file_hash, path.stat().st_size, status, read, loaded, bad, duplicates, blank,
         file_reason, seconds],
    )
    return FileResult(str(path), status, read, loaded, bad, duplicates, blank, seconds, file_reason)


def _quarantine_file_row(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, file_hash: str,
                         reason: str) -> None:
    """One quarantine row for a whole file (no line, no payload: the file itself stays in landing)."""
    con.execute("insert into ops.quarantine values (?, ?, ?, null, null, ?, now())",
                [spec.name, str(path), file_hash, reason])


def _quarantine_whole_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, file_hash: str,
                           reason: str, seconds: float) -> FileResult:
    _quarantine_file_row(con, spec, path, file_hash, reason)
    con.execute(f"insert into ops.load_manifest {MANIFEST_COLUMNS} "
                "values (?, ?, ?, ?, 'quarantined', 0, 0, 0, 0, 0, ?, now(), ?)",
                [str(path), spec.name, file_hash, path.stat().st_size, reason, seconds])
    return FileResult(str(path), "quarantined", 0, 0, 0, 0, 0, seconds, reason)


class _InOrder:
    """Lets workers commit strictly in file order while they stage files concurrently."""

    def __init__(self) -> None:
        self._turn = 0
        self._failed = False
        self._condition = threading.Condition()

    def wait_for(self, position: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._turn == position or self._failed)
            if self._failed:
                raise RuntimeError("an earlier file failed to load; stopping")

    def done(self, *, failed: bool = False) -> None:
        with self._condition:
            self._turn += 1
            self._failed = self._failed or failed
            self._condition.notify_all()


def load_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec, landing_dir: Path,
                contract: LandingContract | None = None,
                progress: Callable[[str], None] | None = None, workers: int = 2,
                validator: SuiteValidator | None = None, run_id: str | None = None) -> SourceResult:
    """Load every new file of one source; returns what each file did.

    Files are validated by `workers` threads at once, each on its own cursor (so reading one file,
    which is single-threaded, overlaps parsing and inserting another); the transactions that insert
    them commit one at a time in file order, so deduplication sees every earlier file and a rerun
    makes the same choices. With a `validator`, each file is also checked against its source's Great
    Expectations suite before it commits (see `orchestration.quality.expectations`).
    """
    contract = contract or load_contract()
    say = progress or log.info
    ensure_raw_table(con, spec)
    files = discover(landing_dir, spec)
    seen = {(r[0], r[1]) for r in con.execute(
        "select file_path, file_hash from ops.load_manifest where source = ?", [spec.name]).fetchall()}
    known_hashes = {h for _, h in seen}
    results: list[FileResult] = []
    validations: list[FileValidation] = []
    already = 0
    todo: list[tuple[int, Path, str]] = []
    for number, path in enumerate(files, start=1):
        file_hash = file_sha256(path)
        if (str(path), file_hash) in seen:
            already += 1
        elif file_hash in known_hashes:
            con.execute(f"insert into ops.load_manifest {MANIFEST_COLUMNS} values (?, ?, ?, ?, "
                        "'skipped_same_content', "
                        "0, 0, 0, 0, 0, 'same bytes as a file already loaded', now(), 0)",
                        [str(path), spec.name, file_hash, path.stat().st_size])
            results.append(FileResult(str(path), "skipped_same_content", 0, 0, 0, 0, 0, 0.0,
                                      "same bytes as a file already loaded"))
            seen.add((str(path), file_hash))
        else:
            known_hashes.add(file_hash)
            todo.append((number, path, file_hash))

    order = _InOrder()

    def load_one(position: int, number: int, path: Path, file_hash: str) -> FileResult:
        cur = con.cursor()
        try:
            # Row order inside raw does not matter (every row carries its line number); not keeping
            # it lets DuckDB insert from all cores. Line numbers come from single-threaded reads.
            cur.execute("set preserve_insertion_order = false")
            staged = _stage(cur, spec, contract, path, file_hash)
            try:
                validation = _validate(cur, spec, staged, validator)  # before its turn: overlaps a commit
                order.wait_for(position)
                result = _commit(cur, spec, staged, validation, run_id)
            except BaseException:
                order.done(failed=True)
                raise
            order.done()
        finally:
            drop_temp_objects(cur)
            cur.close()
        if validation is not None:
            validations.append(validation)
        rate = result.rows_read / result.seconds if result.seconds else 0.0
        say(f"[{spec.name}] {number}/{len(files)} {path.name}: {result.status}, read {result.rows_read:,}, "
            f"loaded {result.rows_loaded:,}, quarantined {result.rows_quarantined:,}, "
            f"duplicates {result.duplicates_skipped:,} ({result.seconds:.2f}s, {rate:,.0f} rows/s)"
            + (f" - {result.reason}" if result.reason else ""))
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"load-{spec.name}") as pool:
        futures = [pool.submit(load_one, i, *item) for i, item in enumerate(todo)]
        results.extend(f.result() for f in futures)
    return SourceResult(spec.name, results, already, validations)
