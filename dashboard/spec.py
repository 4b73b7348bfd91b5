"""The typed page specification (dashboard/pages.yml): pages of tiles, each a query and how to show
its rows. Errors name the file, the page, the tile and the key that is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FORMATS = ("currency", "number", "percent", "ratio", "days", "months", "month", "timestamp", "text")
Format = Literal["currency", "number", "percent", "ratio", "days", "months", "month", "timestamp", "text"]
FilterName = Literal["month", "channel", "model"]


class SpecError(ValueError):
    """pages.yml is not what the dashboard expects."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TileFilter(_Strict):
    column: str
    rollup: bool = False
    #: the value that marks a rolled-up ("all") row, when it is not null
    all: str | None = None
    #: "current": with the filter unset, the month of the as-of date (else every row)
    default: Literal["current"] | None = None


class Tile(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    note: str = ""
    kind: Literal["kpis", "bar", "line", "table", "heatmap"]
    sql: str
    filters: dict[FilterName, TileFilter] = {}
    kpis: list[tuple[str, str, Format]] = []
    x: str | None = None
    y: list[str] | str | None = None
    z: str | None = None
    series: str | None = None
    stacked: bool = False
    columns: list[tuple[str, str, Format]] = []
    status: str | None = None
    format: Format = "number"
    #: across the whole page (KPI cards, tables and heat maps always are)
    wide: bool = False
    max_rows: int = Field(default=20_000, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> Tile:
        needs = {"kpis": ["kpis"], "bar": ["x", "y"], "line": ["x", "y"], "table": ["columns"],
                 "heatmap": ["x", "y", "z"]}[self.kind]
        missing = [key for key in needs if not getattr(self, key)]
        if missing:
            raise ValueError(f"a {self.kind} tile needs {', '.join(missing)}")
        return self

    def y_columns(self) -> list[str]:
        return [self.y] if isinstance(self.y, str) else list(self.y or [])

    def needed_columns(self) -> set[str]:
        """Every column the tile shows or filters on: the query must return them."""
        names = {c for c, _, _ in self.kpis} | {c for c, _, _ in self.columns}
        names |= {n for n in (self.x, self.z, self.series, self.status) if n} | set(self.y_columns())
        names |= {f.column for f in self.filters.values()}
        return names


class Page(_Strict):
    slug: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    description: str = ""
    tiles: list[Tile]


class DashboardSpec(_Strict):
    meta_sql: str
    pages: list[Page]

    @model_validator(mode="after")
    def _unique(self) -> DashboardSpec:
        slugs = [p.slug for p in self.pages]
        if len(set(slugs)) != len(slugs) or "index" not in slugs:
            raise ValueError("page slugs must be unique, and one page must be 'index' (the overview)")
        for page in self.pages:
            ids = [t.id for t in page.tiles]
            if len(set(ids)) != len(ids):
                raise ValueError(f"page {page.slug!r}: tile ids must be unique")
        return self


DEFAULT_PAGES = Path(__file__).with_name("pages.yml")


def load_spec(path: Path = DEFAULT_PAGES) -> DashboardSpec:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read the dashboard pages: {exc}") from None
    try:
        return DashboardSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _where(raw, error["loc"])
            problems.append(f"  {where}: {error['msg']} (got {error.get('input')!r:.80})")
        raise SpecError(f"{path}: the dashboard pages are not valid:\n" + "\n".join(problems)) from None


def _where(raw: object, loc: tuple) -> str:
    """A location such as pages[2].tiles[0].kind, named by slug and tile id where they exist."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            name = node.get("slug") or node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{name or key}]" if parts else f"[{key}]"
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts)
