"""Reads `syncs.yml` (destinations, suppression audiences, syncs) into typed definitions.

Every mistake is reported with the file, the entry and the key, and what was expected. Destination
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

SYNCS_PATH = Path(__file__).with_name("syncs.yml")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KINDS = ("file", "postgres", "http", "ad_audience", "braze", "hubspot", "salesforce")
MODES = ("insert", "update", "upsert", "mirror")
#: Consent purposes of the landing contract; a sync names the one it needs (or `none`, with a reason).
CONSENT_PURPOSES = ("email_marketing", "sms", "ads_targeting", "analytics")


class SyncConfigError(ValueError):
    """syncs.yml is wrong; the message names the entry and key."""


@dataclass(frozen=True)
class Guardrails:
    """Checks on a sync's plan before anything is sent (a failure blocks the sync)."""

    allow_empty: bool = False            # an empty audience is almost always a broken build
    max_delete_share: float = 0.25       # deletes / rows this sync holds at the destination
    max_change_multiple: float = 10.0    # changes vs the median of recent runs ...
    min_change_rows: int = 1_000         # ... never flagged below this many changed rows
    history_runs: int = 5                # how many recent runs make the median


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
class Holdout:
    """A control group: a stable share of the sync's eligible members, chosen by a hash of profile and
    experiment, is never sent; marts.activation_holdout_lift compares their conversions with the rest."""

    experiment: str
    share: float


@dataclass(frozen=True)
class FrequencyCap:
    """At most `max_sends` sends to one person on `channel` in `window_days` days, over every sync of
    that channel (ops.sync_log); a member over the cap is held back this run, not removed."""

    channel: str
    max_sends: int
    window_days: float


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
    guardrails: Guardrails = field(default_factory=Guardrails)
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


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise SyncConfigError(f"{where} lacks '{key}'")
    return mapping[key]


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise SyncConfigError(f"{where}: {value!r} is not a plain identifier (letters, digits, _)")
    return value


def _number(raw: dict, key: str, default: float, where: str, *, minimum: float = 0) -> float:
    value = raw.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SyncConfigError(f"{where}.{key} must be a number, got {value!r}") from None
    if number < minimum:
        raise SyncConfigError(f"{where}.{key} must be at least {minimum}, got {number}")
    return number


def _destination(name: str, raw: Any, path: Path) -> DestinationDefinition:
    where = f"{path}: destinations.{name}"
    kind = _require(raw, "kind", where)
    if kind not in KINDS:
        raise SyncConfigError(f"{where}.kind must be one of {KINDS}, got {kind!r}")
    if kind == "ad_audience" and raw.get("platform") not in ("google", "meta"):
        raise SyncConfigError(f"{where}.platform must be google or meta, got {raw.get('platform')!r}")
    if kind == "braze" and not raw.get("auth_env"):
        raise SyncConfigError(f"{where} needs 'auth_env' (an environment variable holding the Braze REST API key)")
    if kind == "hubspot" and not raw.get("auth_env"):
        raise SyncConfigError(f"{where} needs 'auth_env' (an environment variable holding the HubSpot private app "
                              "token)")
    if kind == "salesforce":
        missing = [k for k in ("client_id_env", "client_secret_env", "refresh_token_env") if not raw.get(k)]
        if missing:
            raise SyncConfigError(f"{where} needs {', '.join(missing)} (environment variables holding the connected "
                                  "app's client id, client secret and refresh token)")
    if kind == "ad_audience" and raw["platform"] == "google":
        missing = [k for k in ("client_id_env", "client_secret_env", "refresh_token_env", "developer_token_env",
                               "customer_id_env") if not raw.get(k)]
        if missing:
            raise SyncConfigError(f"{where} needs {', '.join(missing)} (environment variables holding the OAuth "
                                  "client's id, secret and refresh token, the Google Ads developer token and the "
                                  "customer id)")
    if kind == "ad_audience" and raw["platform"] == "meta" and not raw.get("auth_env"):
        raise SyncConfigError(f"{where} needs 'auth_env' (an environment variable holding the Meta access token)")
    if kind != "file" and not (raw.get("url_env") or raw.get("default_url")):
        raise SyncConfigError(f"{where} needs 'url_env' (an environment variable holding the URL) or 'default_url'")
    rps = raw.get("requests_per_second")
    return DestinationDefinition(
        name=name, kind=kind, settings=dict(raw),
        requests_per_second=None if rps is None else _number(raw, "requests_per_second", 0, where, minimum=0.001),
        max_attempts=int(_number(raw, "max_attempts", 6, where, minimum=1)),
        backoff_seconds=_number(raw, "backoff_seconds", 0.5, where),
        max_backoff_seconds=_number(raw, "max_backoff_seconds", 30.0, where),
        max_retry_after_seconds=_number(raw, "max_retry_after_seconds", 120.0, where),
        timeout_seconds=_number(raw, "timeout_seconds", 30.0, where, minimum=0.01),
    )


