"""Markov and Shapley attribution: a Python step between the dbt models, on the engine dbt builds on.

It reads the channel-level tables the models made (transitions, coalitions, the attributed totals)
and writes marts.attribution_markov and marts.attribution_shapley, which the later models read as
dbt sources. Dagster runs the dbt models before it and the models after it as two dbt invocations.
Each table has a blocking check (nothing negative, and in total the money the rule-based models
credit, to the cent): a failure stops the models after it.
"""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.data_driven_attribution import build_data_driven_attribution, credits_balance
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource

INPUTS = [
    dg.AssetKey(["intermediate", "int_attribution__markov_transitions"]),
    dg.AssetKey(["intermediate", "int_attribution__coalitions"]),
    dg.AssetKey(["marts", "attribution_credits"]),
]
MARKOV = dg.AssetKey(["marts", "attribution_markov"])
SHAPLEY = dg.AssetKey(["marts", "attribution_shapley"])
CREDITS_BALANCE = "credits_sum_to_attributed_value"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(MARKOV, deps=INPUTS, group_name="attribution", kinds={"python"},
                     owners=["team:marketing-analytics"],
                     description="First-order Markov attribution by channel (exact removal effects)."),
        dg.AssetSpec(SHAPLEY, deps=INPUTS, group_name="attribution", kinds={"python"},
                     owners=["team:marketing-analytics"],
                     description="Shapley attribution by channel (exact, conversion-rate game)."),
    ],
    check_specs=[
        dg.AssetCheckSpec(CREDITS_BALANCE, asset=key, blocking=True,
                          description="Credits nothing negative and, in total, what the rule-based models credit.")
        for key in (MARKOV, SHAPLEY)
    ],
    pool=WAREHOUSE_POOL,
    name="data_driven_attribution",
)
def data_driven_attribution(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.engine() as engine:
        rows = build_data_driven_attribution(engine)
        context.log.info(f"data-driven attribution on {engine.name}: {rows}")
        for key in (MARKOV, SHAPLEY):
            table = key.path[-1]
            passed, figures = credits_balance(engine, table)
            yield dg.MaterializeResult(asset_key=key,
                                       metadata={"dagster/row_count": rows[table], "engine": engine.name})
            yield dg.AssetCheckResult(asset_key=key, check_name=CREDITS_BALANCE, passed=passed,
                                      severity=dg.AssetCheckSeverity.ERROR, metadata=figures)
