"""The shape of `syncs.yml` as pydantic models: one class per destination kind (and per ad platform),
the sync, its guardrails, holdout and consent handling, the activation rules, and each destination
kind's sync options. Unknown keys are errors (a misspelt setting would otherwise be ignored).

`config.py` validates the file with these models, checks what refers across entries (a sync's
destination, its options against the destination's kind, priority lists), and turns pydantic's
errors into messages that name the file, the entry and the key, and what was expected.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from cdp.typed_config import IDENTIFIER_PATTERN, Strict

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
#: an id: digits, as text (YAML reads an unquoted id as a number)
Digits = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
                   StringConstraints(pattern=r"^[0-9]+$")]
Scalar = str | int | float | bool | None


# ------------------------------------------------------------------------------------------- destinations


class _Destination(Strict):
    """What every destination kind takes: where it is, and how it is retried and rate limited."""

    url_env: str | None = None           # environment variable holding the URL
    default_url: str | None = None       # the URL when that variable is unset
    requests_per_second: Annotated[float, Field(gt=0)] | None = None
    max_attempts: Annotated[int, Field(ge=1)] = 6
    backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_backoff_seconds: Annotated[float, Field(ge=0)] = 30.0
    max_retry_after_seconds: Annotated[float, Field(ge=0)] = 120.0
    timeout_seconds: Annotated[float, Field(ge=0.01)] = 30.0

    @model_validator(mode="after")
    def _has_an_address(self) -> _Destination:
        if not (self.url_env or self.default_url):
            raise ValueError("needs 'url_env' (an environment variable holding the URL) or 'default_url'")
        return self


class _BearerAuth(BaseModel):
    auth_env: str | None = None          # environment variable holding the token
    auth_scheme: str | None = None       # e.g. Bearer
    auth_header: str = "Authorization"


class FileDestination(Strict):
    kind: Literal["file"]
    directory: str | None = None         # under CDP_EXPORT_DIR, or absolute
    format: Literal["csv", "parquet", "jsonl"] | None = None   # the syncs' default


class PostgresDestination(_Destination):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: Literal["postgres"]
    schema_: Identifier | None = Field(default=None, alias="schema")   # the syncs' default schema


class HttpDestination(_Destination, _BearerAuth):
    kind: Literal["http"]
    request_rows: Annotated[int, Field(ge=1)] | None = None   # the syncs' default


class BrazeDestination(_Destination, _BearerAuth):
    kind: Literal["braze"]
    auth_env: str                        # the REST API key


class HubSpotDestination(_Destination, _BearerAuth):
    kind: Literal["hubspot"]
    auth_env: str                        # the private app token (crm.objects.contacts.write, crm.lists.write)


class _OAuthClient(BaseModel):
    """Environment variables holding an OAuth client's credentials (the refresh-token grant)."""

    client_id_env: str
    client_secret_env: str
    refresh_token_env: str


class SalesforceDestination(_Destination, _OAuthClient):
    kind: Literal["salesforce"]
    api_version: str | None = None


class GoogleAdsDestination(_Destination, _OAuthClient):
    kind: Literal["ad_audience"]
    platform: Literal["google"]
    developer_token_env: str
    customer_id_env: str
    login_customer_id_env: str | None = None
    token_url: str | None = None
    api_version: str | None = None


class MetaAdsDestination(_Destination, _BearerAuth):
    kind: Literal["ad_audience"]
    platform: Literal["meta"]
    auth_env: str                        # the access token
    api_version: str | None = None


