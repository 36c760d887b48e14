"""A worker process for the cross-process tests: acquire slots, print their times as JSON.

Usage: python share_worker.py URL NAME RATE BURST CONCURRENCY DURATION
Prints ``ready`` once connected, then reads START_AT from stdin, then prints
{"times": [...], "slots": [...]}: when acquire() returned, and the granted slots.

START_AT is a ``time.monotonic()`` value (CLOCK_MONOTONIC is one clock for every process of
a Linux host), so the parent can compare the times of several workers. The parent sends it
once every worker is ready, so a slow interpreter start (a loaded machine) costs no share.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from irefer_async import RateLimit
from irefer_async.redis import RedisRateLimiter


class RecordingLimiter(RedisRateLimiter):
    """Also records every granted slot on the Redis server's clock (seconds).

    Slots are what the algorithm bounds; when each request really starts also depends on
    how promptly the OS wakes the process, which a loaded test machine does not promise.
    """

    __slots__ = ("slots",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots: list[float] = []

    async def _run_script(self) -> tuple[bool, float, float]:
        granted, wait, slot = await super()._run_script()
        if granted:
            self.slots.append(slot)
        return granted, wait, slot


async def main(url: str, name: str, rate: float, burst: int, tasks: int,
               duration: float) -> dict[str, list[float]]:  # fmt: skip
    times: list[float] = []
    async with RecordingLimiter(url, RateLimit(rate, burst=burst), name=name) as limiter:
        await limiter._redis.ping()  # connected (and the pool warm) before saying so
        print("ready", flush=True)
        start_at = float(await asyncio.to_thread(sys.stdin.readline))
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
    return {"times": times, "slots": limiter.slots}


if __name__ == "__main__":
    url, name, rate, burst, tasks, duration = sys.argv[1:7]
    result = asyncio.run(main(url, name, float(rate), int(burst), int(tasks), float(duration)))
    print(json.dumps(result))
