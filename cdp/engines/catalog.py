"""What tables and columns the warehouse holds, asked the same way of every engine.

DuckDB and PostgreSQL answer from `information_schema`; Spark's session catalog has none, so its
engine answers from `spark.catalog`. Callers pass whatever `cdp.warehouse.connect` gave
them: DuckDB's own connection or an engine.
"""

from __future__ import annotations


def column_names(con, schema: str, table: str) -> list[str]:
    if hasattr(con, "columns"):
        return list(con.columns(schema, table))
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]


def column_types(con, relations: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table) -> [(column, type)] in column order, for those of `relations` that exist."""
    if hasattr(con, "column_types"):
        return con.column_types(relations)
    from cdp.engines.base import information_schema_types

    return information_schema_types(con, relations)


def base_tables(con, schemas: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """(schema, table) of every table (not view) in `schemas`, sorted."""
    if hasattr(con, "tables"):
        return sorted(con.tables(tuple(schemas)))
    marks = ", ".join("?" for _ in schemas)
    return [tuple(r) for r in con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        f"and table_schema in ({marks}) order by 1, 2", list(schemas)).fetchall()]


def table_exists(con, schema: str, table: str) -> bool:
    if hasattr(con, "table_exists"):
        return bool(con.table_exists(schema, table))
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchone()[0])
