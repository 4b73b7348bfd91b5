"""Reads `syncs.yml` (destinations, suppression audiences, syncs) into typed definitions.

The file is validated against its pydantic models (`config_models.py`: one class per destination kind,
the sync options of each kind), then what refers across entries is checked (a sync's destination, its
options against that destination's kind, priority lists). Every mistake is reported with the file,
the entry and the key, and what was expected. Destination
settings that are secrets or differ per machine (URLs, tokens) are named by environment variable in
the YAML, never written into it; a destination whose URL variable is unset and has no default is
"not configured", and its syncs say so instead of failing the pipeline.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cdp.gate_thresholds import Guardrails, default_guardrails
from cdp.typed_config import validated
from reverse_etl import config_models as models

SYNCS_PATH = Path(__file__).with_name("syncs.yml")
IDENTIFIER = re.compile(models.IDENTIFIER_PATTERN)
KINDS = models.KINDS
MODES = ("insert", "update", "upsert", "mirror")
#: Consent purposes of the landing contract; a sync names the one it needs (or `none`, with a reason).
CONSENT_PURPOSES = ("email_marketing", "sms", "ads_targeting", "analytics")


class SyncConfigError(ValueError):
    """syncs.yml is wrong; the message names the entry and key."""


# the typed entries of syncs.yml that the engine reads as they are (their fields are documented there)
Holdout = models.Holdout
FrequencyCap = models.FrequencyCap


@dataclass(frozen=True)
class DestinationDefinition:
    name: str
    kind: str
    settings: dict[str, Any]
    requests_per_second: float | None = None
    max_attempts: int = 6
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0
    timeout_seconds: float = 30.0

    def url(self) -> str | None:
        """The URL from the environment variable `url_env`, else `default_url`; None when unset."""
        env = self.settings.get("url_env")
        return (os.environ.get(env) if env else None) or self.settings.get("default_url")

    @property
    def configured(self) -> bool:
        return self.kind == "file" or bool(self.url())


@dataclass(frozen=True)
class SyncDefinition:
    name: str
    audience: str
    destination: DestinationDefinition
    mode: str
    key: str                               # audience column that identifies a member
    mapping: dict[str, str]                # destination field -> audience column
    consent_purpose: str | None
    schedule: str | None = None
    batch_rows: int = 50_000
    options: dict[str, Any] = field(default_factory=dict)
    guardrails: Guardrails = field(default_factory=default_guardrails)
    description: str = ""
    #: on_consent_revoked: None = delete the member at the destination; else the destination fields
    #: (and values) an update sets for a member this sync sent who lost consent (an unsubscribe flag)
    consent_revoked_update: dict[str, Any] | None = None
    #: the contact channel a send is (email, sms, ads, ...): what frequency caps count
    channel: str | None = None
    holdout: Holdout | None = None

    @property
    def kind(self) -> str:
        return self.destination.kind

    @property
    def key_field(self) -> str:
        """The destination field the key column maps to."""
        return next(f for f, c in self.mapping.items() if c == self.key)


@dataclass(frozen=True)
class SyncConfig:
    destinations: dict[str, DestinationDefinition]
    syncs: dict[str, SyncDefinition]
    suppression: tuple[str, ...]
    #: priority list name -> audiences, highest first: a person in several syncs only in the highest
    priorities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    frequency_caps: tuple[FrequencyCap, ...] = ()

    def higher_priority(self, audience: str) -> tuple[str, tuple[str, ...]] | None:
        """(list name, the audiences ranked above `audience`) when it is in a priority list."""
        for name, audiences in self.priorities.items():
            if audience in audiences:
                return name, audiences[:audiences.index(audience)]
        return None

    def caps_for(self, channel: str | None) -> tuple[FrequencyCap, ...]:
        return tuple(c for c in self.frequency_caps if channel is not None and c.channel == channel)

    def syncs_on(self, channel: str) -> list[str]:
        return sorted(n for n, s in self.syncs.items() if s.channel == channel)


#: what a key that is missing (or wrong) should hold, for the error message
EXPECTED = {
    "consent_purpose": f"one of {CONSENT_PURPOSES}, or `none` with a `consent_reason` saying why no consent is needed",
    "auth_env": "an environment variable holding the token",
    "url_env": "an environment variable holding the URL",
    "client_id_env": "environment variables holding the OAuth client's id, secret and refresh token",
    "developer_token_env": "an environment variable holding the Google Ads developer token",
    "customer_id_env": "an environment variable holding the Google Ads customer id",
    "user_list_id": "the Customer Match user list id (digits)",
    "audience_id": "the custom audience id (digits)",
    "list_id": "the numeric id of a MANUAL HubSpot list",
}
#: the tags pydantic puts into an error's location for the union of destination kinds
_UNION_TAGS = frozenset({"file", "postgres", "http", "braze", "hubspot", "salesforce", "ad_audience:google",
                         "ad_audience:meta"})


def _validated(model: type[BaseModel], raw: Any, path: Path, prefix: tuple[Any, ...] = ()) -> Any:
    return validated(model, raw, path, SyncConfigError, prefix=prefix, expected=EXPECTED, union_tags=_UNION_TAGS)


def _destination(name: str, spec: Any) -> DestinationDefinition:
    settings = spec.model_dump(exclude_none=True, by_alias=True)
    return DestinationDefinition(
        name=name, kind=spec.kind, settings=settings,
        requests_per_second=getattr(spec, "requests_per_second", None),
        max_attempts=getattr(spec, "max_attempts", 6), backoff_seconds=getattr(spec, "backoff_seconds", 0.5),
        max_backoff_seconds=getattr(spec, "max_backoff_seconds", 30.0),
        max_retry_after_seconds=getattr(spec, "max_retry_after_seconds", 120.0),
        timeout_seconds=getattr(spec, "timeout_seconds", 30.0),
    )


def _sync(name: str, spec: models.Sync, destinations: dict[str, DestinationDefinition], path: Path) -> SyncDefinition:
    where = f"{path}: syncs.{name}"
    if spec.destination not in destinations:
        raise SyncConfigError(f"{where}.destination {spec.destination!r} is not defined under destinations "
                              f"(defined: {sorted(destinations)})")
    destination = destinations[spec.destination]
    if destination.kind == "file" and spec.mode != "mirror":
        raise SyncConfigError(f"{where}: a file destination writes the whole audience each run; use mode mirror")
    tag = f"ad_audience:{destination.settings['platform']}" if destination.kind == "ad_audience" else destination.kind
    options = _validated(models.OPTIONS[tag], spec.options, path, ("syncs", name, "options"))
    if destination.kind == "hubspot":
        key_fields = [f for f, c in spec.mapping.items() if c == spec.key]
        if key_fields != [options.id_property]:
            raise SyncConfigError(f"{where}: a hubspot sync's key must map to the destination field "
                                  f"{options.id_property!r} (options.id_property), HubSpot's unique property; it maps "
                                  f"to {key_fields}")
    revoked = spec.on_consent_revoked
    if isinstance(revoked, models.ConsentRevokedUpdate) and destination.kind not in ("http", "postgres"):
        raise SyncConfigError(f"{where}.on_consent_revoked: update is for destinations that keep records (http, "
                              f"postgres); a {destination.kind} destination removes the member")
    return SyncDefinition(
        name=name, audience=spec.audience, destination=destination, mode=spec.mode, key=spec.key,
        mapping=dict(spec.mapping), consent_purpose=None if spec.consent_purpose == "none" else spec.consent_purpose,
        schedule=spec.schedule, batch_rows=spec.batch_rows, options=dict(spec.options),
        guardrails=default_guardrails().model_copy(update=spec.guardrails.model_dump(exclude_none=True)),
        description=spec.description,
        consent_revoked_update=dict(revoked.update) if isinstance(revoked, models.ConsentRevokedUpdate) else None,
        channel=spec.channel,
        holdout=spec.holdout,
    )


def _priorities(raw: dict[str, list[str]], path: Path) -> dict[str, tuple[str, ...]]:
    seen: dict[str, str] = {}
    for name, audiences in raw.items():
        for audience in audiences:
            if audience in seen:
                raise SyncConfigError(f"{path}: priorities: {audience} is in both {seen[audience]} and {name}; an "
                                      "audience ranks in one list")
            seen[audience] = name
    return {name: tuple(audiences) for name, audiences in raw.items()}


def parse_sync_config(raw: Any, path: Path) -> SyncConfig:
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{path}: expected a mapping with destinations, suppression and syncs")
    spec: models.SyncsFile = _validated(models.SyncsFile, raw, path)
    destinations = {n: _destination(n, d) for n, d in spec.destinations.items()}
    syncs = {n: _sync(n, s, destinations, path) for n, s in spec.syncs.items()}
    return SyncConfig(destinations, syncs, tuple(spec.suppression), _priorities(spec.priorities, path),
                      tuple(spec.frequency_caps))


@cache
def load_sync_config(path: Path = SYNCS_PATH) -> SyncConfig:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_sync_config(raw, path)
