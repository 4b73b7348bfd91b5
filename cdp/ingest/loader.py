"""Loading a landing folder into `raw.<table>`: new files only, one transaction per file.

A file is known by the SHA-256 of its bytes. `ops.load_manifest` holds one row per (path, hash), so a
re-run loads nothing, a new or changed file loads only itself, and a copy of an already-loaded file
under another name is recorded as `skipped_same_content` without loading a row twice.

Within a file's transaction: the file is validated into good rows and quarantined rows (see
`events_file` and `table_file`), duplicates are removed (by `messageId`, or by the whole row for
tabular sources) against the file itself and against what raw already holds, and the manifest row
records read = loaded + quarantined + duplicates skipped, which is asserted before commit. A file
that cannot be read at all (truncated gzip, not a CSV) loads nothing and is quarantined whole.

Files are staged by two worker threads, each file on its own cursor, a few files ahead of the
commits: a worker reads and checks a file against the contract, projects the columns of its Great
Expectations suite, opens the file's transaction and appends its rows to raw (leaving out keys
repeated in the file and keys raw holds committed), so the single-threaded read of one file overlaps
the parsing and inserting of others. The loading thread takes the staged files in file order, hands
consecutive ones to Great Expectations as one group (up to `batch_rows` rows, see
`cdp.quality.expectations`, or half the staging window, so that workers stage the next
files while a group is validated; a failing group is re-validated file by file) and commits them
one at a time, in file order: a file failing an error-severity expectation is rolled back and
quarantined whole, and keys an earlier file of the same load committed after the append are deleted
before the commit. The result is the same as loading the files one by one. DuckDB's automatic
checkpoints are held off while a source loads and one checkpoint follows its last file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from cdp.ingest.contract import LandingContract, SourceSpec, load_contract
from cdp.ingest.events_file import ensure_raw_events, stage_events_file
from cdp.ingest.landing_zone import LandingNotice, scan_source
from cdp.ingest.reading import drop_temp_objects, sql_string
from cdp.ingest.table_file import raw_table_ddl, stage_table_file
from cdp.quality.expectations import FileValidation, SuiteValidator
from cdp.quality.results import record_outcomes

log = logging.getLogger(__name__)

#: every column of ops.load_manifest a load writes (rows_erased is the privacy erasure's)
MANIFEST_COLUMNS = ("(file_path, source, file_hash, file_bytes, status, rows_read, rows_loaded, rows_quarantined, "
                    "duplicates_skipped, blank_lines, reason, loaded_at, load_seconds)")


def rollback_if_open(cur: duckdb.DuckDBPyConnection) -> None:
    """Roll back after an error; a commit that failed (a full disk) has already ended the transaction,
    and saying so must not hide the error that matters."""
    with contextlib.suppress(duckdb.TransactionException):
        cur.execute("rollback")


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
    notices: list[LandingNotice] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def discover(landing_dir: Path, spec: SourceSpec) -> list[Path]:
    """The regular files of one source to load (see `landing_zone.scan_source` for what is not)."""
    return scan_source(landing_dir, spec)[0]


def ensure_raw_table(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    if spec.format == "ndjson":
        ensure_raw_events(con)
    else:
        con.execute(raw_table_ddl(spec))


def dedupe_key(spec: SourceSpec) -> str:
    return "message_id" if spec.format == "ndjson" else "_row_hash"


def _existing_keys(cur: duckdb.DuckDBPyConnection, probe: duckdb.DuckDBPyConnection, spec: SourceSpec,
                   relation: str) -> Any:
    """The keys of `relation` (a staged file's rows, a temp object of `cur`) that raw holds committed
    now, as Arrow (few rows).

    `probe` is another cursor: it runs each statement in a transaction of its own, which sees every
    committed file and none of the rows still uncommitted (the file's own transaction may have started
    before the earlier files committed). The file's keys are the hash table and raw's key column is
    only scanned, so the cost per file stays small as raw grows; for events the 64-bit `_message_key`
    column is scanned first, and the text ids are compared only for the rows whose hash matched."""
    key = dedupe_key(spec)
    if spec.format != "ndjson":
        probe.register("_file_keys", cur.sql(f"select {key} from {relation}").to_arrow_table())
        try:
            return probe.sql(f"select distinct r.{key} from raw.{spec.table} as r "
                             f"semi join _file_keys as k on k.{key} = r.{key}").to_arrow_table()
        finally:
            probe.unregister("_file_keys")
    # Events: only the 64-bit hashes cross over; raw's rows whose hash matched (few) come back with
    # their text ids, which are then compared with the file's own.
    probe.register("_file_hashes", cur.sql(f"select _message_key from {relation}").to_arrow_table())
    try:
        candidates = probe.sql(f"""
            with matched as materialized (
                select distinct r._message_key from raw.{spec.table} as r
                semi join _file_hashes as k on k._message_key = r._message_key
            )
            select distinct r.message_id from raw.{spec.table} as r
            semi join matched as h on h._message_key = r._message_key""").to_arrow_table()
    finally:
        probe.unregister("_file_hashes")
    if not candidates.num_rows:
        return candidates
    cur.register("_candidate_keys", candidates)
    try:
        return cur.sql(f"select message_id from _candidate_keys semi join (select message_id from {relation}) "
                       "using (message_id)").to_arrow_table()
    finally:
        cur.unregister("_candidate_keys")


#: how far workers may stage ahead of the commits (files, and bytes of landing files), see _StageWindow
STAGE_AHEAD_FILES = 32
STAGE_AHEAD_BYTES = 64 * 1024 * 1024

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
    good: int = 0  # loadable rows
    loaded: int = 0  # of them, rows appended to raw in the file's open transaction (see _append_staged)
    appended: bool = False


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


@dataclass(eq=False)
class _Ready:
    """A staged file waiting for its group's validation and its turn to commit, on its own cursor."""
    position: int
    number: int
    cur: duckdb.DuckDBPyConnection
    staged: _Staged
    projection: Any = None  # the suite's columns over the file's loadable rows (Arrow), if validated
    verdict: FileValidation | None = None  # this file's own validation, when it decides whether it loads
    record: list[FileValidation] = field(default_factory=list)  # validations written with this file

    @property
    def rows(self) -> int:
        return self.projection.num_rows if self.projection is not None else 0


def _group_label(group: list[_Ready]) -> str:
    names = [r.staged.path.name for r in group]
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)} files)"


