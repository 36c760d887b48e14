"""``irefer stats`` and ``irefer export``: read-only views of a campaign as a table, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

__all__ = ["flatten", "render_object", "render_rows"]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if attrs.has(type(value)):
        return flatten(value)
    return value


def flatten(model: Any) -> dict[str, Any]:
    """Return a model's fields as JSON-ready values (``raw`` and ``fetched_at`` left out)."""
    return {
        f.name: _plain(getattr(model, f.name))
        for f in attrs.fields(type(model))
        if f.name not in ("raw", "fetched_at")
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(
            v.get("reward_heading", str(v)) if isinstance(v, Mapping) else str(v) for v in value
        )
    return str(value)


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    console: Console,
    *,
    title: str,
    columns: Sequence[str] | None = None,
) -> None:
    """Print a list of records as a table, CSV or JSON (an array)."""
    names = list(columns) if columns else (list(rows[0]) if rows else [])
    if fmt == "json":
        console.print_json(json.dumps(list(rows), default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(names)
        for row in rows:
            writer.writerow([_cell(row.get(n)) for n in names])
        console.out(buffer.getvalue(), end="", highlight=False)
    else:
        table = Table(title=title)
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(n)) for n in names))
        console.print(table)


def render_object(record: Mapping[str, Any], fmt: str, console: Console, *, title: str) -> None:
    """Print one record as a two-column table, or as JSON."""
    if fmt == "json":
        console.print_json(json.dumps(record, default=str))
        return
    if fmt == "csv":
        render_rows([record], "csv", console, title=title)
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in record.items():
        table.add_row(name, _cell(value))
    console.print(table)
