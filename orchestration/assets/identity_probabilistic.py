"""The probabilistic identity tier: a Python step between the dbt models, on the engine dbt builds on.

Splink compares the records of intermediate.int_identity__match_records and writes the accepted pairs
to intermediate.identity_probabilistic_links, which int_identity__pairs reads as a dbt source (rule
`probabilistic`), so the identity graph and everything after it wait for this step. The model card is
a row of ops.identity_probabilistic_models and this asset's metadata.
"""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.identity_probabilistic import (
    LINKS_SCHEMA,
    LINKS_TABLE,
    RECORDS_SCHEMA,
    RECORDS_TABLE,
    link_records,
    probabilistic_settings,
    record_card,
)
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource

RECORDS = dg.AssetKey([RECORDS_SCHEMA, RECORDS_TABLE])
LINKS = dg.AssetKey([LINKS_SCHEMA, LINKS_TABLE])


@dg.asset(
    key=LINKS, deps=[RECORDS], group_name="intermediate", kinds={"python", "splink"},
    owners=["team:data-engineering"], pool=WAREHOUSE_POOL,
    description="Pairs of records the probabilistic identity tier (Splink, Fellegi-Sunter) matched at or above "
                "cdp__identity_probabilistic_min_probability, with the evidence; edges of rule `probabilistic`.",
)
def probabilistic_links(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.engine() as engine:
        card = link_records(engine, probabilistic_settings())
        record_card(engine, card)
    context.log.info(f"probabilistic identity on {engine.name}: {card.status}, {card.records} records, "
                     f"{card.links} links at p >= {card.min_probability} in {card.seconds}s")
    yield dg.MaterializeResult(metadata={"dagster/row_count": card.links, **card.metadata()})