def _validate_group(spec: SourceSpec, group: list[_Ready], validator: SuiteValidator) -> list[FileValidation]:
    """Great Expectations over the group's files at once. When an error-severity expectation fails, each
    file is validated again on its own and its own result decides whether it loads. The results are
    recorded with the files' commits (a group's with its first file); returns them all."""
    checked = [r for r in group if r.projection is not None]
    together = (validator.validate_tables(spec.name, _group_label(checked), [r.projection for r in checked])
                if checked else None)
    if together is None:
        return []
    if len(checked) > 1 and together.blocking:
        for ready in checked:
            ready.verdict = validator.validate_tables(spec.name, ready.staged.path.name, [ready.projection])
            ready.record = [ready.verdict] if ready.verdict is not None else []
        return [r.verdict for r in checked if r.verdict is not None]
    checked[0].record = [together]
    if len(checked) == 1:
        checked[0].verdict = together
    return [together]


def _append_staged(cur: duckdb.DuckDBPyConnection, spec: SourceSpec, staged: _Staged) -> None:
    """Open the file's transaction and append its loadable rows to raw, on a worker thread ahead of the
    file's turn, so the inserts of several files overlap. Left out: repeated keys within the file (the
    first line wins) and keys raw already holds committed. A key committed meanwhile by an earlier file
    of the same load is found at the file's turn (`_finish_staged`) and deleted there."""
    staged.good = int(cur.execute("select count(*) from _good").fetchall()[0][0])
    key = dedupe_key(spec)
    probe = cur.cursor()
    try:
        existing = _existing_keys(cur, probe, spec, "_good") if staged.good else None
    finally:
        probe.close()
    if existing is not None:
        cur.register("_existing_keys", existing)
    cur.execute(f"""
        create or replace temp table _repeats as
        select {key}, _line_number from (
            select {key}, _line_number,
                   row_number() over (partition by {key} order by _line_number) as copy_number
            from _good
        ) where copy_number > 1
        {f"union all select g.{key}, g._line_number from _good as g semi join _existing_keys as e on e.{key} = g.{key}"
         if existing is not None else ""}
    """)
    if existing is not None:
        cur.unregister("_existing_keys")
    cur.execute(f"""
        create or replace temp view _appended as
        select g.* from _good as g
        anti join _repeats as d on d.{key} = g.{key} and d._line_number = g._line_number
    """)
    cur.execute("begin transaction")
    staged.appended = True
    staged.loaded = cur.execute(f"insert into raw.{spec.table} by name select * from _appended").fetchall()[0][0] \
        if staged.good else 0


