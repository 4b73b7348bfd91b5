"""Destination kinds, one module each, built from a sync definition."""

from __future__ import annotations

from pathlib import Path

from reverse_etl.config import SyncDefinition
from reverse_etl.destinations.base import Destination
from reverse_etl.destinations.braze import BrazeDestination
from reverse_etl.destinations.file import FileDestination
from reverse_etl.destinations.google_customer_match import GoogleCustomerMatchDestination
from reverse_etl.destinations.http import HttpDestination
from reverse_etl.destinations.hubspot import HubSpotDestination
from reverse_etl.destinations.meta_audience import MetaAudienceDestination
from reverse_etl.destinations.postgres import PostgresDestination
from reverse_etl.destinations.salesforce import SalesforceDestination
from reverse_etl.reliability import DestinationError

REMOTE_KINDS = {"postgres": PostgresDestination, "http": HttpDestination, "braze": BrazeDestination,
                "hubspot": HubSpotDestination, "salesforce": SalesforceDestination}
#: kind ad_audience: the platform setting picks the API
AD_PLATFORMS = {"google": GoogleCustomerMatchDestination, "meta": MetaAudienceDestination}


def build_destination(sync: SyncDefinition, export_dir: Path) -> Destination:
    definition = sync.destination
    if definition.kind == "file":
        return FileDestination.from_settings(definition.settings, sync.options, export_dir)
    url = definition.url()
    if not url:
        raise DestinationError(f"destination {definition.name} is not configured: set "
                               f"{definition.settings.get('url_env')} to its URL")
    if definition.kind == "ad_audience":
        destination_class = AD_PLATFORMS[definition.settings["platform"]]
    else:
        destination_class = REMOTE_KINDS[definition.kind]
    return destination_class.from_settings(url, definition.settings, sync.options, sync.key_field,
                                           definition.timeout_seconds)
