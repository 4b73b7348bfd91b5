"""The warehouse as a Dagster resource: every step that reads or writes it asks this resource for a
connection, so the engine (CDP_TARGET: DuckDB, PostgreSQL or Spark) is chosen in one place and
shows in the UI's resources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from cdp.settings import get_settings, warehouse_label
from cdp.warehouse import connect

#: The Dagster concurrency pool of every step that opens the warehouse (limit 1 in dagster.yaml).
WAREHOUSE_POOL = "duckdb"


def transient_retry_policy() -> dg.RetryPolicy:
    """Step retries for transient failures (a lock held too long, a full disk freed, a destination
    down): twice, after 10 s then 20 s, with jitter. Gate failures raise `Failure(allow_retries=False)`
    and dbt is not retried (its tests would fail again), so only real accidents are retried."""
    return dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse of CDP_TARGET (settings are read when a step connects, so a run started with
    other variables, as the tests and `cdp run` do, uses its own)."""

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:
        with connect(get_settings(), read_only=read_only) as con:
            yield con

    @contextmanager
    def engine(self) -> Iterator:
        """The engine interface itself (`cdp.engines.Engine`), also on DuckDB."""
        from cdp.engines import open_engine

        with open_engine(get_settings().dbt_target) as engine:
            yield engine

    def describe(self) -> str:
        settings = get_settings()
        return f"{settings.dbt_target}: {warehouse_label(settings)}"
