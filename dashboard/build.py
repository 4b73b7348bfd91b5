"""Builds the dashboard: runs every tile's query of dashboard/pages.yml and writes one static page
per spec page, its rows embedded as JSON, with Plotly and the renderer copied beside it. Nothing is
fetched when a page is viewed, so it opens offline and from a file. The pages are written into a
new folder that then replaces the old one, so a reader never sees half a dashboard."""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cdp.engines.types import Warehouse
from dashboard.spec import DashboardSpec, Page, Tile, load_spec

STATIC = Path(__file__).with_name("static")


class TileError(RuntimeError):
    """A tile's query failed or returned what the tile cannot show."""


@dataclass(frozen=True)
class TileData:
    tile: Tile
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class DashboardBuild:
    folder: Path
    pages: dict[str, Path]
    rows: int
    seconds: float
    meta: dict[str, Any]


def plotly_js() -> Path:
    """plotly.js's cartesian bundle, kept beside the renderer (static/vendor/README.md): no CDN."""
    return STATIC / "vendor" / "plotly-cartesian.min.js"


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _query(con: Warehouse, sql: str) -> tuple[list[str], list[list[Any]]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return columns, [[_json_value(v) for v in row] for row in cursor.fetchall()]


def run_tile(con: Warehouse, page: Page, tile: Tile) -> TileData:
    where = f"page {page.slug!r}, tile {tile.id!r} (dashboard/pages.yml)"
    try:
        columns, rows = _query(con, tile.sql)
    except Exception as exc:
        raise TileError(f"{where}: its query failed: {exc}") from exc
    missing = sorted(tile.needed_columns() - set(columns))
    if missing:
        raise TileError(f"{where}: the query returns no column {', '.join(missing)} (it returns {', '.join(columns)})")
    if len(rows) > tile.max_rows:
        raise TileError(f"{where}: {len(rows):,} rows, more than max_rows {tile.max_rows:,}; a page embeds its "
                        "rows, so query an aggregated mart (or raise max_rows)")
    return TileData(tile, columns, rows)


def _embed(payload: dict) -> str:
    """JSON safe inside a <script type="application/json"> element: no character of the data can end
    the element or start markup."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _label(column: str) -> str:
    return column.replace("_", " ").capitalize()


def _tile_html(data: TileData) -> str:
    tile = data.tile
    e = html.escape
    note = f'<p class="note">{e(tile.note)}</p>' if tile.note else ""
    if tile.kind == "kpis":
        cards = "".join(
            f'<div class="card" data-kpi="{e(column)}" data-format="{e(kind)}" data-value="">'
            f'<div class="label">{e(label)}</div><div class="value">–</div></div>'
            for column, label, kind in tile.kpis)
        body, wide = f'<div class="cards">{cards}</div>', True
    elif tile.kind == "table":
        head = "".join(f"<th>{e(label)}</th>" for _, label, _ in tile.columns)
        body = (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody></tbody></table></div>'
                '<p class="empty" hidden>No rows for these filters.</p>')
        wide = True
    else:
        body, wide = '<div class="chart"></div>', tile.kind == "heatmap" or tile.wide
    return (f'<section class="tile{" wide" if wide else ""}" id="tile-{e(tile.id)}" data-kind="{e(tile.kind)}">'
            f"<h2>{e(tile.title)}</h2>{note}{body}</section>")


def _page_html(spec: DashboardSpec, page: Page, tiles: list[TileData], meta: dict[str, Any]) -> str:
    e = html.escape
    current = ' aria-current="page"'
    nav = "".join(
        f'<a data-page="{e(p.slug)}.html" href="{e(p.slug)}.html"{current if p.slug == page.slug else ""}>'
        f"{e(p.title)}</a>"
        for p in spec.pages)
    months = f"{str(meta.get('first_month') or '–')[:7]} – {str(meta.get('last_month') or '–')[:7]}"
    context = (
        f"<span>Data as of <b>{e(str(meta.get('as_of_date') or '–'))}</b></span>"
        f"<span>Months <b>{e(months)}</b></span>"
        f"<span>Showing <b id=\"meta-period\">all months</b></span>"
        f"<span>Currency <b>{e(str(meta.get('currency') or '–'))}</b></span>"
        f"<span>Attribution model <b id=\"meta-model\">{e(str(meta.get('default_model') or '–'))}</b></span>"
        f"<span>Files last loaded <b>{e(str(meta.get('last_loaded_at') or '–')[:16].replace('T', ' '))}</b></span>"
        f"<span>Published <b>{e(str(meta['published_at'])[:16].replace('T', ' '))} UTC</b></span>")
    payload = {
        "slug": page.slug,
        "meta": meta,
        "tiles": [{
            "id": t.tile.id, "kind": t.tile.kind, "columns": t.columns, "rows": t.rows,
            "filters": {k: v.model_dump(exclude_none=True) for k, v in t.tile.filters.items()},
            "x": t.tile.x, "y": t.tile.y_columns(), "z": t.tile.z, "series": t.tile.series,
            "labels": [_label(c) for c in t.tile.y_columns()], "stacked": t.tile.stacked,
            "format": t.tile.format, "status": t.tile.status,
            "table": [list(c) for c in t.tile.columns],
        } for t in tiles],
    }
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(page.title)} · Marketing dashboard</title>
<link rel="stylesheet" href="assets/dashboard.css">
</head><body>
<header><h1>{e(page.title)}</h1><p>{e(page.description)}</p>
<nav>{nav}</nav>
<div class="context">{context}</div></header>
<div id="filters"></div>
<main>{"".join(_tile_html(t) for t in tiles)}</main>
<footer>Built from the marts of the last run whose every gate passed. Definitions: marts.marketing_kpis,
marts.budget_pacing and marts.pipeline_forecast in the dbt docs.</footer>
<script type="application/json" id="cdp-page">{_embed(payload)}</script>
<script src="assets/plotly.min.js"></script>
<script src="assets/dashboard.js"></script>
</body></html>
"""


def build_dashboard(con: Warehouse, out_dir: Path, spec: DashboardSpec | None = None,
                    published_at: datetime | None = None) -> DashboardBuild:
    """Query every tile and write the pages into `out_dir` (replacing what was there)."""
    started = time.perf_counter()
    spec = spec or load_spec()
    columns, rows = _query(con, spec.meta_sql)
    meta = dict(zip(columns, rows[0] if rows else [None] * len(columns), strict=True))
    meta["published_at"] = (published_at or datetime.now(UTC)).astimezone(UTC).isoformat()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "assets").mkdir(parents=True)
    total = 0
    pages: dict[str, Path] = {}
    try:
        for page in spec.pages:
            tiles = [run_tile(con, page, tile) for tile in page.tiles]
            total += sum(len(t.rows) for t in tiles)
            (staging / f"{page.slug}.html").write_text(_page_html(spec, page, tiles, meta), encoding="utf-8")
            pages[page.slug] = out_dir / f"{page.slug}.html"
        shutil.copyfile(plotly_js(), staging / "assets" / "plotly.min.js")
        for name in ("dashboard.js", "dashboard.css"):
            shutil.copyfile(STATIC / name, staging / "assets" / name)
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return DashboardBuild(out_dir, pages, total, time.perf_counter() - started, meta)
