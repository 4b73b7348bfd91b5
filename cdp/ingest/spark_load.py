"""Loading a landing source into Spark on Spark's executors: ingestion scales out with the cluster.

New files are split into Spark tasks: a file per task, or consecutive small files together (up to
`CHUNK_BYTES` of landing files). A task checks its files against the landing contract with the same
code the DuckDB warehouse loads with (`loader.load_files` over an in-memory DuckDB: line-level
quarantine with payload and reason, duplicates within and between its files, the Great Expectations
suite), so every engine quarantines the same lines for the same reasons. It writes what it
accepted, what it quarantined, its manifest rows and its suite results as Parquet files into a
folder of this load; the driver never holds a row. Then, set-based in Spark:

1. rows whose key raw already holds, or an earlier file of this load holds (file order, then line,
   as on DuckDB), are duplicates; the rest are appended to `raw.<table>`;
2. quarantined rows and suite results are appended to `ops.quarantine` and `ops.quality_results`;
3. the manifest rows, with the duplicates found in step 1 moved from loaded to duplicates, are
   appended last to `ops.load_manifest`: Parquet tables have no transactions, so a crash before it
   leaves rows that the rerun finds again and counts as duplicates (read = loaded + quarantined +
   duplicates still holds), never a file marked loaded without its rows.

Why not Spark's JSON reader with its corrupt-record column: it tells a malformed line from a good
one, but not the contract's other reasons (a missing messageId, an unknown type, a timestamp out
of range, a duplicated key), it parses timestamps by rules of its own, and it replaces undecodable
bytes instead of quarantining the line, so the contract would exist twice and drift.

The landing folder and the load's scratch folder (`CDP_SPARK_INCOMING_DIR`) must be paths every
executor and the driver can read (on a local session they are; on a cluster, a shared mount).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cdp.engines.base import Engine
from cdp.engines.transfer import sendable_select
from cdp.ingest.contract import LandingContract, SourceSpec
from cdp.ingest.landing_zone import scan_source
from cdp.ingest.loader import (
    MANIFEST_COLUMNS,
    SAME_CONTENT,
    FileResult,
    SourceResult,
    dedupe_key,
    ensure_raw_table,
    load_files,
    new_files,
)
from cdp.ingest.reading import sql_string
from cdp.quality.expectations import Suites, SuiteValidator
from cdp.sql_text import quote_identifier

log = logging.getLogger(__name__)

#: the manifest's columns as a list (MANIFEST_COLUMNS is the parenthesised SQL column list)
MANIFEST = tuple(c.strip() for c in MANIFEST_COLUMNS.strip("()").split(","))
#: which file of the load a staged raw row came from (file order decides duplicates between files)
POSITION = "_cdp_position"
#: what a task returns for its file
TASK_SCHEMA = "chunk long, seconds double, validations binary, error string"
#: landing bytes per load task: smaller files share a task (each task has a fixed cost of seconds)
CHUNK_BYTES = 64 * 1024 * 1024


def raw_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    """(column, DuckDB type) of `raw.<table>` as the DuckDB loader defines it."""
    import duckdb

    from cdp.engines.transfer import duckdb_columns

    con = duckdb.connect()
    try:
        con.execute("create schema raw")
        ensure_raw_table(con, spec)
        return duckdb_columns(con, "raw", spec.table)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------- tasks

#: per Python worker: a validator with a GX project of its own (tasks of a worker run one at a time)
_task_validators: dict[int, SuiteValidator] = {}


def _task_validator(suites: Suites) -> SuiteValidator:
    key = os.getpid()
    if key not in _task_validators:
        project = Path(tempfile.mkdtemp(prefix="cdp-gx-task-"))
        _task_validators[key] = SuiteValidator(project_dir=project, suites=suites)
    return _task_validators[key]


def _load_chunk(spec: SourceSpec, contract: LandingContract, suites: Suites | None, run_id: str | None,
                duckdb_config: dict[str, Any], out: Path, total: int, files: list[dict[str, Any]]) -> list[Any]:
    """Load consecutive files of a source into an in-memory DuckDB with the DuckDB loader (duplicates
    between them found as on DuckDB), then write their raw rows (each with its file's position in the
    load), quarantine rows, manifest rows and suite results as Parquet files under `out`."""
    import duckdb

    from cdp.engines.transfer import duckdb_columns
    from cdp.ops_schema import OPS_DDL
    from cdp.quality.results import ensure_quality_tables

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config=duckdb_config)
    try:
        con.execute(OPS_DDL)
        ensure_quality_tables(con)
        ensure_raw_table(con, spec)
        validator = _task_validator(suites) if suites is not None else None
        result = load_files(con, spec, [(f["number"], Path(f["path"]), f["file_hash"]) for f in files], total,
                            contract, lambda _m: None, workers=1, validator=validator, run_id=run_id)
        con.execute(f"create temp table _positions (file_hash varchar, {POSITION} bigint)")
        con.executemany("insert into _positions values (?, ?)", [[f["file_hash"], f["position"]] for f in files])
        rows = sendable_select(duckdb_columns(con, "raw", spec.table), f"raw.{quote_identifier(spec.table)}")
        con.execute(f"copy (select r.*, p.{POSITION} from ({rows}) as r "
                    f"inner join _positions as p on p.file_hash = r._file_hash) "
                    f"to {sql_string(out / 'raw.parquet')} (format parquet)")
        for table in ("quarantine", "quality_results"):
            query = sendable_select(duckdb_columns(con, "ops", table), f"ops.{table}")
            con.execute(f"copy ({query}) to {sql_string(out / (table + '.parquet'))} (format parquet)")
        con.execute(f"copy (select {', '.join(MANIFEST)} from ops.load_manifest) "
                    f"to {sql_string(out / 'load_manifest.parquet')} (format parquet)")
        if validator is not None:
            _move_results(validator.project_dir, out / "gx")
        return [time.perf_counter() - started, pickle.dumps(result.validations), None]
    except Exception as exc:  # the driver stops the load naming the files
        names = ", ".join(f["path"] for f in files)
        return [time.perf_counter() - started, None, f"{names}: {type(exc).__name__}: {exc}"]
    finally:
        con.close()


def _move_results(project: Path, to: Path) -> None:
    """Move the GX validation results a task stored into the load's folder (the driver's GX project
    takes them in, so Data Docs show every file's results)."""
    store = project / "gx" / "uncommitted" / "validations"
    for result in store.rglob("*.json") if store.exists() else []:
        target = to / result.relative_to(store)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(result), target)


