"""Destination kinds, looked up by the `kind` of a sync definition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reverse_etl.destinations.base import Destination
from reverse_etl.destinations.file import FileDestination


def build_destination(kind: str, settings: dict[str, Any], export_dir: Path) -> Destination:
    if kind == "file":
        return FileDestination.from_settings(settings, export_dir)
    raise ValueError(f"unknown destination kind {kind!r}; known kinds: file")
