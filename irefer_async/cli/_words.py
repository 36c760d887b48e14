"""Counts in the CLI's sentences: "1 row", "2 rows", "1 row was", "2 rows were"."""

from __future__ import annotations

__all__ = ["count", "count_was"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """Return ``n`` with ``noun`` in the number it needs (``plural`` defaults to noun + "s")."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def count_was(n: int, noun: str) -> str:
    """Return ``n`` and ``noun`` with the verb agreeing: "1 row was", "3 rows were"."""
    return f"{count(n, noun)} {'was' if n == 1 else 'were'}"
