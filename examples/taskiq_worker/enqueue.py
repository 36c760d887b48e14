"""Split a CSV of signups (columns: email, name, referrer_code) into jobs of CHUNK rows.

Usage: TASKIQ_BROKER_URL=redis://... python enqueue.py signups.csv [CHUNK]
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Iterator

from app import broker, submit_signups

DEFAULT_CHUNK = 100


def chunks(path: str, size: int) -> Iterator[list[dict[str, str]]]:
    """Yield the CSV's rows, ``size`` at a time."""
    chunk: list[dict[str, str]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            chunk.append({k: v for k, v in row.items() if k and v})
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def main(path: str, size: int) -> None:
    """Send one job per chunk."""
    await broker.startup()
    try:
        jobs = 0
        for chunk in chunks(path, size):
            await submit_signups.kiq(chunk)
            jobs += 1
        print(f"enqueued {jobs} jobs of up to {size} rows")
    finally:
        await broker.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CHUNK))
