"""The sync client's cost per call against the async client's, measured in the same run.

Both clients call ``campaignStats`` on the same in-process emulator (no socket, no rate
limit, no cache, nothing shared between calls), one call at a time:

* ``async``: ``await client.campaign_stats()`` in a loop, on the caller's event loop.
* ``sync``: ``client.campaign_stats()`` from the main thread; each call crosses to the
  client's loop thread and back (``run_coroutine_threadsafe``-style handoff).
* ``sync_8_threads``: the sync client called from 8 threads at once (throughput).

The overhead per call is ``sync - async`` (medians of interleaved rounds). The handoff's cost
is what it measures: against a real server a call takes milliseconds, so compare the figure
with your round-trip time. Run: ``python benchmarks/bench_sync_overhead.py [--quick]``
(``--calls`` per round, default 5,000; ``--quick`` 1,000 x 3 rounds). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from irefer_async import IReferClient as AsyncIReferClient
from irefer_async import RetryConfig
from irefer_async.sync import IReferClient
from irefer_async.testing import DEFAULT_BASE_URL, Emulator


def _options(emulator: Emulator) -> dict[str, Any]:
    spec = emulator.default_campaign
    return {
        "license_key": spec.license_key,
        "api_key": spec.api_key,
        "campaign_id": spec.id,
        "base_url": DEFAULT_BASE_URL,
        "rate_limit": None,
        "max_concurrency": None,
        "share_reads": False,
        "retry": RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0),
        "transport": emulator.transport(),
    }


def _async_round(emulator: Emulator, calls: int) -> float:
    async def run() -> float:
        async with AsyncIReferClient(**_options(emulator)) as client:
            await client.campaign_stats()  # warm
            start = time.perf_counter()
            for _ in range(calls):
                await client.campaign_stats()
            return (time.perf_counter() - start) / calls

    return asyncio.run(run())


def _sync_round(emulator: Emulator, calls: int) -> float:
    with IReferClient(**_options(emulator)) as client:
        client.campaign_stats()
        start = time.perf_counter()
        for _ in range(calls):
            client.campaign_stats()
        return (time.perf_counter() - start) / calls


def _threads_round(emulator: Emulator, calls: int, threads: int = 8) -> float:
    per_thread = max(1, calls // threads)
    with IReferClient(**_options(emulator)) as client:
        client.campaign_stats()

        def work(_: int) -> None:
            for _ in range(per_thread):
                client.campaign_stats()

        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(threads)))
        return (time.perf_counter() - start) / (per_thread * threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    calls, rounds = (1000, 3) if args.quick else (args.calls, args.rounds)
    emulator = Emulator(seed=0, journal_limit=100)
    seen: dict[str, list[float]] = {"async": [], "sync": [], "sync_8_threads": []}
    for _ in range(rounds):  # interleaved, so a change of load hits every row alike
        seen["async"].append(_async_round(emulator, calls))
        seen["sync"].append(_sync_round(emulator, calls))
        seen["sync_8_threads"].append(_threads_round(emulator, calls))
    us = {name: statistics.median(values) * 1e6 for name, values in seen.items()}
    report = {
        "calls_per_round": calls,
        "rounds": rounds,
        "us_per_call": {name: round(value, 1) for name, value in us.items()},
        "min_max_us": {
            name: [round(min(v) * 1e6, 1), round(max(v) * 1e6, 1)] for name, v in seen.items()
        },
        "sync_overhead_us_per_call": round(us["sync"] - us["async"], 1),
        "sync_over_async": round(us["sync"] / us["async"], 2),
        "python": sys.version.split()[0],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
