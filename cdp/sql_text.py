"""Tiny helpers for writing SQL text safely."""

from __future__ import annotations

from pathlib import Path


def sql_string(value: str | Path) -> str:
    """A SQL string literal of a value (quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_identifier(name: str, quote: str = '"') -> str:
    """A quoted SQL identifier (the quote character doubled inside); Spark quotes with backticks."""
    return quote + str(name).replace(quote, quote * 2) + quote