def _destination_tag(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("kind")
    return f"ad_audience:{raw.get('platform')}" if kind == "ad_audience" else kind


Destination = Annotated[
    Annotated[FileDestination, Tag("file")] | Annotated[PostgresDestination, Tag("postgres")]
    | Annotated[HttpDestination, Tag("http")] | Annotated[BrazeDestination, Tag("braze")]
    | Annotated[HubSpotDestination, Tag("hubspot")] | Annotated[SalesforceDestination, Tag("salesforce")]
    | Annotated[GoogleAdsDestination, Tag("ad_audience:google")]
    | Annotated[MetaAdsDestination, Tag("ad_audience:meta")],
    Discriminator(_destination_tag, custom_error_type="destination_kind",
                  custom_error_message="kind must be one of file, postgres, http, ad_audience (platform google "
                                       "or meta), braze, hubspot, salesforce"),
]
KINDS = ("file", "postgres", "http", "ad_audience", "braze", "hubspot", "salesforce")


# ----------------------------------------------------------------------------------- options per kind


class _Options(Strict):
    request_rows: Annotated[int, Field(ge=1)] | None = None


class FileOptions(Strict):
    path: str                            # under the destination's directory, or absolute
    format: Literal["csv", "parquet", "jsonl"] | None = None


class PostgresOptions(_Options):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    table: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class HttpOptions(_Options):
    path: str | None = None


class HubSpotOptions(_Options):
    list_id: Digits | None = None        # a MANUAL list the members join and leave
    id_property: Identifier = "email"    # HubSpot's unique contact property the key maps to
    archive_on_delete: bool | None = None   # default: archive only when the sync names no list


class SalesforceOptions(_Options):
    sobject: Identifier = "Contact"


class GoogleAdsOptions(_Options):
    user_list_id: Digits                 # the Customer Match user list


class MetaAdsOptions(_Options):
    audience_id: Digits                  # the custom audience


OPTIONS: dict[str, type[BaseModel]] = {
    "file": FileOptions, "postgres": PostgresOptions, "http": HttpOptions, "braze": _Options,
    "hubspot": HubSpotOptions, "salesforce": SalesforceOptions, "ad_audience:google": GoogleAdsOptions,
    "ad_audience:meta": MetaAdsOptions,
}


# ----------------------------------------------------------------------------------------------- syncs


class GuardrailOverrides(Strict):
    """A sync's own guardrails: any key given replaces the default of gates.yml reverse_etl.guardrails."""

    allow_empty: bool | None = None
    max_delete_share: Annotated[float, Field(ge=0)] | None = None
    max_change_multiple: Annotated[float, Field(ge=0)] | None = None
    min_change_rows: Annotated[int, Field(ge=0)] | None = None
    history_runs: Annotated[int, Field(ge=1)] | None = None


class Holdout(Strict):
    """A control group: a stable share of the sync's eligible members, chosen by a hash of profile and
    experiment, is never sent; marts.activation_holdout_lift compares their conversions with the rest."""

    experiment: Identifier
    share: float = 0.1

    @field_validator("share")
    @classmethod
    def _a_control_group(cls, share: float) -> float:
        if not 0 < share <= 0.5:
            raise ValueError(f"must be above 0 and at most 0.5 (a control group, not the audience), got {share}")
        return share


class ConsentRevokedUpdate(Strict):
    update: Annotated[dict[str, Scalar], Field(min_length=1)]


class Sync(Strict):
    audience: Identifier
    destination: str
    mode: Literal["insert", "update", "upsert", "mirror"]
    key: Identifier
    mapping: Annotated[dict[Identifier, Identifier], Field(min_length=1)]
    consent_purpose: Literal["email_marketing", "sms", "ads_targeting", "analytics", "none"] | None
    consent_reason: str | None = None
    description: str = ""
    schedule: str | None = None
    batch_rows: Annotated[int, Field(ge=1)] = 50_000
    options: dict[str, Any] = Field(default_factory=dict)
    guardrails: GuardrailOverrides = Field(default_factory=GuardrailOverrides)
    on_consent_revoked: Any = "delete"   # `delete`, or {update: {<mapped field>: <value>}}
    channel: Identifier | None = None
    holdout: Holdout | None = None

    @field_validator("on_consent_revoked")
    @classmethod
    def _delete_or_update(cls, value: Any) -> str | ConsentRevokedUpdate:
        if value == "delete":
            return value
        if isinstance(value, dict) and set(value) == {"update"} and isinstance(value["update"], dict) \
                and value["update"] and all(isinstance(v, Scalar) for v in value["update"].values()):
            return ConsentRevokedUpdate(update=value["update"])
        raise ValueError(f"must be `delete` or {{update: {{<field>: <plain value>}}}}, got {value!r}")

    @model_validator(mode="after")
    def _consistent(self) -> Sync:
        if self.key not in self.mapping.values():
            raise ValueError(f"mapping must send the key column {self.key!r} to some destination field")
        if self.consent_purpose in (None, "none") and not self.consent_reason:
            raise ValueError("consent_purpose none needs a 'consent_reason' saying why no consent is needed")
        if isinstance(self.on_consent_revoked, ConsentRevokedUpdate):
            if self.consent_purpose in (None, "none"):
                raise ValueError("on_consent_revoked needs a consent_purpose (there is no consent to revoke)")
            unmapped = sorted(set(self.on_consent_revoked.update) - set(self.mapping))
            if unmapped:
                raise ValueError(f"on_consent_revoked.update.{unmapped[0]} is not a mapped destination field "
                                 f"(mapped: {sorted(self.mapping)})")
        return self


class FrequencyCap(Strict):
    """At most `max_sends` sends to one person on `channel` in `window_days` days, over every sync of
    that channel (ops.sync_log); a member over the cap is held back this run, not removed."""

    channel: Identifier
    max_sends: Annotated[int, Field(ge=1)]
    window_days: Annotated[float, Field(gt=0)]


class SyncsFile(Strict):
    destinations: dict[Identifier, Destination] = Field(default_factory=dict)
    suppression: list[Identifier] = Field(default_factory=list)
    priorities: dict[Identifier, Annotated[list[Identifier], Field(min_length=2)]] = Field(default_factory=dict)
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    syncs: dict[Identifier, Sync] = Field(default_factory=dict)