def _guardrails(raw: Any, where: str) -> Guardrails:
    if raw is None:
        return Guardrails()
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{where}.guardrails must be a mapping")
    unknown = set(raw) - set(Guardrails.__dataclass_fields__)
    if unknown:
        raise SyncConfigError(f"{where}.guardrails: unknown key(s) {sorted(unknown)}")
    defaults = Guardrails()
    return Guardrails(
        allow_empty=bool(raw.get("allow_empty", defaults.allow_empty)),
        max_delete_share=_number(raw, "max_delete_share", defaults.max_delete_share, where + ".guardrails"),
        max_change_multiple=_number(raw, "max_change_multiple", defaults.max_change_multiple, where + ".guardrails"),
        min_change_rows=int(_number(raw, "min_change_rows", defaults.min_change_rows, where + ".guardrails")),
        history_runs=int(_number(raw, "history_runs", defaults.history_runs, where + ".guardrails", minimum=1)),
    )


def _sync(name: str, raw: Any, destinations: dict[str, DestinationDefinition], path: Path) -> SyncDefinition:
    where = f"{path}: syncs.{name}"
    audience = _identifier(_require(raw, "audience", where), f"{where}.audience")
    destination_name = _require(raw, "destination", where)
    if destination_name not in destinations:
        raise SyncConfigError(f"{where}.destination {destination_name!r} is not defined under destinations "
                              f"(defined: {sorted(destinations)})")
    mode = _require(raw, "mode", where)
    if mode not in MODES:
        raise SyncConfigError(f"{where}.mode must be one of {MODES}, got {mode!r}")
    key = _identifier(_require(raw, "key", where), f"{where}.key")
    mapping_raw = _require(raw, "mapping", where)
    if not isinstance(mapping_raw, dict) or not mapping_raw:
        raise SyncConfigError(f"{where}.mapping must map destination fields to audience columns")
    mapping = {_identifier(f, f"{where}.mapping"): _identifier(c, f"{where}.mapping.{f}")
               for f, c in mapping_raw.items()}
    if key not in mapping.values():
        raise SyncConfigError(f"{where}.mapping must send the key column {key!r} to some destination field")
    if "consent_purpose" not in raw:
        raise SyncConfigError(f"{where} lacks 'consent_purpose' (one of {CONSENT_PURPOSES}, or `none` "
                              "with a `consent_reason` saying why no consent is needed)")
    purpose = raw["consent_purpose"]
    if purpose in (None, "none"):
        if not raw.get("consent_reason"):
            raise SyncConfigError(f"{where}: consent_purpose none needs a 'consent_reason'")
        purpose = None
    elif purpose not in CONSENT_PURPOSES:
        raise SyncConfigError(f"{where}.consent_purpose must be one of {CONSENT_PURPOSES} or none, got {purpose!r}")
    destination = destinations[destination_name]
    if destination.kind == "file" and mode != "mirror":
        raise SyncConfigError(f"{where}: a file destination writes the whole audience each run; use mode mirror")
    batch_rows = int(_number(raw, "batch_rows", 50_000, where, minimum=1))
    if destination.kind == "hubspot":
        _hubspot_options(raw, mapping, where)
    if destination.kind == "salesforce":
        _identifier((raw.get("options") or {}).get("sobject", "Contact"), f"{where}.options.sobject")
    if destination.kind == "ad_audience":
        option = "user_list_id" if destination.settings["platform"] == "google" else "audience_id"
        value = (raw.get("options") or {}).get(option)
        if not str(value or "").isdigit():
            raise SyncConfigError(f"{where}.options.{option} must be the "
                                  f"{'Customer Match user list' if option == 'user_list_id' else 'custom audience'}"
                                  f" id (digits), got {value!r}")
    channel = _identifier(raw["channel"], f"{where}.channel") if raw.get("channel") is not None else None
    revoked_update = _consent_revoked(raw.get("on_consent_revoked", "delete"), mapping, purpose, destination, where)
    return SyncDefinition(
        name=name, audience=audience, destination=destination, mode=mode, key=key, mapping=mapping,
        consent_purpose=purpose, schedule=raw.get("schedule"), batch_rows=batch_rows,
        options=dict(raw.get("options") or {}), guardrails=_guardrails(raw.get("guardrails"), where),
        description=str(raw.get("description") or ""),
        consent_revoked_update=revoked_update,
        channel=channel,
        holdout=_holdout(raw.get("holdout"), f"{where}.holdout"),
    )


def _holdout(raw: Any, where: str) -> Holdout | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"experiment", "share"}:
        raise SyncConfigError(f"{where} must be {{experiment: <name>, share: <0 to 0.5>}}, got {raw!r}")
    experiment = _identifier(_require(raw, "experiment", where), f"{where}.experiment")
    share = _number(raw, "share", 0.1, where)
    if not 0 < share <= 0.5:
        raise SyncConfigError(f"{where}.share must be above 0 and at most 0.5 (a control group, not the "
                              f"audience), got {share}")
    return Holdout(experiment, share)


