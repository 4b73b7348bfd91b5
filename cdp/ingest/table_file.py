"""Validating one tabular landing file (CSV, TSV, Parquet; optionally gzipped) into `_good` / `_bad`.

Every value is read as text (raw keeps what arrived; staging casts), so a wrong type never aborts the
read: the contract's `types` are checked in SQL and a value that does not parse quarantines its row.
Header names are matched trimmed and lowercased; contract columns missing from the header are null
when optional, and quarantine every row of the file when required (the header itself is wrong), as
does a header that names one column twice. Columns outside the contract are kept in `_extra` as a
JSON object.

Header names are data: they never become SQL identifiers. Columns are read by position under names
of our own (`__c0`, `__c1`, ...), and the file's names appear only as quoted string literals (JSON
keys of `_extra` and of quarantine payloads).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb

from cdp.ingest.contract import LandingContract, SourceSpec
from cdp.ingest.reading import clear_rejects, line_reader, rejected_lines, renumber_lines, sql_string

BOOLEAN_TEXT = ("true", "false", "t", "f", "1", "0", "yes", "no", "y", "n")
MAX_HEADER_BYTES = 1 << 20  # a header line longer than this is not a header


def raw_table_ddl(spec: SourceSpec) -> str:
    columns = ",\n    ".join(f'"{c}" varchar' for c in spec.columns)
    return f"""
create table if not exists raw.{spec.table} (
    {columns},
    _extra json,
    _row_hash varchar not null,
    _source_file varchar not null,
    _file_hash varchar not null,
    _line_number bigint,
    _loaded_at timestamptz not null
)"""


def _csv_options(path: Path) -> str:
    delim = "e'\\t'" if path.name.lower().endswith((".tsv", ".tsv.gz")) else "','"
    return f"header = true, delim = {delim}, quote = '\"', escape = '\"', parallel = false"


class HeaderError(ValueError):
    """The first line of a CSV cannot be read as a header."""


def _header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Column names as they appear in the file (CSV: its first line, parsed as one CSV record).

    The first line is read as bytes (through gzip when the name says so; a BOM dropped) and must be
    UTF-8: a header that is not is refused, never skipped for the next line. It is split by Python's
    csv module: sniffing the whole file would fail on exactly the ragged files we must quarantine
    row by row.
    """
    if path.name.lower().endswith(".parquet"):
        return [r[0] for r in con.execute(
            f"describe select * from read_parquet({sql_string(path)})").fetchall()]
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        first = handle.readline(MAX_HEADER_BYTES)
    try:
        text = first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"the header line is not valid UTF-8 text (byte {exc.start + 1})") from None
    if not text.strip():
        return []
    delimiter = "\t" if path.name.lower().endswith((".tsv", ".tsv.gz")) else ","
    return next(csv.reader([text], delimiter=delimiter))


