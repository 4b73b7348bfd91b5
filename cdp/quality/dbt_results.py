"""What a `dbt build` tells the gates: every test's result into ops.quality_results, the failing nodes
named for the run's failure message, and per-model metadata (row count, a markdown preview) read
from the warehouse once dbt has released it."""

from __future__ import annotations

from typing import Any

from cdp.engines.types import Warehouse
from cdp.quality.results import CheckOutcome, record_outcomes


def _layer(node: dict[str, Any] | None) -> str:
    """The pipeline layer a dbt node belongs to (its folder under models/, identity split out)."""
    if not node:
        return "unknown"
    path = node.get("original_file_path", "")
    if "/identity/" in path:
        return "identity"
    for layer in ("staging", "intermediate", "marts", "audiences", "ops"):
        if f"models/{layer}/" in path:
            return layer
    return "seeds" if node.get("resource_type") == "seed" else "unknown"


def _tested_node(test: dict[str, Any], nodes: dict[str, Any]) -> dict[str, Any] | None:
    attached = test.get("attached_node")
    if attached and attached in nodes:
        return nodes[attached]
    parents = [p for p in test.get("depends_on", {}).get("nodes", []) if p in nodes]
    return nodes[parents[-1]] if parents else None


def record_dbt_results(con: Warehouse, run_results: dict[str, Any], manifest: dict[str, Any],
                       run_id: str | None) -> list[dict[str, Any]]:
    """Write one ops.quality_results row per dbt test; return the nodes that failed with error severity."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    outcomes, failures = [], []
    for result in run_results.get("results", []):
        unique_id = result.get("unique_id", "")
        node = nodes.get(unique_id, {})
        status = result.get("status")
        if status in ("error", "fail", "runtime error"):
            failures.append({"unique_id": unique_id, "status": status,
                             "message": " ".join(str(result.get("message") or "").split())[:400]})
        if node.get("resource_type") != "test":
            continue
        tested = _tested_node(node, nodes)
        severity = str(node.get("config", {}).get("severity", "error")).lower()
        outcomes.append(CheckOutcome(
            layer=_layer(tested), asset=f"{tested['schema']}/{tested['name']}" if tested else "unknown",
            check_name=node.get("name", unique_id), passed=status == "pass",
            severity="warn" if severity == "warn" or status == "warn" else "error", engine="dbt",
            target=node.get("column_name") or (tested or {}).get("name"), rows_failed=result.get("failures"),
            seconds=result.get("execution_time"), description=node.get("description") or "",
            details={"status": status, "message": result.get("message")} if status != "pass" else {},
        ))
    record_outcomes(con, outcomes, run_id)
    return failures


def describe_failures(failures: list[dict[str, Any]], limit: int = 8) -> str:
    lines = [f"{f['unique_id']}: {f['status']}: {f['message']}" for f in failures[:limit]]
    if len(failures) > limit:
        lines.append(f"... and {len(failures) - limit} more (ops.quality_results)")
    return ("dbt build failed; failing gates:\n" + "\n".join(lines)) if lines else ""