def _commit(cur: duckdb.DuckDBPyConnection, probe: duckdb.DuckDBPyConnection, spec: SourceSpec,
            staged: _Staged, validation: FileValidation | None = None, run_id: str | None = None,
            record: list[FileValidation] | None = None) -> FileResult:
    """Deduplicate, quarantine and record one staged (appended, validated) file, and commit its
    transaction. A file whose `validation` fails an error-severity expectation loads nothing: its
    appended rows are rolled back and it is quarantined whole with the failed expectations as the
    reason. `record` (default: the file's validation) is written to ops.quality_results in the same
    transaction."""
    blocked = staged.read_error is not None or (validation is not None and bool(validation.blocking))
    if staged.appended and blocked:
        cur.execute("rollback")
        staged.appended = False
    if not staged.appended:
        cur.execute("begin transaction")
    try:
        for written in (record if record is not None else [validation] if validation else []):
            record_outcomes(cur, written.outcomes, run_id)
        if staged.read_error is not None:
            result = _quarantine_whole_file(cur, spec, staged.path, staged.file_hash, staged.read_error,
                                            time.perf_counter() - staged.started)
        elif blocked:
            result = _quarantine_every_row(cur, spec, staged, validation.reason())  # type: ignore[union-attr]
        else:
            result = _finish_staged(cur, probe, spec, staged)
        cur.execute("commit")
    except Exception:
        rollback_if_open(cur)
        raise
    finally:
        staged.appended = False
    return result


def _finish_staged(con: duckdb.DuckDBPyConnection, probe: duckdb.DuckDBPyConnection, spec: SourceSpec,
                   staged: _Staged) -> FileResult:
    """Inside the file's open transaction: delete the appended rows whose keys an earlier file of this
    load committed after the append (rare: deleting from a transaction's own appended rows makes its
    commit rewrite them), quarantine the bad rows and write the manifest row, checking
    read = loaded + quarantined + duplicates."""
    path, file_hash, file_reason, blank = staged.path, staged.file_hash, staged.file_reason, staged.blank
    key = dedupe_key(spec)
    good = staged.good
    bad = con.execute("select count(*) from _bad").fetchall()[0][0]
    loaded = staged.loaded
    if loaded:
        late = _existing_keys(con, probe, spec, "_appended")
        if late.num_rows:
            # Only this transaction's own rows carry this file hash (a file with the same bytes is never
            # loaded twice), so the delete touches nothing committed.
            con.register("_late_keys", late)
            loaded -= con.execute(f"""
                delete from raw.{spec.table} as r using _late_keys as k
                where r._file_hash = {sql_string(file_hash)} and r.{key} = k.{key}
            """).fetchall()[0][0]
            con.unregister("_late_keys")
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