def _strict_csv(path: Path, width: int) -> str:
    """A CSV scan that rejects (rather than pads or truncates) rows with the wrong column count; the
    header line is skipped and the columns are named by position (`__c0` ...), never by the file."""
    columns = "{" + ", ".join(f"'__c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return (f"read_csv({sql_string(path)}, {_csv_options(path)}, columns = {columns}, auto_detect = false, "
            "store_rejects = true, strict_mode = true, null_padding = false, max_line_size = 4194304)")


def _check(column: str, kind: str, contract: LandingContract) -> str:
    """SQL giving a reason when the text value of `column` does not parse as `kind`."""
    v = f'"{column}"'
    shown = f"'{column} ''' || {v} || ''''"
    if kind == "timestamp":
        rules = contract.timestamps
        return (f"case when try_cast({v} as timestamptz) is null then {shown} || ' is not a timestamp' "
                f"when try_cast({v} as timestamptz) < timestamptz '{rules.not_before.isoformat()} 00:00:00+00' "
                f"then {shown} || ' is before {rules.not_before.isoformat()}' "
                f"when try_cast({v} as timestamptz) > now() + interval {rules.max_future_hours} hour "
                f"then {shown} || ' is more than {rules.max_future_hours} hours in the future' end")
    if kind == "date":
        return f"case when try_cast({v} as date) is null then {shown} || ' is not a date (YYYY-MM-DD)' end"
    if kind == "month":
        return (f"case when not regexp_full_match(trim({v}), '[0-9]{{4}}-(0[1-9]|1[0-2])(-01)?') "
                f"then {shown} || ' is not a month (YYYY-MM, or YYYY-MM-01)' end")
    if kind == "integer":
        # try_cast alone would take 10.5 (as 11), 1e3, 0x10 and 1_000
        return (f"case when not regexp_full_match(trim({v}), '[+-]?[0-9]+') or try_cast({v} as bigint) is null "
                f"then {shown} || ' is not an integer' end")
    if kind == "decimal":
        return (f"case when not regexp_full_match(trim({v}), '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') "
                f"or try_cast({v} as decimal(38, 6)) is null then {shown} || ' is not a number' end")
    allowed = ", ".join(f"'{b}'" for b in BOOLEAN_TEXT)
    return f"case when lower({v}) not in ({allowed}) then {shown} || ' is not a boolean' end"


def stage_table_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, contract: LandingContract,
                     path: Path, file_hash: str) -> str | None:
    """Fill temp tables `_good` (raw rows) and `_bad` (quarantine rows) from one file.

    Returns why the whole file is quarantined (its header is wrong; then every record is in `_bad`
    with that reason), or None.
    """
    con.execute(raw_table_ddl(spec))
    is_parquet = path.name.lower().endswith(".parquet")
    if path.stat().st_size == 0:
        _empty(con, spec)
        return None
    try:
        header = _header(con, path)
        header_reason = None
    except HeaderError as exc:
        header, header_reason = [], str(exc)
    if header_reason is None and not header:
        header_reason = "the file has no header line (the first line is empty)"
    if header_reason is not None:
        _lines_held(con, spec, path, header_reason)
        return header_reason
    keys = [h.strip().lower().lstrip("\ufeff") for h in header]
    position: dict[str, int] = {}
    for i, key in enumerate(keys):
        position.setdefault(key, i)
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    missing = [c for c in spec.required if c not in position]
    file_reason = None
    if repeated:
        file_reason = "file header names column(s) more than once: " + ", ".join(
            f"{k!r} (columns {', '.join(str(i + 1) for i, x in enumerate(keys) if x == k)})" for k in repeated
        ) + "; every column name must be unique"
    elif missing:
        file_reason = (f"file header lacks required column(s) {', '.join(missing)}; "
                       f"found [{', '.join(header)}], expected at least [{', '.join(spec.required)}]")

    contract_cols = ", ".join(
        f"nullif(trim(v.__c{position[c]}), '') as \"{c}\"" if c in position
        else f'cast(null as varchar) as "{c}"'
        for c in spec.columns
    )
    extra_positions = [i for i, key in enumerate(keys) if key not in spec.columns and position[key] == i]
    extra = ("json_object(" + ", ".join(
        f"{sql_string(header[i].strip())}, v.__c{i}" for i in extra_positions) + ")") if extra_positions else "null"
    ordinal = "file_row_number + 1" if is_parquet else "row_number() over ()"
    source = (f"read_parquet({sql_string(path)}, file_row_number = true)" if is_parquet
              else _strict_csv(path, len(header)))
    read_cols = ", ".join(f"cast(#{i + 1} as varchar) as __c{i}" if is_parquet else f"t.__c{i}"
                          for i in range(len(header)))
    clear_rejects(con)
    # Values as they arrived, numbered by line; the payload of a quarantined row is rebuilt from
    # these, so the JSON is only made for the (few) rows that need it.
    con.execute(f"create or replace temp table _rows as select {ordinal} as k, {read_cols} from {source} as t")
    renumber_lines(con, "_rows", first_line=1 if is_parquet else 2)
    rejects = [] if is_parquet else rejected_lines(con)

    hashed = ", ".join(f"coalesce(\"{c}\", chr(0))" for c in spec.columns)
    reason_sql = sql_string(file_reason) if file_reason is not None else _reason_sql(spec, contract)
    con.execute(f"""
        create or replace temp table _checked as
        select *, case when reason is null then
                       md5(concat_ws(e'\\x1f', {hashed}, coalesce(cast(_extra as varchar), chr(0)))) end as _row_hash
        from (
            select *, {reason_sql} as reason
            from (select v.line_number, {contract_cols}, {extra} as _extra from _rows as v)
        )
    """)
    con.execute("create or replace temp table _rejected(line_number bigint, payload varchar, reason varchar)")
    if rejects:
        con.executemany("insert into _rejected values (?, ?, ?)",
                        [(int(line), payload, f"unreadable row: {why}") for line, payload, why in rejects])
    payload = ", ".join(f"{sql_string(name)}, r.__c{i}" for i, name in enumerate(_unique_names(header)))
    con.execute(f"""
        create or replace temp view _bad as
        select c.line_number, cast(json_object({payload}) as varchar) as payload, c.reason
        from _checked as c inner join _rows as r on r.line_number = c.line_number
        where c.reason is not null
        union all
        select * from _rejected
    """)
    columns = ", ".join(f'"{c}"' for c in spec.columns)
    con.execute(f"""
        create or replace temp view _good as
        select {columns}, _extra,
               _row_hash,
               {sql_string(path)} as _source_file, {sql_string(file_hash)} as _file_hash,
               line_number as _line_number, now() as _loaded_at
        from _checked where reason is null
    """)
    return file_reason


