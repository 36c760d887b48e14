"""Import signups from a CSV file, streamed: any file size, bounded memory, one outcome per row.

Usage::

    export IREFER_LICENSE_KEY=W4qL... IREFER_API_KEY=... IREFER_CAMPAIGN_ID=2605
    python examples/bulk_import.py signups.csv [--failed failed.csv] [--concurrency 8]

The CSV has a header row with ``email`` and any of ``name``, ``phone``, ``info_1``..``info_5``,
``source``, ``referrer_code``. Rows that fail are written, with the reason, to the
``--failed`` file, which can be fed back to this script once fixed. Rows whose outcome is
*unknown* (the write may have landed; see "write safety" in the docs) are written there too,
marked ``unknown``: check them with ``irefer stats referrer EMAIL`` before resending.

Exit status: 0 when every row landed, 1 otherwise. For resumable imports with a ledger,
use the ``irefer import signups`` command instead.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from irefer_async import BulkSummary, IReferClient

FIELDS = ("email", "name", "phone", "info_1", "info_2", "info_3", "info_4", "info_5", "source",
          "referrer_code")  # fmt: skip


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Yield the CSV's rows one at a time (never the whole file in memory)."""
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield {k: v for k, v in row.items() if k in FIELDS and v}


async def import_signups(
    client: IReferClient, source: Path, failed: Path, *, concurrency: int | None = None
) -> BulkSummary:
    """Submit every row of ``source``; write the rows that did not land to ``failed``."""
    with failed.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[*FIELDS, "status", "error"])
        writer.writeheader()
        async with client.bulk_new_signups(read_rows(source), concurrency=concurrency) as run:
            async for outcome in run:
                if not outcome.ok:
                    row: dict[str, Any] = dict(outcome.row or {})
                    row["status"] = str(outcome.status)
                    row["error"] = str(outcome.error)
                    writer.writerow(row)
    return run.summary


async def main(argv: Sequence[str] | None = None, **client_options: Any) -> int:
    """Parse arguments, import, print the summary; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--failed", type=Path, default=Path("failed.csv"))
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    options = {"campaign_id": os.environ.get("IREFER_CAMPAIGN_ID"), **client_options}
    async with IReferClient(**options) as client:
        summary = await import_signups(client, args.csv, args.failed, concurrency=args.concurrency)
    print(
        f"{summary.ok} ok, {summary.failed} failed, {summary.unknown} unknown, "
        f"{summary.invalid} invalid in {summary.elapsed:.1f}s ({summary.rate:.1f} rows/s)"
    )
    if summary.ok != summary.total:
        print(f"rows that did not land: {args.failed}")
    return 0 if summary.ok == summary.total else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
