"""Reading a landing file into a numbered temp table, line numbers exact.

DuckDB's CSV reader streams the file (gzip included), keeps a UTF-8 BOM and CRLF line ends out of
the values, and puts lines it cannot decode (invalid UTF-8, over-long) into a rejects table with
their true line number. Good lines are numbered in reading order; the rejected lines are gaps in
that numbering, so each good line's true number is its ordinal plus the rejects before it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

REJECT_TABLES = ("reject_errors", "reject_scans")


def sql_string(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    for table in REJECT_TABLES:
        con.execute(f"drop table if exists {table}")


def renumber_after_rejects(con: duckdb.DuckDBPyConnection, ordinal_table: str, target: str,
                           first_line: int) -> None:
    """`target` gets `line_number` = true line of each row of `ordinal_table` (which has `k`).

    Reject j (1-based, in line order) at line r has r - j - first_line + 1 good rows before it, so
    good row k comes after it when k > r - j - first_line + 1; ASOF picks the last such reject.
    """
    con.execute(f"""
        create or replace temp table _reject_steps as
        select line - j - {first_line} + 1 as threshold, max(j) as rejects_before
        from (select line, row_number() over (order by line) as j from reject_errors)
        group by 1
    """)
    con.execute(f"""
        create or replace temp table {target} as
        select o.* exclude (k), o.k + coalesce(s.rejects_before, 0) + {first_line} - 1 as line_number
        from {ordinal_table} as o
        asof left join _reject_steps as s on o.k > s.threshold
    """)


def rejected_lines(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    """(line, payload, reason) for every line the reader could not decode; few by nature."""
    rows = con.execute("""
        select line, any_value(trim(csv_line, e'\r\n')),
               string_agg(distinct error_type || ': ' || error_message, '; ')
        from reject_errors group by line order by line
    """).fetchall()
    return [(int(r[0]), r[1], r[2]) for r in rows]


def read_lines(con: duckdb.DuckDBPyConnection, path: Path, target: str) -> None:
    """`target`(line_number, line): every line of a text file, undecodable ones in reject_errors."""
    clear_rejects(con)
    con.execute(f"""
        create or replace temp table _ordinal_lines as
        select row_number() over () as k, line
        from read_csv({sql_string(path)}, columns = {{'line': 'VARCHAR'}}, header = false,
                      delim = e'\\x1f', quote = '', escape = '', auto_detect = false,
                      store_rejects = true, strict_mode = false, parallel = false,
                      max_line_size = 4194304)
    """)
    renumber_after_rejects(con, "_ordinal_lines", target, first_line=1)
    con.execute("drop table _ordinal_lines")
