"""Helpers shared by the import tests: a signups CSV, and an import cancelled mid-run."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from rich.console import Console

from irefer_async.cli._import import ImportOptions, run_import
from irefer_async.testing import Emulator


def signups_csv(path: Path, n: int) -> Path:
    """Write ``n`` signup rows (``u{i}@example.com``, ``U{i}``) to ``path``; return it."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["email", "name"])
        writer.writerows([f"u{i}@example.com", f"U{i}"] for i in range(n))
    return path


async def cancel_import_midway(
    options: ImportOptions, console: Console, emulator: Emulator, *, after: int = 40
) -> None:
    """Run ``run_import`` and cancel it once ``after`` signups reached the emulator."""
    task = asyncio.create_task(run_import(options, console))
    while sum(1 for e in emulator.journal if e.method == "newSignup") < after:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
