"""Raw-layer assets: one per landing source, each loading new files into `raw.<table>`.

Each asset carries its gate as blocking asset checks evaluated in the same step: the per-file
reconciliation (read = loaded + quarantined + duplicates, and the raw table holds exactly what the
manifest says was loaded), the quarantine rate of this load, and the Great Expectations suites every
new file is validated against before it commits (a file failing an error-severity expectation is
quarantined whole); the volume of each new file against earlier ones is a warning. A failed blocking check stops every
downstream asset. Whole files that could not be read are reported as a warning: the run goes on
with the good files, and the bad ones wait in ops.quarantine for someone to fix and re-land them.
"""

import dagster as dg
from dagster import AssetExecutionContext

from cdp.gate_thresholds import max_quarantine_rate
from cdp.ingest.contract import SourceSpec, load_contract
from cdp.ingest.loader import SourceResult
from cdp.ingest.publish import load_landing_source
from cdp.quality.expectations import FAILED_EXPECTATIONS, SuiteValidator, suite_outcome
from cdp.quality.preview import markdown_preview
from cdp.quality.results import CheckOutcome, record_outcomes
from cdp.quality.warehouse_checks import raw_volume
from cdp.settings import get_settings
from orchestration.assets.gates import to_check_result
from orchestration.assets.resources import WAREHOUSE_POOL, WarehouseResource, transient_retry_policy


def raw_asset_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", spec.table])


def _reconciliation(con, spec: SourceSpec) -> CheckOutcome:
    broken = con.execute(
        "select file_path, rows_read, rows_loaded, rows_quarantined, duplicates_skipped from ops.load_manifest "
        "where source = ? and rows_read <> rows_loaded + rows_quarantined + duplicates_skipped", [spec.name]
    ).fetchall()
    manifest_rows = con.execute(
        "select coalesce(sum(rows_loaded - coalesce(rows_erased, 0)), 0) from ops.load_manifest where source = ?",
        [spec.name]).fetchone()[0]
    table_rows = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
    return CheckOutcome(
        "raw", f"raw/{spec.table}", "reconciliation", not broken and manifest_rows == table_rows, "error",
        target=f"raw.{spec.table}", rows_checked=int(table_rows), rows_failed=len(broken),
        observed=float(table_rows - manifest_rows), threshold="0 rows between manifest and table",
        description=("every file: read = loaded + quarantined + duplicates, and raw holds what the manifest "
                     "says was loaded, less what privacy erasure removed"),
        details={"files_not_reconciling": len(broken), "first_bad_file": str(broken[0][0]) if broken else "",
                 "rows_in_manifest": int(manifest_rows), "rows_in_table": int(table_rows)},
    )


def _quarantine_rate(spec: SourceSpec, result: SourceResult) -> CheckOutcome:
    max_rate, where = max_quarantine_rate()
    read = result.total("rows_read")
    quarantined = result.total("rows_quarantined")
    rate = quarantined / read if read else 0.0
    return CheckOutcome(
        "raw", f"raw/{spec.table}", "quarantine_rate", rate <= max_rate, "error", target=spec.name,
        rows_checked=read, rows_failed=quarantined, observed=rate,
        threshold=f"<= {max_rate:g} ({where})",
        description=f"share of this load's rows quarantined is at most {max_rate:g} ({where})",
    )


def _whole_files(spec: SourceSpec, result: SourceResult) -> CheckOutcome:
    bad = [(f.path, f.reason) for f in result.files
           if f.status == "quarantined" and not (f.reason or "").startswith(FAILED_EXPECTATIONS)]
    bad += [(n.path, n.reason) for n in result.notices]
    return CheckOutcome(
        "raw", f"raw/{spec.table}", "files_readable", not bad, "warn", target=spec.name,
        rows_checked=len(result.files) + len(result.notices), rows_failed=len(bad),
        description="no landing file was quarantined whole (unreadable, or its header was wrong), and the source "
                    "folder holds nothing that was not read (links, special or hidden files, other file types)",
        markdown={"files": "\n".join(f"- `{path}`: {reason}" for path, reason in bad) or "none"},
    )


def _expectations(spec: SourceSpec, result: SourceResult) -> CheckOutcome:
    """Great Expectations on this load's files: any error-severity expectation failed blocks the run."""
    return suite_outcome("raw", f"raw/{spec.table}", spec.name, result.validations,
                         "cdp/quality/landing_expectations.yml",
                         "every new file passes its Great Expectations suite; failing files are quarantined whole")


def build_raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = raw_asset_key(spec)

    @dg.asset(
        key=key,
        group_name="raw",
        owners=["team:data-engineering"],
        pool=WAREHOUSE_POOL,
        retry_policy=transient_retry_policy(),
        kinds={get_settings().dbt_target, "python"},
        description=f"Landing folder `{spec.folder}/` loaded into raw.{spec.table} (new files only).",
        check_specs=[
            dg.AssetCheckSpec("reconciliation", asset=key, blocking=True),
            dg.AssetCheckSpec("quarantine_rate", asset=key, blocking=True),
            dg.AssetCheckSpec("expectations", asset=key, blocking=True),
            dg.AssetCheckSpec("volume", asset=key),
            dg.AssetCheckSpec("files_readable", asset=key),
        ],
    )
    def _load(context: AssetExecutionContext, warehouse: WarehouseResource):
        settings = get_settings()
        contract = load_contract()
        validator = SuiteValidator()
        with warehouse.connect() as con:
            result = load_landing_source(con, spec, settings, contract, progress=context.log.info,
                                         validator=validator, run_id=context.run_id)
            new_files = [f.path for f in result.files if f.status == "loaded"]
            outcomes = [_reconciliation(con, spec), _quarantine_rate(spec, result),
                        _expectations(spec, result), raw_volume(con, spec.name, new_files),
                        _whole_files(spec, result)]
            record_outcomes(con, [o for o in outcomes if o.check_name != "files_readable"], context.run_id)
            table_rows = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
            preview = markdown_preview(con, "raw", spec.table)
        # Data Docs now when this load's suite failed (the page says why); otherwise the run's mart
        # expectations render every new result once, at the end
        docs = validator.build_docs() if any(o.blocks for v in result.validations for o in v.outcomes) else None
        yield dg.MaterializeResult(
            metadata={
                "files_new": len(result.files),
                "files_already_loaded": result.files_already_loaded,
                "rows_read": result.total("rows_read"),
                "rows_loaded": result.total("rows_loaded"),
                "rows_quarantined": result.total("rows_quarantined"),
                "duplicates_skipped": result.total("duplicates_skipped"),
                "dagster/row_count": int(table_rows),
                "preview": dg.MetadataValue.md(preview or "no columns to show"),
                **({"data_docs": dg.MetadataValue.path(str(docs))} if docs else {}),
            }
        )
        for outcome in outcomes:
            if outcome.blocks:
                context.log.error(f"gate failed: raw/{spec.table} {outcome.check_name}: {outcome.threshold}")
            yield to_check_result(outcome)

    return _load


def raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(spec) for spec in load_contract().sources.values()]
