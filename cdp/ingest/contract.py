"""Reads `landing_contract.yml` into typed source specs: validated by pydantic models (unknown keys are
errors), with errors that name the file, the source and the key (`cdp/typed_config.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, StringConstraints, model_validator

from cdp.typed_config import IDENTIFIER_PATTERN, Strict, validated

CONTRACT_PATH = Path(__file__).with_name("landing_contract.yml")
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


ColumnType = Literal["timestamp", "date", "month", "integer", "decimal", "boolean"]


class _TimestampsModel(Strict):
    not_before: date                     # earlier timestamps are data errors (epoch zero, typos)
    max_future_hours: Annotated[int, Field(ge=0)]


class _SourceModel(Strict):
    folder: str
    format: Literal["ndjson", "table"]
    table: Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
    dedupe_on: str
    required: list[str] = Field(default_factory=list)
    optional: list[str] = Field(default_factory=list)
    types: dict[str, ColumnType] = Field(default_factory=dict)
    accepted: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    message_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _columns_exist(self) -> _SourceModel:
        if self.format == "table":
            columns = set(self.required) | set(self.optional)
            unknown = sorted(set(self.types) - columns)
            if unknown:
                raise ValueError(f"types names {unknown[0]!r}, which is not a contract column")
            if self.dedupe_on != "row" and self.dedupe_on not in columns:
                raise ValueError(f"dedupe_on must be 'row' or a contract column, got {self.dedupe_on!r}")
        return self


class _ContractModel(Strict):
    timestamps: _TimestampsModel
    sources: Annotated[dict[Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)], _SourceModel],
                       Field(min_length=1)]


def _source(name: str, model: _SourceModel) -> SourceSpec:
    return SourceSpec(
        name=name, folder=model.folder, format=model.format, table=model.table, dedupe_on=model.dedupe_on,
        required=tuple(model.required), optional=tuple(model.optional), types=dict(model.types),
        accepted={k: tuple(str(v).lower() for v in vs) for k, vs in model.accepted.items()},
        message_types=tuple(model.message_types),
    )


def parse_contract(raw: Any, path: Path | str) -> LandingContract:
    """The contract of a parsed YAML document; ContractError naming the source and key otherwise."""
    model: _ContractModel = validated(_ContractModel, raw, path, ContractError, expected={
        "not_before": "a date (YYYY-MM-DD)", "max_future_hours": "a number of hours",
        "dedupe_on": "'row' or the contract column that makes a row a duplicate"})
    return LandingContract(TimestampRules(model.timestamps.not_before, model.timestamps.max_future_hours),
                           {name: _source(name, source) for name, source in model.sources.items()})


@cache
def load_contract(path: Path = CONTRACT_PATH) -> LandingContract:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    return parse_contract(raw, path)
