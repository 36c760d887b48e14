"""(1c) alone: the SDK on plain httpx vs a hand-written ``get()`` + ``.json()`` loop, same client.

The httpx rows of ``calls`` without the other stacks, for a short run on a loaded machine:
``python -m benchmarks._httpx_overhead [ROUNDS] [SECONDS]``. The server runs pinned to the
last CPU and the client to the others (`_servers`); each contender is warmed to its steady
rate, then measured in interleaved rounds (`_harness`), throughput and the client's CPU per
call. Prints the medians, the per-round ratio's median and spread, and the load average.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

from . import _harness
from ._servers import fast_server, pin_client
from ._throughput import _contenders


async def _measure(base_url: str, rounds: int, seconds: float) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        found = await _contenders(base_url, stack)
        contenders = {k: found[k] for k in ("hand_httpx", "sdk_httpx_given", "sdk_httpx")}
        warmed = {name: await _harness.warm(call, limit=6000) for name, call in contenders.items()}
        cpu: dict[str, list[float]] = {}
        rates = await _harness.interleaved(
            contenders, rounds=rounds, seconds=seconds, warmed=warmed, cpu=cpu
        )
    return {"rates": rates, "cpu": cpu}


def run(rounds: int = 5, seconds: float = 1.0) -> dict[str, Any]:
    """Measure the three httpx contenders; return rates, CPU and the (1c) ratios."""
    load = os.getloadavg()
    with fast_server() as base_url:
        pin_client()
        found = asyncio.run(_measure(base_url, rounds, seconds))
    rates, cpu = found["rates"], found["cpu"]
    return {
        "load_average": (load, os.getloadavg()),
        "rates": {k: _harness.median(v) for k, v in rates.items()},
        "cpu_us": {k: _harness.median(v) for k, v in cpu.items()},
        "ratio": _harness.ratio(rates["sdk_httpx_given"], rates["hand_httpx"]),
        "cpu_ratio": _harness.ratio(cpu["hand_httpx"], cpu["sdk_httpx_given"]),
        "own_ratio": _harness.ratio(rates["sdk_httpx"], rates["hand_httpx"]),
    }


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    result = run(int(args[0]) if args else 5, args[1] if len(args) > 1 else 1.0)
    print(f"load average {result['load_average'][0]} -> {result['load_average'][1]}")
    for name, rate in result["rates"].items():
        print(f"{name:16} {rate:8.0f} req/s  {result['cpu_us'][name]:7.1f} µs CPU/call")
    for key in ("ratio", "cpu_ratio", "own_ratio"):
        r = result[key]
        spread = f"({r['min']:.3f}-{r['max']:.3f})"
        print(f"{key:10} {r['median']:.3f} {spread} over {r['rounds']} rounds")
