"""Dagster assets, one module per layer: raw loaders, dbt models, reverse-ETL syncs, serving copy."""