def _unique_names(header: list[str]) -> list[str]:
    """The header's names as payload keys, a repeated name numbered (`email`, `email#2`)."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def _reason_sql(spec: SourceSpec, contract: LandingContract) -> str:
    """SQL giving why a row breaks the contract (null when it does not), over the contract columns."""
    q = "''"  # an escaped quote inside a SQL string literal
    problems = [f"""case when "{c}" is null then 'missing required value {c}' end""" for c in spec.required]
    problems += [f'case when "{c}" is not null then {_check(c, kind, contract)} end'
                 for c, kind in spec.types.items()]
    for c, values in spec.accepted.items():
        allowed = ", ".join(f"'{x}'" for x in values)
        problems.append(f"""case when "{c}" is not null and lower("{c}") not in ({allowed})
            then '{c} {q}' || "{c}" || '{q} is not one of {", ".join(values)}' end""")
    return f"nullif(concat_ws('; ', {', '.join(problems)}), '')"


def _lines_held(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, reason: str) -> None:
    """A file whose header cannot be read: every line after it is quarantined as text with `reason`,
    so its rows are counted and kept (nothing else can be made of them)."""
    clear_rejects(con)
    con.execute(f"create or replace temp table _held as select row_number() over () as k, line "
                f"from {line_reader(path)}")
    renumber_lines(con, "_held", first_line=1)
    rejects = [(line, payload, why) for line, payload, why in rejected_lines(con) if line > 1]
    con.execute("create or replace temp table _bad(line_number bigint, payload varchar, reason varchar)")
    con.execute("insert into _bad select line_number, line, ? from _held where line_number > 1 "
                "and coalesce(trim(line, e' \\t\\r'), '') <> ''", [reason])
    if rejects:
        con.executemany("insert into _bad values (?, ?, ?)", [(line, payload, reason) for line, payload, _ in rejects])
    con.execute(f"create or replace temp view _good as select * from raw.{spec.table} limit 0")


def _empty(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """No records: `_good` and `_bad` with their usual shapes and no rows."""
    con.execute("create or replace temp table _bad(line_number bigint, payload varchar, reason varchar)")
    con.execute(f"create or replace temp view _good as select * from raw.{spec.table} limit 0")
