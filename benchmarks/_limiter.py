"""Benchmark 3: the rate limiter's accuracy at R = 50/s and 200/s, 64 workers, 10 s each.

64 workers call ``referrer_stats`` as fast as the client lets them, through an in-process
transport that answers at once and records when each request was sent (the limiter is all
that holds them back). Two figures per rate:

* steady rate: requests sent from the end of the first second to the end of the run, per
  second (the first second holds the documented burst);
* the busiest sliding 1-second window, against the documented bound ``R + burst``
  (``RateLimit(rate, burst=1)``, the default, see ``irefer_async/_limits.py``).

``burst=0`` is measured as well, for the record: it never exceeds R in any window but falls
short of R, which is why it is not the default.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from typing import Any

import httpx

from irefer_async import IReferClient, RateLimit
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, DEFAULT_LICENSE_KEY

from ._servers import REFERRER_STATS_BODY

WORKERS = 64


class _Recorder(httpx.AsyncBaseTransport):
    """Answers every request at once with the fixed body; records the send times."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(time.monotonic())
        return httpx.Response(200, stream=httpx.ByteStream(REFERRER_STATS_BODY), request=request)


async def _measure(rate: float, burst: int, seconds: float) -> list[float]:
    recorder = _Recorder()
    client = IReferClient(
        DEFAULT_LICENSE_KEY,
        DEFAULT_API_KEY,
        campaign_id=DEFAULT_CAMPAIGN_ID,
        base_url="http://limiter.test/v1.0/",
        rate_limit=RateLimit(rate, burst=burst),
        max_concurrency=WORKERS,
        transport=recorder,
        share_reads=False,  # identical reads: each must be its own request here
    )

    async def worker() -> None:
        while True:
            await client.referrer_stats("ann@example.com")

    async with client:
        tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return recorder.sent


def analyse(sent: list[float], seconds: float) -> dict[str, float]:
    """Steady rate after the first second, and the busiest sliding 1-second window."""
    start = sent[0]
    end = start + seconds
    sent = [t for t in sent if t < end]
    steady = sum(1 for t in sent if t >= start + 1.0) / (seconds - 1.0)
    busiest = max(bisect.bisect_left(sent, t + 1.0) - i for i, t in enumerate(sent))
    return {"sent": len(sent), "steady": steady, "busiest": float(busiest)}


def run(*, quick: bool = False) -> list[dict[str, Any]]:
    """Measure R = 50 and 200 (burst 1, the default; and burst 0 for the record)."""
    seconds = 3.0 if quick else 10.0
    results = []
    for rate in (50.0, 200.0):
        rows = []
        figures: dict[int, dict[str, float]] = {}
        for burst in (1, 0):
            # burst=0 is only for the record: half the time is enough to see its shortfall.
            duration = seconds if burst else max(seconds / 2, 3.0)
            sent = asyncio.run(_measure(rate, burst, duration + 0.2))
            figures[burst] = found = analyse(sent, duration)
            rows += [
                {"label": f"burst={burst}: steady rate (req/s)", "value": found["steady"]},
                {"label": f"burst={burst}: busiest 1-s window (req)", "value": found["busiest"]},
            ]
        main = figures[1]
        error = main["steady"] / rate - 1.0
        bound = rate + 1
        results.append(
            {
                "name": f"limiter_{int(rate)}",
                "title": f"3. Rate limiter at R={rate:g}/s, 64 workers, {seconds:g} s",
                "unit": "",
                "rows": [{"label": f"target R (bound R+burst = {bound:g})", "value": rate}, *rows],
                "ratio": main["steady"] / rate,
                "ratio_label": "steady rate / R (burst=1)",
                "target": f"within 1% of R; busiest window <= {bound:g}",
                "met": abs(error) <= 0.01 and main["busiest"] <= bound,
                "steady_error_percent": 100 * error,
                "busiest_window": main["busiest"],
                "burst0": figures[0],
            }
        )
    return results
