"""Reading landing files line by line with exact line numbers, and cleaning up per-file temp objects.

DuckDB's CSV reader streams the file (gzip included), keeps a UTF-8 BOM and CRLF line ends out of
the values, and puts lines it cannot decode (invalid UTF-8, over-long) into its rejects table with
their true line number. Good lines are numbered in reading order (`k`); the rejected lines are gaps
in that numbering, so each good line's true number is its ordinal plus the rejects before it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp.sql_text import sql_string

REJECT_TABLES = ("reject_errors", "reject_scans")
MAX_LINE_BYTES = 4 * 1024 * 1024


def clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    for table in REJECT_TABLES:
        con.execute(f"drop table if exists {table}")


def line_reader(path: Path) -> str:
    """A table function reading every line of a text file as one VARCHAR column `line`."""
    return (f"read_csv({sql_string(path)}, columns = {{'line': 'VARCHAR'}}, header = false, "
            "delim = e'\\x1f', quote = '', escape = '', auto_detect = false, store_rejects = true, "
            f"strict_mode = false, parallel = false, max_line_size = {MAX_LINE_BYTES})")


def renumber_lines(con: duckdb.DuckDBPyConnection, table: str, first_line: int) -> None:
    """Replace ordinal `k` in `table` by `line_number`, the row's true line in the file.

    Good row k is on line k + first_line - 1 plus the rejected lines before it. Reject j (1-based,
    in line order) on line r has r - j - first_line + 1 good rows before it, so good row k comes
    after it when k > r - j - first_line + 1; an ASOF join picks the last such reject.
    """
    rejects = con.execute("select count(*) from reject_errors").fetchall()[0][0] if _has_rejects(con) else 0
    if not rejects:
        con.execute(f"alter table {table} rename column k to line_number")
        if first_line != 1:
            con.execute(f"update {table} set line_number = line_number + {first_line - 1}")
        return
    con.execute(f"""
        create or replace temp table _reject_steps as
        select line - j - {first_line} + 1 as threshold, max(j) as rejects_before
        from (select line, row_number() over (order by line) as j from (select distinct line from reject_errors))
        group by 1
    """)
    con.execute(f"""
        create or replace temp table {table} as
        select o.* exclude (k), o.k + coalesce(s.rejects_before, 0) + {first_line} - 1 as line_number
        from {table} as o
        asof left join _reject_steps as s on o.k > s.threshold
    """)
    con.execute("drop table _reject_steps")


def _has_rejects(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where table_name = 'reject_errors'").fetchall()[0][0])


def rejected_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    """(line, payload, reason) for every line the reader could not decode; few by nature. A line the
    reader rejected more than once gets its reasons in a fixed order (the reader's threads report
    them in any order), so a reload or another engine's load gives the same reason."""
    if not _has_rejects(con):
        return []
    rows = con.execute("""
        select line, min(trim(csv_line, e'\\r\\n')),
               string_agg(distinct error_type || ': ' || error_message, '; '
                          order by error_type || ': ' || error_message)
        from reject_errors group by line order by line
    """).fetchall()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def drop_temp_objects(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the per-file temp tables and views (names starting with an underscore)."""
    for name, kind in con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_catalog = 'temp' and table_name like '\\_%' escape '\\' "
            "order by table_type = 'VIEW' desc").fetchall():
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} if exists {name}")