def _quarantine_every_row(con: duckdb.DuckDBPyConnection, spec: SourceSpec, staged: _Staged,
                          reason: str) -> FileResult:
    """A file read whole but refused as a whole (it failed its Great Expectations suite): every row
    goes to quarantine, counted; the rows that broke a contract rule keep their own reason, the rest
    carry the file's and their values as the payload, so nothing is lost and the file can be fixed
    and re-landed."""
    path, file_hash = staged.path, staged.file_hash
    good = int(con.execute("select count(*) from _good").fetchall()[0][0])
    bad = int(con.execute("select count(*) from _bad").fetchall()[0][0])
    con.execute(f"""
        insert into ops.quarantine
        select {sql_string(spec.name)}, {sql_string(path)}, {sql_string(file_hash)}, line_number, payload, reason,
               now()
        from _bad
        union all
        select {sql_string(spec.name)}, {sql_string(path)}, {sql_string(file_hash)}, _line_number,
               cast(to_json(g) as varchar), {sql_string(reason)}, now()
        from (select * exclude ({_bookkeeping_columns(spec)}) from _good) as g
    """)
    seconds = time.perf_counter() - staged.started
    con.execute(f"insert into ops.load_manifest {MANIFEST_COLUMNS} "
                "values (?, ?, ?, ?, 'quarantined', ?, 0, ?, 0, ?, ?, now(), ?)",
                [str(path), spec.name, file_hash, path.stat().st_size, good + bad, good + bad, staged.blank,
                 reason, seconds])
    return FileResult(str(path), "quarantined", good + bad, 0, good + bad, 0, staged.blank, seconds, reason)


def _bookkeeping_columns(spec: SourceSpec) -> str:
    """The load's own columns of `_good` (not part of a row as it arrived)."""
    own = "_message_key" if spec.format == "ndjson" else "_row_hash"
    return f"{own}, _source_file, _file_hash, _loaded_at"


def _quarantine_whole_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, file_hash: str,
                           reason: str, seconds: float) -> FileResult:
    _quarantine_file_row(con, spec, path, file_hash, reason)
    con.execute(f"insert into ops.load_manifest {MANIFEST_COLUMNS} "
                "values (?, ?, ?, ?, 'quarantined', 0, 0, 0, 0, 0, ?, now(), ?)",
                [str(path), spec.name, file_hash, path.stat().st_size, reason, seconds])
    return FileResult(str(path), "quarantined", 0, 0, 0, 0, 0, seconds, reason)


class _StageWindow:
    """Which files workers may stage ahead of the commits: file `p` may be staged once the files from
    the first uncommitted one up to `p` hold at most `max_bytes` (file sizes) and `max_files` files; the
    first `min_files` uncommitted files always may. Memory thus holds a bounded set of staged files,
    and because admission depends only on positions, the loading thread can tell when the next file
    waits for a commit (`admits`) and commit its group first: no deadlock."""

    def __init__(self, sizes: list[int], *, min_files: int, max_files: int, max_bytes: int) -> None:
        self.sizes, self.min_files, self.max_files, self.max_bytes = sizes, min_files, max_files, max_bytes
        self._committed = 0
        self._stopped = False
        self._condition = threading.Condition()

    def admits(self, position: int) -> bool:
        ahead = position - self._committed
        return ahead < self.min_files or (
            ahead < self.max_files and sum(self.sizes[self._committed:position + 1]) <= self.max_bytes)

    def half(self, first: int, last: int) -> bool:
        """Files `first`..`last` fill half the window: validating and committing them then overlaps the
        staging of the next half, where a full window would leave the workers waiting for the commits."""
        return (last - first + 1) * 2 >= self.max_files or sum(self.sizes[first:last + 1]) * 2 >= self.max_bytes

    def enter(self, position: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.admits(position) or self._stopped)
            if self._stopped:
                raise RuntimeError("loading stopped")

    def committed(self) -> None:
        with self._condition:
            self._committed += 1
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()


