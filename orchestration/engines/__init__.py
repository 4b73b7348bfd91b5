"""The warehouse engines the dbt models build on (DuckDB, PostgreSQL, Spark), behind one small
interface for the Python steps that sit between models: read a small result, replace a small table.

`open_engine()` opens the engine of CDP_DBT_TARGET (settings.dbt_target), the same one dbt builds on.
"""

from orchestration.engines.base import Column, Engine, open_engine

__all__ = ["Column", "Engine", "open_engine"]
