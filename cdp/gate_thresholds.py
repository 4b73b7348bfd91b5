"""gates.yml (CDP_GATES_FILE): the one file that holds every gate's threshold, typed.

Each layer's thresholds are read from here by whatever runs the gate: the raw loader (quarantine rate,
volume), the identity dbt tests (through `CDP_DBT_GATES`, which every dbt run of `cdp` sets from this
file), the audience gates and the reverse-ETL guardrails (the defaults of every sync; a sync may
override keys in syncs.yml). Two environment variables override a threshold for one run:
CDP_MAX_QUARANTINE_RATE and CDP_IDENTITY_MAX_CLUSTER_SIZE.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field

from cdp.settings import Settings, get_settings
from cdp.typed_config import Strict, validated


class GatesConfigError(ValueError):
    """gates.yml is malformed; the message names the file and key."""


class _Gate(Strict):
    severity: Literal["error", "warn"] = "error"


class _QuarantineRate(Strict):
    max_share: Annotated[float, Field(ge=0, le=1)]


class _Volume(_Gate):
    min_share_of_median: Annotated[float, Field(ge=0)]
    max_multiple_of_median: Annotated[float, Field(gt=0)]
    min_previous_files: Annotated[int, Field(ge=1)]


class _LargestProfile(Strict):
    max_identifiers: Annotated[int, Field(ge=1)]


class _MergeJump(Strict):
    max_multiple_of_previous: Annotated[float, Field(gt=0)]
    floor: Annotated[int, Field(ge=0)]


class _DroppedIdentifiers(Strict):
    max_share: Annotated[float, Field(ge=0, le=1)]


class _SizeChange(_Gate):
    max_drop_share: Annotated[float, Field(ge=0, le=1)]
    max_growth_multiple: Annotated[float, Field(gt=0)]
    min_previous_members: Annotated[int, Field(ge=0)]


class Guardrails(Strict):
    """Checks on a sync's plan before anything is sent (a failure blocks the sync): an empty audience
    (almost always a broken build), the share of deletes among the rows the sync holds at the
    destination, and changes against the median of recent runs (never flagged below min_change_rows)."""

    allow_empty: bool
    max_delete_share: Annotated[float, Field(ge=0)]
    max_change_multiple: Annotated[float, Field(ge=0)]
    min_change_rows: Annotated[int, Field(ge=0)]
    history_runs: Annotated[int, Field(ge=1)]


class _RawGates(Strict):
    quarantine_rate: _QuarantineRate
    volume: _Volume


class _IdentityGates(Strict):
    largest_profile: _LargestProfile
    merge_jump: _MergeJump
    dropped_identifiers: _DroppedIdentifiers


class _AudienceGates(Strict):
    size_change: _SizeChange
    consent_present: _Gate


class _ReverseEtlGates(Strict):
    guardrails: Guardrails


class _GatesFile(Strict):
    """gates.yml: every gate's threshold, by layer."""

    raw: _RawGates
    identity: _IdentityGates
    audiences: _AudienceGates
    reverse_etl: _ReverseEtlGates


@cache
def _load(path: Path, mtime_ns: int) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise GatesConfigError(f"{path}: not valid YAML: {exc}") from exc
    return validated(_GatesFile, raw, path, GatesConfigError).model_dump()


def load_gates(path: Path | None = None) -> dict[str, Any]:
    """Every gate of gates.yml, checked (a GatesConfigError names the file and key)."""
    path = path or get_settings().gates_file
    if not path.exists():
        raise GatesConfigError(f"gates file {path} does not exist (CDP_GATES_FILE)")
    return _load(path, path.stat().st_mtime_ns)


def gate(layer: str, name: str, path: Path | None = None) -> dict[str, Any]:
    """One gate's thresholds (and severity, where it has one)."""
    return dict(load_gates(path)[layer][name])


def max_quarantine_rate(settings: Settings | None = None) -> tuple[float, str]:
    """The raw quarantine-rate limit in force and where it comes from (the override, or gates.yml)."""
    settings = settings or get_settings()
    if settings.max_quarantine_rate is not None:
        return settings.max_quarantine_rate, "CDP_MAX_QUARANTINE_RATE"
    return float(gate("raw", "quarantine_rate", settings.gates_file)["max_share"]), "gates.yml raw.quarantine_rate"


def default_guardrails(path: Path | None = None) -> Guardrails:
    """The guardrails every sync has unless syncs.yml overrides some of its keys."""
    return Guardrails(**gate("reverse_etl", "guardrails", path))


def dbt_gates_json(settings: Settings) -> str:
    """The identity gates as dbt reads them (macro `cdp_gate`, from the variable CDP_DBT_GATES)."""
    identity = {name: dict(values) for name, values in load_gates(settings.gates_file)["identity"].items()}
    if settings.identity_max_cluster_size is not None:
        identity["largest_profile"]["max_identifiers"] = settings.identity_max_cluster_size
    return json.dumps(identity, sort_keys=True)


def gates_in_force(settings: Settings | None = None) -> list[tuple[str, Any, str]]:
    """(layer.gate.key, value, where it comes from) for every threshold and severity, overrides applied."""
    settings = settings or get_settings()
    overrides = {"raw.quarantine_rate.max_share": ("CDP_MAX_QUARANTINE_RATE", settings.max_quarantine_rate),
                 "identity.largest_profile.max_identifiers": ("CDP_IDENTITY_MAX_CLUSTER_SIZE",
                                                              settings.identity_max_cluster_size)}
    rows = []
    for layer, gates in load_gates(settings.gates_file).items():
        for name, values in gates.items():
            for key, value in values.items():
                path = f"{layer}.{name}.{key}"
                variable, override = overrides.get(path, ("", None))
                rows.append((path, override, variable) if override is not None else (path, value, "gates.yml"))
    return rows