def _discard(cur: duckdb.DuckDBPyConnection, staged: _Staged | None) -> None:
    """Roll back what a file's cursor appended but did not commit, drop its temp objects, close it."""
    if staged is not None and staged.appended:
        cur.execute("rollback")
        staged.appended = False
    drop_temp_objects(cur)
    cur.close()


def _close(ready: _Ready) -> None:
    _discard(ready.cur, ready.staged)


def load_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec, landing_dir: Path,
                contract: LandingContract | None = None,
                progress: Callable[[str], None] | None = None, workers: int = 2,
                validator: SuiteValidator | None = None, run_id: str | None = None,
                missing_folder: str = "warn") -> SourceResult:
    """Load every new file of one source; returns what each file did.

    Files are staged and appended by `workers` threads at once, each in its own transaction on its own
    cursor (so reading one file, which is single-threaded, overlaps parsing and inserting others); the
    transactions commit one at a time in file order on this thread, after deleting keys an earlier file
    committed meanwhile, so deduplication sees every earlier file and a rerun makes the same choices.
    With a `validator`, files are also checked against their source's Great Expectations suite before
    they commit, in groups (see `_validate_group`).
    """
    contract = contract or load_contract()
    say = progress or log.info
    ensure_raw_table(con, spec)
    files, notices = scan_source(landing_dir, spec, missing_folder)
    for notice in notices:
        say(f"[{spec.name}] not loaded: {notice.path}: {notice.reason}")
    seen = {(r[0], r[1]) for r in con.execute(
        "select file_path, file_hash from ops.load_manifest where source = ?", [spec.name]).fetchall()}
    todo, skipped, already = new_files(files, seen)
    if validator is not None and todo:
        # only with files to validate: a warm-up nobody waits for would still be writing the GX
        # project when this step ends
        validator.warm_up()
    for path, file_hash in skipped:
        con.execute(f"insert into ops.load_manifest {MANIFEST_COLUMNS} values (?, ?, ?, ?, "
                    "'skipped_same_content', "
                    "0, 0, 0, 0, 0, ?, now(), 0)",
                    [str(path), spec.name, file_hash, path.stat().st_size, SAME_CONTENT])
    results = [FileResult(str(path), "skipped_same_content", 0, 0, 0, 0, 0, 0.0, SAME_CONTENT)
               for path, _ in skipped]
    loaded = load_files(con, spec, todo, len(files), contract, say, workers, validator, run_id)
    return SourceResult(spec.name, [*results, *loaded.files], already, loaded.validations, notices)


SAME_CONTENT = "same bytes as a file already loaded"


