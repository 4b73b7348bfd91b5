"""Raw-layer assets: one per landing source, each loading new files into `raw.<table>`.

Each asset carries its gate as blocking asset checks evaluated in the same step: the per-file
reconciliation (read = loaded + quarantined + duplicates, and the raw table holds exactly what the
manifest says was loaded) and the quarantine rate of this load. A failed blocking check stops every
downstream asset. Whole files that could not be read are reported as a warning: the run goes on
with the good files, and the bad ones wait in ops.quarantine for someone to fix and re-land them.
"""

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.ingest.contract import SourceSpec, load_contract
from orchestration.ingest.loader import SourceResult, load_source
from orchestration.settings import get_settings
from orchestration.warehouse import WAREHOUSE_POOL, connect


def raw_asset_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", spec.table])


def _reconciliation(con, spec: SourceSpec) -> dg.AssetCheckResult:
    broken = con.execute(
        "select file_path, rows_read, rows_loaded, rows_quarantined, duplicates_skipped from ops.load_manifest "
        "where source = ? and rows_read <> rows_loaded + rows_quarantined + duplicates_skipped", [spec.name]
    ).fetchall()
    manifest_rows = con.execute(
        "select coalesce(sum(rows_loaded - coalesce(rows_erased, 0)), 0) from ops.load_manifest where source = ?",
        [spec.name]).fetchone()[0]
    table_rows = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
    passed = not broken and manifest_rows == table_rows
    return dg.AssetCheckResult(
        check_name="reconciliation",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files_not_reconciling": len(broken),
            "first_bad_file": str(broken[0][0]) if broken else "",
            "rows_in_manifest": int(manifest_rows),
            "rows_in_table": int(table_rows),
        },
        description=("every file: read = loaded + quarantined + duplicates, and raw holds what the manifest "
                     "says was loaded, less what privacy erasure removed"),
    )


def _quarantine_rate(result: SourceResult, max_rate: float) -> dg.AssetCheckResult:
    read = result.total("rows_read")
    quarantined = result.total("rows_quarantined")
    rate = quarantined / read if read else 0.0
    return dg.AssetCheckResult(
        check_name="quarantine_rate",
        passed=rate <= max_rate,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_read": read, "rows_quarantined": quarantined, "rate": round(rate, 6),
                  "max_rate (CDP_MAX_QUARANTINE_RATE)": max_rate},
        description="share of this load's rows quarantined is at most CDP_MAX_QUARANTINE_RATE",
    )


def _whole_files(result: SourceResult) -> dg.AssetCheckResult:
    bad = [f for f in result.files if f.status == "quarantined"]
    return dg.AssetCheckResult(
        check_name="files_readable",
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_quarantined_whole": len(bad),
                  "files": dg.MetadataValue.md("\n".join(f"- `{f.path}`: {f.reason}" for f in bad) or "none")},
        description="no landing file was quarantined whole (unreadable, or its header was wrong)",
    )


def build_raw_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = raw_asset_key(spec)

    @dg.asset(
        key=key,
        group_name="raw",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "python"},
        description=f"Landing folder `{spec.folder}/` loaded into raw.{spec.table} (new files only).",
        check_specs=[
            dg.AssetCheckSpec("reconciliation", asset=key, blocking=True),
            dg.AssetCheckSpec("quarantine_rate", asset=key, blocking=True),
            dg.AssetCheckSpec("files_readable", asset=key),
        ],
    )
    def _load(context: AssetExecutionContext):
        settings = get_settings()
        contract = load_contract()
        with connect(settings) as con:
            result = load_source(con, spec, settings.landing_dir, contract, progress=context.log.info)
            reconciliation = _reconciliation(con, spec)
            table_rows = con.execute(f"select count(*) from raw.{spec.table}").fetchone()[0]
        yield dg.MaterializeResult(
            metadata={
                "files_new": len(result.files),
                "files_already_loaded": result.files_already_loaded,
                "rows_read": result.total("rows_read"),
                "rows_loaded": result.total("rows_loaded"),
                "rows_quarantined": result.total("rows_quarantined"),
                "duplicates_skipped": result.total("duplicates_skipped"),
                "dagster/row_count": int(table_rows),
            }
        )
        yield reconciliation
        yield _quarantine_rate(result, settings.max_quarantine_rate)
        yield _whole_files(result)

    return _load


def raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(spec) for spec in load_contract().sources.values()]