def _priorities(raw: Any, path: Path) -> dict[str, tuple[str, ...]]:
    where = f"{path}: priorities"
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{where} must map a list name to audiences, highest priority first")
    seen: dict[str, str] = {}
    lists = {}
    for name, audiences in raw.items():
        _identifier(name, where)
        if not isinstance(audiences, list) or len(audiences) < 2:
            raise SyncConfigError(f"{where}.{name} must list at least two audiences, highest priority first")
        for audience in audiences:
            _identifier(audience, f"{where}.{name}")
            if audience in seen:
                raise SyncConfigError(f"{where}: {audience} is in both {seen[audience]} and {name}; an audience "
                                      "ranks in one list")
            seen[audience] = name
        lists[name] = tuple(audiences)
    return lists


def _frequency_caps(raw: Any, path: Path) -> tuple[FrequencyCap, ...]:
    where = f"{path}: frequency_caps"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SyncConfigError(f"{where} must be a list of {{channel, max_sends, window_days}}")
    caps = []
    for i, cap in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(cap, dict) or set(cap) != {"channel", "max_sends", "window_days"}:
            raise SyncConfigError(f"{at} must be {{channel, max_sends, window_days}}, got {cap!r}")
        caps.append(FrequencyCap(_identifier(cap["channel"], f"{at}.channel"),
                                 int(_number(cap, "max_sends", 1, at, minimum=1)),
                                 _number(cap, "window_days", 1, at, minimum=0.001)))
    return tuple(caps)


def _consent_revoked(raw: Any, mapping: dict[str, str], purpose: str | None, destination: DestinationDefinition,
                     where: str) -> dict[str, Any] | None:
    """How a revoked consent reaches the destination: `delete` (the default; list removal for ad
    audiences), or `{update: {field: value, ...}}`, an update setting those destination fields (an
    unsubscribe flag) where the destination keeps the record."""
    if raw == "delete":
        return None
    fields = raw.get("update") if isinstance(raw, dict) and set(raw) == {"update"} else None
    if not isinstance(fields, dict) or not fields:
        raise SyncConfigError(f"{where}.on_consent_revoked must be `delete` or {{update: {{<field>: <value>}}}}, "
                              f"got {raw!r}")
    if purpose is None:
        raise SyncConfigError(f"{where}.on_consent_revoked needs a consent_purpose (there is no consent to revoke)")
    if destination.kind not in ("http", "postgres"):
        raise SyncConfigError(f"{where}.on_consent_revoked: update is for destinations that keep records (http, "
                              f"postgres); a {destination.kind} destination removes the member")
    for name, value in fields.items():
        if name not in mapping:
            raise SyncConfigError(f"{where}.on_consent_revoked.update.{name} is not a mapped destination field "
                                  f"(mapped: {sorted(mapping)})")
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise SyncConfigError(f"{where}.on_consent_revoked.update.{name} must be a plain value, got {value!r}")
    return dict(fields)


def _hubspot_options(raw: dict[str, Any], mapping: dict[str, str], where: str) -> None:
    """HubSpot upserts contacts by a unique property (email by default): the sync's key must map to it."""
    options = raw.get("options") or {}
    id_property = str(options.get("id_property", "email"))
    key_fields = [f for f, c in mapping.items() if c == raw.get("key")]
    if key_fields != [id_property]:
        raise SyncConfigError(f"{where}: a hubspot sync's key must map to the destination field {id_property!r} "
                              f"(options.id_property), HubSpot's unique property; it maps to {key_fields}")
    list_id = options.get("list_id")
    if list_id is not None and not str(list_id).isdigit():
        raise SyncConfigError(f"{where}.options.list_id must be the numeric id of a MANUAL HubSpot list, "
                              f"got {list_id!r}")


def parse_sync_config(raw: Any, path: Path) -> SyncConfig:
    if not isinstance(raw, dict):
        raise SyncConfigError(f"{path}: expected a mapping with destinations, suppression and syncs")
    destinations_raw = raw.get("destinations") or {}
    destinations = {_identifier(n, f"{path}: destinations"): _destination(n, d, path)
                    for n, d in destinations_raw.items()}
    suppression = tuple(_identifier(a, f"{path}: suppression") for a in raw.get("suppression") or ())
    syncs = {_identifier(n, f"{path}: syncs"): _sync(n, s, destinations, path)
             for n, s in (raw.get("syncs") or {}).items()}
    unknown = set(raw) - {"destinations", "suppression", "syncs", "priorities", "frequency_caps"}
    if unknown:
        raise SyncConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)} (expected destinations, "
                              "suppression, priorities, frequency_caps, syncs)")
    return SyncConfig(destinations, syncs, suppression, _priorities(raw.get("priorities"), path),
                      _frequency_caps(raw.get("frequency_caps"), path))


@cache
def load_sync_config(path: Path = SYNCS_PATH) -> SyncConfig:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_sync_config(raw, path)
