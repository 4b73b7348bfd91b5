"""The OAuth 2.0 refresh-token grant (RFC 6749, section 6), shared by the destinations whose APIs hand
out short-lived access tokens (Salesforce, Google Ads): client id, client secret and refresh token
come from the environment variables the destination names, and a new access token is fetched when a
sync starts and again when the API answers 401 mid-sync."""

from __future__ import annotations

import os
from typing import Any

import httpx

from reverse_etl.destinations.base import redacted_url
from reverse_etl.reliability import DestinationError, TransientError

#: the settings that name the environment variables holding the client's credentials
CREDENTIAL_SETTINGS = ("client_id_env", "client_secret_env", "refresh_token_env")


def credentials_from_environment(settings: dict[str, Any], platform: str, what: str) -> tuple[str, str, str]:
    """(client id, client secret, refresh token), or a DestinationError naming every variable unset."""
    missing = [str(settings.get(name)) for name in CREDENTIAL_SETTINGS if not os.environ.get(str(settings.get(name)))]
    if missing:
        raise DestinationError(f"{platform} needs {what}: set " + ", ".join(missing))
    client_id, secret, refresh = (os.environ[str(settings[name])] for name in CREDENTIAL_SETTINGS)
    return client_id, secret, refresh


def refresh_access_token(client: httpx.Client, token_url: str, credentials: tuple[str, str, str],
                         platform: str, advice: str) -> dict[str, Any]:
    """The token endpoint's answer to a refresh-token grant (it holds `access_token`). A server error
    or throttling is transient; a refusal stops the sync with the endpoint's reason and `advice`."""
    client_id, client_secret, refresh_token = credentials
    try:
        response = client.post(token_url, data={"grant_type": "refresh_token", "client_id": client_id,
                                                "client_secret": client_secret, "refresh_token": refresh_token})
    except httpx.TransportError as exc:
        raise TransientError(f"{platform} token request failed: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"{platform} token request answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = response.text[:200]
    if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
        reason = (answer.get("error_description") or answer.get("error")) if isinstance(answer, dict) else answer
        raise DestinationError(f"{platform} refused the refresh token at {redacted_url(token_url)} "
                               f"(HTTP {response.status_code}: {reason}); {advice}")
    return answer
