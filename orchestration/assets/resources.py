"""The warehouse as a Dagster resource: every step that reads or writes it asks this resource for a
connection, so the engine (CDP_TARGET: DuckDB, PostgreSQL or Spark) is chosen in one place and
shows in the UI's resources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from orchestration.settings import get_settings, warehouse_label
from orchestration.warehouse import connect


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse of CDP_TARGET (settings are read when a step connects, so a run started with
    other variables, as the tests and `cdp run` do, uses its own)."""

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:
        with connect(get_settings(), read_only=read_only) as con:
            yield con

    @contextmanager
    def engine(self) -> Iterator:
        """The engine interface itself (`orchestration.engines.Engine`), also on DuckDB."""
        from orchestration.engines import open_engine

        with open_engine(get_settings().dbt_target) as engine:
            yield engine

    def describe(self) -> str:
        settings = get_settings()
        return f"{settings.dbt_target}: {warehouse_label(settings)}"