def new_files(files: list[Path], seen: set[tuple[str, str]]
              ) -> tuple[list[tuple[int, Path, str]], list[tuple[Path, str]], int]:
    """Split a source's files by what the manifest (`seen`: its (path, hash) pairs) knows: files to load
    as (number among `files`, path, hash); files whose bytes an earlier file had (skipped, recorded);
    and how many are loaded already."""
    known_hashes = {h for _, h in seen}
    todo: list[tuple[int, Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    already = 0
    for number, path in enumerate(files, start=1):
        file_hash = file_sha256(path)
        if (str(path), file_hash) in seen:
            already += 1
        elif file_hash in known_hashes:
            skipped.append((path, file_hash))
        else:
            known_hashes.add(file_hash)
            todo.append((number, path, file_hash))
    return todo, skipped, already


def load_files(con: duckdb.DuckDBPyConnection, spec: SourceSpec, todo: list[tuple[int, Path, str]],
               files_total: int, contract: LandingContract, say: Callable[[str], None], workers: int = 2,
               validator: SuiteValidator | None = None, run_id: str | None = None) -> SourceResult:
    """Load the given new files ((number, path, hash), in order) of one source: staged `workers` at a
    time, validated in groups, committed one at a time in file order (see `load_source`)."""
    results: list[FileResult] = []
    validations: list[FileValidation] = []
    group_rows = validator.suites.batch_rows if validator is not None and validator.groups_files(spec.name) else 0
    window = _StageWindow([path.stat().st_size for _, path, _ in todo], min_files=workers + 1,
                          max_files=STAGE_AHEAD_FILES, max_bytes=STAGE_AHEAD_BYTES)

    staged_open: dict[int, _Ready] = {}  # staged and not yet committed, by position

    def stage_one(position: int, number: int, path: Path, file_hash: str) -> _Ready:
        window.enter(position)
        cur = con.cursor()
        staged: _Staged | None = None
        try:
            # Row order inside raw does not matter (every row carries its line number); not keeping
            # it lets DuckDB insert from all cores. Line numbers come from single-threaded reads.
            cur.execute("set preserve_insertion_order = false")
            staged = _stage(cur, spec, contract, path, file_hash)
            ready = _Ready(position, number, cur, staged)
            if staged.read_error is None:
                if validator is not None:
                    ready.projection = validator.project(cur, spec.name)
                _append_staged(cur, spec, staged)
        except BaseException:
            _discard(cur, staged)
            raise
        staged_open[position] = ready
        return ready

    def commit_group(group: list[_Ready]) -> None:
        if validator is not None:
            validations.extend(_validate_group(spec, group, validator))
        for ready in group:
            result = _commit(ready.cur, probe, spec, ready.staged, ready.verdict, run_id, ready.record)
            _close(staged_open.pop(ready.position))
            window.committed()
            results.append(result)
            rate = result.rows_read / result.seconds if result.seconds else 0.0
            say(f"[{spec.name}] {ready.number}/{files_total} {ready.staged.path.name}: {result.status}, "
                f"read {result.rows_read:,}, loaded {result.rows_loaded:,}, quarantined "
                f"{result.rows_quarantined:,}, duplicates {result.duplicates_skipped:,} "
                f"({result.seconds:.2f}s, {rate:,.0f} rows/s)" + (f" - {result.reason}" if result.reason else ""))

    probe = con.cursor()  # sees what earlier files committed (see _existing_keys)
    threshold = _defer_checkpoints(con)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"load-{spec.name}")
    futures = [pool.submit(stage_one, i, *item) for i, item in enumerate(todo)]
    try:
        group: list[_Ready] = []
        for position, future in enumerate(futures):
            if group and not window.admits(position):  # the next file waits for these commits
                commit_group(group)
                group = []
            group.append(future.result())
            if sum(r.rows for r in group) >= group_rows or window.half(group[0].position, position):
                commit_group(group)
                group = []
        if group:
            commit_group(group)
    finally:
        window.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        for ready in list(staged_open.values()):  # staged, never committed (an earlier file failed)
            _close(ready)
        probe.close()
        _checkpoint(con, threshold)
    return SourceResult(spec.name, results, 0, validations)


def _defer_checkpoints(con: duckdb.DuckDBPyConnection) -> str:
    """Stop DuckDB checkpointing while a source loads; returns the threshold to restore.

    Files smaller than a row group are appended through the write-ahead log, and DuckDB checkpoints
    on the commit that takes the log past `checkpoint_threshold` (16 MiB): every few files it would
    compress and write the table's open row group again. `_checkpoint` does it once, after the last
    file of the source; until then the committed files are safe in the log."""
    threshold = str(con.execute("select current_setting('checkpoint_threshold')").fetchall()[0][0])
    con.execute("set checkpoint_threshold = '1TB'")
    return threshold


def _checkpoint(con: duckdb.DuckDBPyConnection, threshold: str) -> None:
    """Restore the threshold and checkpoint. Runs also when the load failed, so it never raises: a
    checkpoint that cannot run now loses nothing (the log holds every commit) and DuckDB makes it later."""
    try:
        con.execute(f"set checkpoint_threshold = {sql_string(threshold)}")
        con.execute("checkpoint")
    except duckdb.Error as exc:
        log.warning("checkpoint after the load deferred: %s", exc)