def _task(spec: SourceSpec, contract: LandingContract, suites: Suites | None, run_id: str | None,
          duckdb_config: dict[str, Any], folder: str, total: int
          ) -> Callable[[Iterator[Any]], Iterator[Any]]:
    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        for batch in batches:  # one chunk per partition (see _stage_on_executors)
            for chunk, files in zip(batch.column("chunk").to_pylist(), batch.column("files").to_pylist(),
                                    strict=True):
                row = _load_chunk(spec, contract, suites, run_id, duckdb_config, Path(folder) / f"{chunk:07d}",
                                  total, files)
                yield pa.RecordBatch.from_arrays(
                    [pa.array([chunk], pa.int64()), pa.array(row[:1], pa.float64()), pa.array(row[1:2], pa.binary()),
                     pa.array(row[2:], pa.string())], names=["chunk", "seconds", "validations", "error"])
    return run


def chunks(sizes: list[int], max_bytes: int = CHUNK_BYTES) -> list[list[int]]:
    """Consecutive positions grouped into tasks of at most `max_bytes` of landing files (a larger file is
    a task of its own): small files share a task instead of paying a task's fixed cost each."""
    grouped: list[list[int]] = []
    held = 0
    for position, size in enumerate(sizes):
        if not grouped or held + size > max_bytes:
            grouped.append([])
            held = 0
        grouped[-1].append(position)
        held += size
    return grouped


def _stage_on_executors(spark: Any, spec: SourceSpec, contract: LandingContract, todo: list[tuple[int, Path, str]],
                        total: int, folder: Path, validator: SuiteValidator | None, run_id: str | None,
                        duckdb_config: dict[str, Any]) -> list[Any]:
    files = [{"number": number, "path": str(path), "file_hash": file_hash, "position": position}
             for position, (number, path, file_hash) in enumerate(todo)]
    grouped = [(i, [files[p] for p in positions])
               for i, positions in enumerate(chunks([path.stat().st_size for _, path, _ in todo]))]
    # one partition per chunk: each chunk is a task, spread over the executors
    frame = spark.sparkContext.parallelize(grouped, len(grouped)).toDF(
        "chunk long, files array<struct<number: long, path: string, file_hash: string, position: long>>")
    suites = validator.suites if validator is not None else None
    task = _task(spec, contract, suites, run_id, duckdb_config, str(folder), total)
    done = frame.mapInArrow(task, TASK_SCHEMA).collect()
    failed = [r["error"] for r in done if r["error"]]
    if failed:
        raise RuntimeError(f"[{spec.name}] loading stopped: " + "; ".join(failed))
    return sorted(done, key=lambda r: r["chunk"])


# --------------------------------------------------------------------------------------------- driver

