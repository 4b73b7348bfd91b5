"""The type of what `cdp.warehouse.connect()` gives the Python steps: DuckDB's own connection
on DuckDB, an `Engine` on PostgreSQL and Spark. Both take the same DuckDB-dialect statements, so code
typed with `Warehouse` runs on every engine. (No import at run time: nothing here loads a driver.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    import duckdb

    from cdp.engines.base import Engine

Warehouse = Union["duckdb.DuckDBPyConnection", "Engine"]
