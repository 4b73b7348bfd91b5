"""Markdown previews of warehouse tables for asset metadata: a few rows, text cut short, and never a
column that holds personal data (the Dagster UI is not a place for it)."""

from __future__ import annotations

import re

from cdp.engines.catalog import column_names
from cdp.engines.types import Warehouse

#: the layers whose tables get a preview in Dagster (BI-facing; no personal data shown)
PREVIEW_SCHEMAS = ("marts", "audiences")

PII_COLUMN = re.compile(r"email|phone|first_name|last_name|^name$|identifier|ip_address|address|traits|context",
                        re.I)


def markdown_preview(con: Warehouse, schema: str, table: str, *, rows: int = 5,
                     max_columns: int = 12, order_by: str | None = None) -> str | None:
    columns = [c for c in column_names(con, schema, table)
               if not PII_COLUMN.search(c) and not c.startswith("_")][:max_columns]
    if not columns:
        return None
    listed = ", ".join(f'"{c}"' for c in columns)
    order = f" order by {order_by}" if order_by else ""
    frame = con.execute(f'select {listed} from "{schema}"."{table}"{order} limit {int(rows)}').df()
    if frame.empty:
        return "no rows"
    return frame.astype(str).apply(lambda column: column.str.slice(0, 40)).to_markdown(index=False)
