"""The asset graph as the Dagster UI shows it: every asset's group (its layer), owners and upstream
assets, held to a reviewed snapshot (syrupy; `pytest tests/test_asset_graph.py --snapshot-update`
after an intended change, then review the diff of tests/__snapshots__/)."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs

LAYERS = {"raw", "ops", "rules", "staging", "intermediate", "marts", "audiences", "attribution", "privacy",
          "reverse_etl", "serving", "reports", "predictive"}


def _graph() -> dict[str, dict[str, object]]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): {"group": graph.get(key).group_name, "owners": sorted(graph.get(key).owners),
                                   "upstream": sorted(p.to_user_string() for p in graph.get(key).parent_keys)}
            for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())}


def test_every_asset_sits_in_its_layer_with_an_owner() -> None:
    graph = _graph()
    assert {a["group"] for a in graph.values()} == LAYERS
    assert all(a["owners"] and all(o.startswith("team:") for o in a["owners"]) for a in graph.values())
    # dbt models sit in the group of their folder under models/, whatever schema they build into
    for key, asset in graph.items():
        layer = key.split("/")[0]
        if layer in ("staging", "intermediate", "audiences"):
            assert asset["group"] == layer, key
    assert graph["marts/metricflow_time_spine"]["group"] == "marts"


def test_the_asset_graph_matches_its_reviewed_snapshot(snapshot) -> None:
    assert _graph() == snapshot


def test_asset_owners_come_from_the_dbt_project_for_models() -> None:
    spec = defs.resolve_asset_graph().get(dg.AssetKey(["audiences", "aud_high_intent_leads"]))
    assert spec.owners == ["team:marketing-ops"]


def test_mart_columns_carry_their_contract_types() -> None:
    """The UI shows a mart's columns with the types its contract declares (dbt YAML data_type)."""
    spec = defs.resolve_asset_graph().get(dg.AssetKey(["marts", "dim_profiles"]))
    columns = {c.name: c.type for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["lead_score"] == "decimal(38,2)" and columns["profile_id"] == "string"
    assert columns["event_count"] == "bigint" and len(columns) > 40
