"""Measuring throughput honestly: warm to a steady state, interleave rounds, report medians.

* `warm` runs batches until the throughput stops changing (the last ``window`` batches
  within ``tolerance`` of each other), not a fixed count: plain httpx at 64 in flight needs
  ~3,000 requests to reach its steady rate, aiohttp a few hundred.
* `interleaved` runs every contender once per round, the order rotating from round to
  round, each for about the same wall time, so a disturbance of the shared machine hits
  every contender of a round alike; each is first brought back to its steady rate
  (`rewarm`), since a pool left idle while the others ran may have closed its
  connections.
* `ratio` is the median of the per-round ratios, with their spread (min, max): a ratio
  between two contenders measured in the same round cancels what the round had in common.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

CONCURRENCY = 64

Call = Callable[[], Awaitable[Any]]


async def pool(
    total: int,
    call: Call,
    concurrency: int = CONCURRENCY,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Run ``call`` ``total`` times on ``concurrency`` workers; return requests per second."""
    remaining = itertools.repeat(None, total)

    async def worker() -> None:
        for _ in remaining:
            await call()

    started, cpu = clock(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = clock() - started
    global last_cpu_us  # noqa: PLW0603 - read right after by interleaved()
    last_cpu_us = (time.process_time() - cpu) / total * 1e6
    return total / elapsed


#: The benchmark process's CPU (all its threads) per request in the last `pool`.
last_cpu_us = 0.0


async def warm(
    call: Call,
    *,
    batch: int = 4 * CONCURRENCY,
    window: int = 4,
    tolerance: float = 0.10,
    limit: int = 12_000,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Run batches of ``call`` until steady; return the requests used, the rate, and if steady.

    Steady: the last ``window`` batch rates lie within ``tolerance`` of their median, and the
    last one is not above it by more than ``tolerance / 2`` (still climbing is not steady).
    """
    rates: list[float] = []
    used = 0
    while used < limit:
        rates.append(await pool(batch, call, clock=clock))
        used += batch
        if len(rates) >= window:
            last = rates[-window:]
            middle = statistics.median(last)
            spread = (max(last) - min(last)) / middle
            if spread <= tolerance and last[-1] <= middle * (1 + tolerance / 2):
                return {"requests": used, "rate": middle, "steady": True}
    return {"requests": used, "rate": statistics.median(rates[-window:]), "steady": False}


async def interleaved(
    contenders: Mapping[str, Call],
    *,
    rounds: int,
    seconds: float,
    warmed: Mapping[str, dict[str, Any]],
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Run each contender once per round (rotating order), ~``seconds`` each; rates per round.

    ``cpu``, if given, receives each round's CPU µs per request of each contender.
    """
    names = list(contenders)
    found: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            steady = warmed[name]["rate"]
            await rewarm(contenders[name], steady)
            total = max(2 * CONCURRENCY, int(steady * seconds))
            found[name].append(await pool(total, contenders[name]))
            if cpu is not None:
                cpu.setdefault(name, []).append(last_cpu_us)
    return found


async def rewarm(call: Call, steady: float, *, batch: int = 4 * CONCURRENCY, most: int = 8) -> int:
    """Bring a contender back to its steady rate after it sat idle; return the batches run.

    An httpx pool whose connections expired while the other contenders ran (keep-alive is 5 s)
    opens them again slowly: ~500 requests at a third of its rate. Unmeasured batches run
    until one reaches 80% of the steady rate (at most ``most``).
    """
    for count in range(1, most + 1):
        if await pool(batch, call) >= 0.8 * steady:
            return count
    return most


def ratio(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """Median of per-round ratios, and their spread."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "rounds": len(ratios),
    }


def median(rates: list[float]) -> float:
    """The median rate of a contender over its rounds."""
    return statistics.median(rates)
