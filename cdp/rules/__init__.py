"""Generators of rule seeds from authoritative libraries (the seeds themselves are data in dbt_project/seeds)."""
