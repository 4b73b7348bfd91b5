"""Reads `landing_contract.yml` into typed source specs, with errors that name the bad key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import yaml

CONTRACT_PATH = Path(__file__).with_name("landing_contract.yml")
COLUMN_TYPES = {"timestamp", "date", "month", "integer", "decimal", "boolean"}
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet")
NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz")


class ContractError(ValueError):
    """The landing contract file itself is wrong."""


@dataclass(frozen=True)
class TimestampRules:
    not_before: date
    max_future_hours: int


@dataclass(frozen=True)
class SourceSpec:
    name: str
    folder: str
    format: str
    table: str
    dedupe_on: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    types: dict[str, str] = field(default_factory=dict)
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    message_types: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    @property
    def suffixes(self) -> tuple[str, ...]:
        return NDJSON_SUFFIXES if self.format == "ndjson" else TABLE_SUFFIXES


@dataclass(frozen=True)
class LandingContract:
    timestamps: TimestampRules
    sources: dict[str, SourceSpec]


def _source(name: str, raw: dict, where: str) -> SourceSpec:
    for key in ("folder", "format", "table", "dedupe_on"):
        if key not in raw:
            raise ContractError(f"{where}: source '{name}' lacks '{key}'")
    if raw["format"] not in ("ndjson", "table"):
        raise ContractError(f"{where}: source '{name}' format must be ndjson or table, got {raw['format']!r}")
    spec = SourceSpec(
        name=name,
        folder=raw["folder"],
        format=raw["format"],
        table=raw["table"],
        dedupe_on=raw["dedupe_on"],
        required=tuple(raw.get("required") or ()),
        optional=tuple(raw.get("optional") or ()),
        types=dict(raw.get("types") or {}),
        accepted={k: tuple(str(v).lower() for v in vs) for k, vs in (raw.get("accepted") or {}).items()},
        message_types=tuple(raw.get("message_types") or ()),
    )
    for column, kind in spec.types.items():
        if kind not in COLUMN_TYPES:
            raise ContractError(
                f"{where}: {name}.types.{column} is {kind!r}; expected one of {sorted(COLUMN_TYPES)}"
            )
        if spec.format == "table" and column not in spec.columns:
            raise ContractError(f"{where}: {name}.types names {column!r}, which is not a contract column")
    if spec.format == "table" and spec.dedupe_on != "row" and spec.dedupe_on not in spec.columns:
        raise ContractError(f"{where}: {name}.dedupe_on must be 'row' or a contract column")
    return spec


@cache
def load_contract(path: Path = CONTRACT_PATH) -> LandingContract:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    ts = raw.get("timestamps") or {}
    try:
        rules = TimestampRules(date.fromisoformat(str(ts["not_before"])), int(ts["max_future_hours"]))
    except (KeyError, ValueError) as exc:
        raise ContractError(f"{path}: timestamps.not_before (YYYY-MM-DD) and max_future_hours are required") from exc
    sources = {name: _source(name, spec, str(path)) for name, spec in (raw.get("sources") or {}).items()}
    if not sources:
        raise ContractError(f"{path}: no sources defined")
    return LandingContract(rules, sources)
