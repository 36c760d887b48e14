"""Reconciling at scale: an action import at 20% ambiguous faults vs the same import fault-free.

``python -m benchmarks.bench_reconcile [--existing N] [--rows N] [--rounds R]``

The campaign already holds ``--existing`` actions; ``--rows`` new actions are imported with
``bulk_new_specific_actions`` through the in-process emulator, once with no fault (the
baseline) and once with 20% of the writes failing ambiguously (before or after processing:
5xx, dropped connection, read timeout, truncated body). Rounds are interleaved (baseline,
faulted, baseline, ...) and each figure is the median of the rounds with its spread.

Reported: the wall-time ratio (faulted / baseline; target <= 2), the reconciling reads made
(shared ``specificActionSignups`` scans) against the ambiguous writes (what one read per
ambiguous write, the old way, would have made), the bytes those reads carried, and the extra
process CPU of the faulted run (client and in-process emulator together: an upper bound on
the client's reconciling CPU). The issue's figure is 100k existing + 100k rows; the default
here is a quick form. The settle window is 0.2 s (the in-process emulator has finished a
write when it answers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx

import irefer_async as ia
from irefer_async.testing import Emulator, FaultKind

AMBIGUOUS = (
    FaultKind.HTTP_5XX_BEFORE,
    FaultKind.HTTP_5XX_AFTER,
    FaultKind.DROP_BEFORE,
    FaultKind.DROP_AFTER,
    FaultKind.TIMEOUT_AFTER,
    FaultKind.TRUNCATED_JSON,
)


class _Counting(httpx.AsyncBaseTransport):
    """The emulator's transport, counting the bytes of the reconciling list reads."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.list_bytes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/specificActionSignups"):
            body = await response.aread()
            self.list_bytes += len(body)
        return response


def _emulator(existing: int) -> tuple[Emulator, str]:
    emulator = Emulator(seed=1)
    code = emulator.add_participant("ref@example.com").code
    return emulator, code


async def _import(emulator: Emulator, code: str, first: int, rows: int) -> dict[str, Any]:
    transport = _Counting(emulator.transport())
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=0.2)
    async with emulator.client(
        retry=retry, transport=transport, max_concurrency=16, timeout=5.0
    ) as client:
        requests = (
            ia.NewSpecificActionRequest(f"ext-{i}", "/dashboard", code)
            for i in range(first, first + rows)
        )
        wall, cpu = time.perf_counter(), time.process_time()
        summary: Any = None
        async with client.bulk_new_specific_actions(requests) as run:
            async for _ in run:
                pass
            summary = run.summary
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        boards = list(client._boards.values())
    journal = emulator.journal
    return {
        "wall": wall,
        "cpu": cpu,
        "ok": summary.ok,
        "unknown": summary.unknown,
        "failed": summary.failed,
        "scans": sum(b.scans for b in boards),
        "rows_scanned": sum(b.rows_read for b in boards),
        "list_bytes": transport.list_bytes,
        "ambiguous": sum(1 for e in journal.entries("newSpecificAction") if e.fault in AMBIGUOUS),
    }


async def _round(existing: int, rows: int, faulted: bool) -> dict[str, Any]:
    emulator, code = _emulator(existing)
    # The existing actions, sent fault-free before the clock starts.
    await _import(emulator, code, 10_000_000, existing)
    emulator.journal.clear()
    if faulted:
        emulator.inject_fault_rate(0.2, AMBIGUOUS, methods=["newSpecificAction"], seed=7)
    result = await _import(emulator, code, 0, rows)
    actions = emulator.snapshot()["campaigns"][0]["actions"]
    keys = [a["referred_person"] for a in actions]
    result["duplicates"] = len(keys) - len(set(keys))
    return result


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (spread {min(values):.3f}..{max(values):.3f})"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the interleaved rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=5_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    base: list[dict[str, Any]] = []
    hit: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        base.append(asyncio.run(_round(args.existing, args.rows, False)))
        hit.append(asyncio.run(_round(args.existing, args.rows, True)))
    ratios = [h["wall"] / b["wall"] for b, h in zip(base, hit, strict=True)]
    figures = {
        "existing": args.existing,
        "rows": args.rows,
        "wall_baseline_s": _median([b["wall"] for b in base]),
        "wall_faulted_s": _median([h["wall"] for h in hit]),
        "wall_ratio": _median(ratios),
        "ambiguous_writes": statistics.median(h["ambiguous"] for h in hit),
        "reconciling_reads": statistics.median(h["scans"] for h in hit),
        "rows_scanned": statistics.median(h["rows_scanned"] for h in hit),
        "list_bytes_read": statistics.median(h["list_bytes"] for h in hit),
        "extra_cpu_s": _median([h["cpu"] - b["cpu"] for b, h in zip(base, hit, strict=True)]),
        "unknown": [h["unknown"] for h in hit],
        "duplicates": [h["duplicates"] for h in hit],
    }
    for name, value in figures.items():
        print(f"{name:>20}: {value}")
    return figures


if __name__ == "__main__":
    main()
