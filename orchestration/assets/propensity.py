"""Propensity to convert: a Python step between the dbt models, on the engine dbt builds on.

It trains on intermediate.int_propensity__features (point-in-time features and labels), scores every
profile into marts.profile_propensity, which dim_profiles and the predictive audience read as a dbt
source, and records the model card in ops.propensity_models and as this asset's metadata. Its check
warns when the model does not beat the rule-based lead score on the validation cut-off.
"""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.propensity import SCORES_SCHEMA, SCORES_TABLE, propensity_settings, record_card, train_and_score
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource

FEATURES = dg.AssetKey(["intermediate", "int_propensity__features"])
SCORES = dg.AssetKey([SCORES_SCHEMA, SCORES_TABLE])
BEATS_LEAD_SCORE = "beats_the_lead_score"


@dg.asset(
    key=SCORES, deps=[FEATURES], group_name="predictive", kinds={"python", "scikit-learn"},
    owners=["team:marketing-analytics"], pool=WAREHOUSE_POOL,
    description="Propensity to convert per profile (logistic regression on point-in-time features), "
                "its decile, and the model card (features, weights, AUC, calibration) as metadata.",
    check_specs=[dg.AssetCheckSpec(BEATS_LEAD_SCORE, asset=SCORES,
                                   description="On the validation cut-off, the model's AUC is above the lead "
                                               "score's on the same labels.")],
)
def propensity_scores(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.engine() as engine:
        card = train_and_score(engine, **propensity_settings())
        record_card(engine, card)
    context.log.info(f"propensity on {engine.name}: {card.status}, AUC {card.auc} against the lead score's "
                     f"{card.lead_score_auc}, {card.scored_profiles} profiles scored")
    yield dg.MaterializeResult(metadata={"dagster/row_count": card.scored_profiles, **card.metadata()})
    aucs = {k: v for k, v in {"auc": card.auc, "lead_score_auc": card.lead_score_auc}.items() if v is not None}
    beats = len(aucs) == 2 and aucs["auc"] > aucs["lead_score_auc"]
    yield dg.AssetCheckResult(check_name=BEATS_LEAD_SCORE, passed=beats, severity=dg.AssetCheckSeverity.WARN,
                              metadata=aucs)
