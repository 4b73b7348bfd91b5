"""Gates as Dagster asset checks: every `CheckOutcome` becomes an `AssetCheckResult` (error severity
blocks downstream assets, warn records and continues) and a row of ops.quality_results.

Owns two blocking multi-asset check steps that run after the dbt build and before the erasure step,
the syncs and the serving copy: the Great Expectations suites over mart summary extracts
(`mart_expectations.yml`, an `expectations` check on each summarised mart) and the audience gates
(`size_change`, `consent_present` on every audience). dbt tests are asset
checks of the dbt assets themselves (dagster-dbt); their results are recorded by the dbt asset.
"""

from pathlib import Path

import dagster as dg
from dagster import AssetCheckExecutionContext

import cdp.quality as quality_package
from cdp.quality.expectations import SuiteValidator, load_suites, suite_outcome
from cdp.quality.results import CheckOutcome, record_outcomes
from cdp.quality.warehouse_checks import audience_consent_present, audience_size_change
from cdp.settings import get_settings
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource
from reverse_etl.config import load_sync_config

AUDIENCE_CHECKS = ("size_change", "consent_present")


def to_check_result(outcome: CheckOutcome, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    metadata: dict = {"passed": outcome.passed, "severity": outcome.severity, "engine": outcome.engine}
    for name in ("target", "rows_checked", "rows_failed", "observed", "threshold"):
        value = getattr(outcome, name)
        if value is not None:
            metadata[name] = round(value, 6) if isinstance(value, float) else value
    for name, value in outcome.details.items():
        metadata[name] = value if isinstance(value, int | float | str | bool) else dg.MetadataValue.json(value)
    for name, text in outcome.markdown.items():
        metadata[name] = dg.MetadataValue.md(text)
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=outcome.check_name, passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == "error" else dg.AssetCheckSeverity.WARN,
        metadata=metadata, description=outcome.description or None,
    )


def consent_purposes() -> dict[str, list[str]]:
    """audience -> the consent purposes of the syncs that send it."""
    purposes: dict[str, list[str]] = {}
    for sync in load_sync_config(get_settings().syncs_file).syncs.values():
        if sync.consent_purpose and sync.consent_purpose not in purposes.setdefault(sync.audience, []):
            purposes[sync.audience].append(sync.consent_purpose)
    return purposes


def build_audience_checks(audience_keys: list[dg.AssetKey]) -> dg.AssetChecksDefinition:
    specs = [dg.AssetCheckSpec(name, asset=key, blocking=True,
                               description={"size_change": "Members against the last run whose every gate passed.",
                                            "consent_present": "Members synced under consent have a consent state."
                                            }[name])
             for key in audience_keys for name in AUDIENCE_CHECKS]

    @dg.multi_asset_check(specs=specs, name="audience_gates", pool=WAREHOUSE_POOL, can_subset=True,
                          description="Audience gates from cdp/quality/gates.yml.")
    def _audience_gates(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        purposes = consent_purposes()
        selected = context.selected_asset_check_keys
        with warehouse.connect() as con:
            for key in audience_keys:
                audience = key.path[-1]
                outcomes = []
                if dg.AssetCheckKey(key, "size_change") in selected:
                    outcomes.append(audience_size_change(con, audience))
                if dg.AssetCheckKey(key, "consent_present") in selected:
                    outcomes.append(audience_consent_present(con, audience, purposes.get(audience, [])))
                record_outcomes(con, outcomes, context.run.run_id)
                for outcome in outcomes:
                    if outcome.blocks:
                        context.log.error(f"gate failed: {key.to_user_string()} {outcome.check_name}: "
                                          f"{outcome.details}")
                    yield to_check_result(outcome, key)

    return _audience_gates


MART_SUITES_FILE = Path(quality_package.__file__).with_name("mart_expectations.yml")


def build_mart_expectation_checks(model_keys: list[dg.AssetKey]) -> dg.AssetChecksDefinition:
    # Read without importing GX (seconds at every process start: `cdp`, `dagster dev` and each of its
    # step processes); the validator checks the expectation names before it validates anything.
    suites = load_suites(MART_SUITES_FILE, check_names=False)
    keys = [k for k in model_keys if k.path[0] == "marts" and k.path[-1] in suites.sources]
    specs = [dg.AssetCheckSpec("expectations", asset=k, blocking=True,
                               description="Great Expectations suite over the mart's summary extract.") for k in keys]

    @dg.multi_asset_check(specs=specs, name="mart_expectations", pool=WAREHOUSE_POOL, can_subset=True,
                          description="GX suites over summary extracts of marts (mart_expectations.yml).")
    def _mart_expectations(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        validator = SuiteValidator(suites=suites, layer="marts", asset_schema="marts",
                                   origin=str(MART_SUITES_FILE))
        selected = context.selected_asset_check_keys
        with warehouse.connect() as con:
            for key in keys:
                if dg.AssetCheckKey(key, "expectations") not in selected:
                    continue
                validation = validator.validate(con, key.path[-1], key.path[-1])
                validations = [validation] if validation else []
                record_outcomes(con, [o for v in validations for o in v.outcomes], context.run.run_id)
                outcome = suite_outcome("marts", key.to_user_string(), key.path[-1], validations,
                                        "cdp/quality/mart_expectations.yml",
                                        "the mart's summary extract passes its Great Expectations suite")
                if outcome.blocks:
                    context.log.error(f"gate failed: {key.to_user_string()} expectations: {outcome.markdown}")
                yield to_check_result(outcome, key)
        docs = validator.build_docs()
        if docs:
            context.log.info(f"Great Expectations Data Docs: {docs}")

    return _mart_expectations
