"""The warehouse engines (DuckDB, PostgreSQL, Spark) behind one interface, the only way the Python
steps reach the warehouse: run DuckDB-dialect SQL (translated per engine, `dialect.py`), read a small
result or stream Arrow batches, append a batch, ask the catalog (`catalog.py`), replace a small table.

`open_engine()` opens the engine of CDP_TARGET (settings.dbt_target), the one the whole pipeline runs on;
`cdp.warehouse.connect()` gives DuckDB's own connection on DuckDB and the engine elsewhere.
"""

from cdp.engines.base import Column, Engine, open_engine

__all__ = ["Column", "Engine", "open_engine"]
