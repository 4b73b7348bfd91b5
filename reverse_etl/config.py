"""Reads `syncs.yml` into typed sync definitions, with errors that name the bad key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SYNCS_PATH = Path(__file__).with_name("syncs.yml")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SyncConfigError(ValueError):
    """syncs.yml is wrong; the message names the sync and key."""


@dataclass(frozen=True)
class SyncDefinition:
    name: str
    audience: str
    key: str
    destination: dict[str, Any]
    columns: tuple[str, ...] = ()
    batch_rows: int = 50_000
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.destination["kind"])


def _definition(name: str, raw: Any, where: Path) -> SyncDefinition:
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{where}: syncs.{name} must be a mapping")
    for key in ("audience", "key", "destination"):
        if key not in raw:
            raise SyncConfigError(f"{where}: syncs.{name} lacks '{key}'")
    destination = raw["destination"]
    if not isinstance(destination, dict) or "kind" not in destination:
        raise SyncConfigError(f"{where}: syncs.{name}.destination must be a mapping with a 'kind'")
    columns = tuple(raw.get("columns") or ())
    for column in (raw["audience"], raw["key"], *columns):
        if not IDENTIFIER.match(str(column)):
            raise SyncConfigError(f"{where}: syncs.{name}: {column!r} is not a plain identifier")
    if columns and raw["key"] not in columns:
        raise SyncConfigError(f"{where}: syncs.{name}.columns must include the key {raw['key']!r}")
    batch_rows = int(raw.get("batch_rows", 50_000))
    if batch_rows < 1:
        raise SyncConfigError(f"{where}: syncs.{name}.batch_rows must be positive")
    return SyncDefinition(name, raw["audience"], raw["key"], dict(destination), columns, batch_rows)


@cache
def load_syncs(path: Path = SYNCS_PATH) -> dict[str, SyncDefinition]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from exc
    syncs = raw.get("syncs") or {}
    for name in syncs:
        if not IDENTIFIER.match(name):
            raise SyncConfigError(f"{path}: sync name {name!r} must be a plain identifier")
    return {name: _definition(name, spec, path) for name, spec in syncs.items()}
