"""Publishing the dashboard (dashboard/) for a run: from the serving copy on DuckDB (the last data
whose every gate passed), from the warehouse itself on PostgreSQL and Spark, into
CDP_DASHBOARD_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from cdp.engines.types import Warehouse
from cdp.settings import Settings
from dashboard import DashboardBuild, build_dashboard


class NothingPublished(RuntimeError):
    """No run has published data yet."""


@contextmanager
def published_data(settings: Settings) -> Iterator[Warehouse]:
    """A read-only connection to what BI reads: the serving copy on DuckDB, the warehouse elsewhere."""
    if settings.dbt_target == "duckdb":
        if not settings.serving_warehouse.exists():
            raise NothingPublished(
                f"no serving copy at {settings.serving_warehouse}: run `cdp run` first (the dashboard shows only "
                "data from a run whose every gate passed)")
        con = duckdb.connect(str(settings.serving_warehouse), read_only=True)
        try:
            yield con
        finally:
            con.close()
    else:
        from cdp.warehouse import connect

        with connect(settings, read_only=True) as con:
            yield con


def publish_dashboard(settings: Settings) -> DashboardBuild:
    with published_data(settings) as con:
        return build_dashboard(con, settings.dashboard_dir)
