"""Tiny helpers for writing SQL text safely."""

from __future__ import annotations


def quote_literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
