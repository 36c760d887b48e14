"""Benchmark 4: ``bulk_new_signups`` over a row generator keeps memory flat.

Each size runs in a fresh interpreter (``python -m benchmarks._memory ROWS``) so the peak
resident set is that run's alone: 64 workers, no rate limit, an in-process transport that
answers every ``newSignup`` with the same canned body at once. The baseline is the same run
with a tenth of the rows: a flat peak means memory does not grow with the input.

The peak is ``VmHWM`` from ``/proc/self/status``, not ``ru_maxrss``: Linux carries
``ru_maxrss`` over from the parent across fork and execve, so a child started by a big parent
reports the parent's peak (228 MB for a 38 MB child, here).
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CONCURRENCY = 64
_SIGNUP = json.dumps(
    {
        "campaign_name": "My referral campaign",
        "email": "row@example.com",
        "confirmed": "0",
        "referral_link": "http://getirefer.com/?iref=7XYu.oRD",
        "referrer": None,
        "reward_next": "Get a $10 Coupon!",
        "reward_next_description": "Refer 1 of your friends and we will send you a coupon.",
        "reward_next_referrals_required": 1,
        "rewards_offered": [
            {"signups_count": "1", "reward_heading": "Get a $10 Coupon!"},
            {"signups_count": "5", "reward_heading": "Get a $50 Coupon!"},
        ],
    }
).encode()


class _Canned(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(_SIGNUP), request=request)


def _rows(count: int) -> Iterator[dict[str, str]]:
    for i in range(count):
        yield {"email": f"user{i}@example.com", "name": f"User {i}"}


async def _run(count: int) -> dict[str, Any]:
    from irefer_async import IReferClient  # noqa: PLC0415 - in the child only
    from irefer_async.testing import (  # noqa: PLC0415
        DEFAULT_API_KEY,
        DEFAULT_CAMPAIGN_ID,
        DEFAULT_LICENSE_KEY,
    )

    client = IReferClient(
        DEFAULT_LICENSE_KEY,
        DEFAULT_API_KEY,
        campaign_id=DEFAULT_CAMPAIGN_ID,
        base_url="http://bulk.test/v1.0/",
        rate_limit=None,
        max_concurrency=CONCURRENCY,
        transport=_Canned(),
    )
    started = time.perf_counter()
    async with client, client.bulk_new_signups(_rows(count), concurrency=CONCURRENCY) as run:
        async for _ in run:
            pass
    return {
        "rows": count,
        "ok": run.summary.ok,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": _peak_rss_mb(),
        # ru_maxrss survives fork and execve on Linux: it may be the parent's peak.
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM (reset by execve), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Linux reports kilobytes, macOS bytes.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)


def measure(*counts: int) -> list[dict[str, Any]]:
    """Run each count of rows in its own fresh interpreter, side by side; return the figures."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks._memory", str(count)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
            text=True,
        )
        for count in counts
    ]
    results = []
    for child in children:
        output, _ = child.communicate()
        if child.returncode:
            raise RuntimeError(f"bulk memory child failed with exit code {child.returncode}")
        results.append(json.loads(output.strip().splitlines()[-1]))
    return results


def run(*, quick: bool = False) -> dict[str, Any]:
    """1,000,000 rows against 100,000 (``--quick``: 20,000 against 2,000)."""
    small, large = (2_000, 20_000) if quick else (100_000, 1_000_000)
    # Side by side (one core each): memory, not time, is measured.
    base, big = measure(small, large)
    assert base["ok"] == small, base
    assert big["ok"] == large, big
    ratio = big["peak_rss_mb"] / base["peak_rss_mb"]
    return {
        "name": "bulk_memory",
        "title": f"4. bulk_new_signups peak RSS, {large:,} vs {small:,} rows, 64 workers",
        "unit": "MB",
        "rows": [
            {"label": f"{small:,} rows (baseline)", "value": base["peak_rss_mb"]},
            {"label": f"{large:,} rows", "value": big["peak_rss_mb"]},
        ],
        "ratio": ratio,
        "ratio_label": "peak RSS large / small",
        "target": "large < 100 MB and ratio <= 1.10",
        "met": big["peak_rss_mb"] < 100 and ratio <= 1.10,
        "rows_per_second": big["rows"] / big["seconds"],
        "seconds": {"small": base["seconds"], "large": big["seconds"]},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_run(int(sys.argv[1])))))
