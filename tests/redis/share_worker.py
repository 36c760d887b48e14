"""A worker process for the cross-process tests: acquire slots, print their times as JSON.

Usage: python share_worker.py URL NAME RATE BURST CONCURRENCY START_AT DURATION

START_AT is a ``time.monotonic()`` value (CLOCK_MONOTONIC is one clock for every process of
a Linux host), so the parent can compare the times of several workers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from irefer_async import RateLimit
from irefer_async._redis_limiter import RedisRateLimiter


async def main(url: str, name: str, rate: float, burst: int, tasks: int, start_at: float,
               duration: float) -> list[float]:  # fmt: skip
    times: list[float] = []
    async with RedisRateLimiter(url, RateLimit(rate, burst=burst), name=name) as limiter:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        stop = start_at + duration

        async def worker() -> None:
            while True:
                await limiter.acquire()
                now = time.monotonic()
                if now >= stop:
                    return
                times.append(now)

        await asyncio.gather(*(worker() for _ in range(tasks)))
    return times


if __name__ == "__main__":
    url, name, rate, burst, tasks, start_at, duration = sys.argv[1:8]
    result = asyncio.run(
        main(url, name, float(rate), int(burst), int(tasks), float(start_at), float(duration))
    )
    print(json.dumps(result))
