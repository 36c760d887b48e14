"""Split a CSV of signups (columns: email, name, referrer_code) into jobs of CHUNK rows.

Usage: python enqueue.py signups.csv [CHUNK]    (TASKIQ_BROKER_URL and IREFER_CAMPAIGN_ID set)

Exits 0 once every chunk is enqueued; 1 when the broker cannot be reached, a chunk could not
be enqueued (saying how many were), or the file has no row; 2 on a usage error.
"""

from __future__ import annotations

import asyncio
import sys

from app import broker, submit_signups

from irefer_async import IReferError
from irefer_async.taskiq import EnqueueError, enqueue_rows, read_csv_chunks

DEFAULT_CHUNK = 25
#: Seconds to reach the broker before giving up.
CONNECT_TIMEOUT = 10.0


async def main(path: str, size: int) -> int:
    """Send one job per chunk; return the exit code."""
    try:
        await asyncio.wait_for(broker.startup(), CONNECT_TIMEOUT)
    except Exception as exc:
        print(f"error: cannot reach the broker ({type(exc).__name__}: {exc}); "
              "nothing was enqueued", file=sys.stderr)  # fmt: skip
        return 1
    try:
        jobs, rows = await enqueue_rows(submit_signups, read_csv_chunks(path, size))
    except EnqueueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (IReferError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await broker.shutdown()
    print(f"enqueued {jobs} jobs, {rows} rows (up to {size} per job)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(
        asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CHUNK))
    )