def load_into_spark(engine: Engine, spec: SourceSpec, landing_dir: Path, contract: LandingContract, *,
                    validator: SuiteValidator | None = None, progress: Callable[[str], None] | None = None,
                    run_id: str | None = None, missing_folder: str = "warn", incoming_dir: Path,
                    duckdb_config: dict[str, Any] | None = None) -> SourceResult:
    """Load one source's new files into the Spark engine's raw and ops tables (see the module)."""
    from cdp.ingest.publish import create_table_like

    say = progress or log.info
    files, notices = scan_source(landing_dir, spec, missing_folder)
    for notice in notices:
        say(f"[{spec.name}] not loaded: {notice.path}: {notice.reason}")
    seen = {(str(p), str(h)) for p, h in engine.execute(
        "select file_path, file_hash from ops.load_manifest where source = ?", [spec.name]).fetchall()}
    todo, skipped, already = new_files(files, seen)
    columns = raw_columns(spec)
    create_table_like(engine, columns, "raw", spec.table)
    results: list[FileResult] = []
    validations: list[Any] = []
    if todo:
        if validator is not None:  # only with files: see loader.load_source
            validator.warm_up()
        folder = incoming_dir / f"{spec.name}-{uuid.uuid4().hex[:12]}"
        try:
            done = _stage_on_executors(engine.spark, spec, contract, todo, len(files), folder, validator, run_id,
                                       duckdb_config or {})
            for row in done:
                validations += pickle.loads(row["validations"])
            results = _publish(engine, spec, columns, folder, todo)
            if validator is not None:
                validator.adopt_results(folder, len(validations))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if skipped:
        engine.executemany(f"insert into ops.load_manifest ({', '.join(MANIFEST)}, rows_erased) values "
                           f"(?, ?, ?, ?, 'skipped_same_content', 0, 0, 0, 0, 0, ?, now(), 0, 0)",
                           [[str(p), spec.name, h, p.stat().st_size, SAME_CONTENT] for p, h in skipped])
    results = [FileResult(str(p), "skipped_same_content", 0, 0, 0, 0, 0, 0.0, SAME_CONTENT) for p, _ in skipped] \
        + results
    for number, result in zip([n for n, _, _ in todo], results[len(skipped):], strict=True):
        rate = result.rows_read / result.seconds if result.seconds else 0.0
        say(f"[{spec.name}] {number}/{len(files)} {Path(result.path).name}: {result.status}, "
            f"read {result.rows_read:,}, loaded {result.rows_loaded:,}, quarantined {result.rows_quarantined:,}, "
            f"duplicates {result.duplicates_skipped:,} ({result.seconds:.2f}s, {rate:,.0f} rows/s)"
            + (f" - {result.reason}" if result.reason else ""))
    return SourceResult(spec.name, results, already, validations, notices)


def _publish(engine: Engine, spec: SourceSpec, columns: list[tuple[str, str]], folder: Path,
             todo: list[tuple[int, Path, str]]) -> list[FileResult]:
    """Append what the tasks wrote to the warehouse's tables (see the module); returns each file's result."""
    spark = engine.spark
    key = dedupe_key(spec)
    raw = f"raw.{quote_identifier(spec.table, '`')}"
    names = [c for c, _ in columns]
    incoming = spark.read.parquet(str(folder / "*" / "raw.parquet"))
    incoming.createOrReplaceTempView("cdp_incoming")
    # first copy of each key in this load (file order, then line) that raw does not hold yet
    loadable = spark.sql(f"""
        select * from (
            select i.*, row_number() over (partition by i.{key} order by i.{POSITION}, i._line_number) as _copy
            from cdp_incoming as i left anti join {raw} as r on r.{key} = i.{key}
        ) as ranked where _copy = 1""").drop("_copy")
    loadable.write.mode("overwrite").parquet(str(folder / "_loadable"))
    loadable = spark.read.parquet(str(folder / "_loadable"))
    loaded = {r[0]: int(r[1]) for r in loadable.groupBy(POSITION).count().collect()}
    order = spark.table(raw).columns
    if set(order) != set(names):
        raise RuntimeError(f"{raw} has columns {order}, the loader writes {names}: migrate the table first")
    loadable.select(*order).write.insertInto(raw)
    for table in ("quarantine", "quality_results"):
        target = f"ops.{table}"
        found = spark.read.parquet(str(folder / "*" / f"{table}.parquet"))
        found.select(*spark.table(target).columns).write.insertInto(target)
    manifest = spark.read.parquet(str(folder / "*" / "load_manifest.parquet")).collect()  # a row per file
    by_hash = {h: position for position, (_, _, h) in enumerate(todo)}
    rows, results = [], []
    for m in sorted(manifest, key=lambda r: by_hash[r["file_hash"]]):
        position = by_hash[m["file_hash"]]
        kept = loaded.get(position, 0)
        duplicates = m["duplicates_skipped"] + m["rows_loaded"] - kept
        took = m["load_seconds"]
        values = {**m.asDict(), "rows_loaded": kept, "duplicates_skipped": duplicates}
        rows.append([values[c] for c in MANIFEST if c != "loaded_at"])
        results.append(FileResult(m["file_path"], m["status"], m["rows_read"], kept, m["rows_quarantined"],
                                  duplicates, m["blank_lines"], took, m["reason"]))
    listed = [c for c in MANIFEST if c != "loaded_at"]
    engine.executemany(f"insert into ops.load_manifest ({', '.join(listed)}, loaded_at, rows_erased) "
                       f"values ({', '.join('?' for _ in listed)}, now(), 0)", rows)
    spark.catalog.dropTempView("cdp_incoming")
    return results
