"""Reconciling at scale: an action import at 20% ambiguous faults vs the same import fault-free.

``python -m benchmarks.bench_reconcile [--quick] [--existing N] [--rows N] [--rounds R]``

The issue's figure (the default): a campaign already holding 100,000 actions receives 100,000
more through ``bulk_new_specific_actions``, once with no fault (the baseline) and once with
20% of the writes failing ambiguously (before or after processing: 5xx, dropped connection,
read timeout, truncated body); the faulted import must take at most 2x the baseline's wall
time. ``--quick``: 5,000 into 5,000 (a smoke run of a minute or so).

The emulator runs in a child process (uvicorn on loopback) pinned to its own CPU, the client
in this one on the others, so the client's CPU is measured alone and the scans' cost on the
server side does not slow the client down. One unmeasured import warms both first. Rounds
are interleaved (baseline then faulted, then the other way round...); every figure is the
median over the rounds with its spread, the wall-time ratio a median of per-round ratios.

Reported: the ratio (target <= 2); the reconciling reads made (shared
``specificActionSignups`` scans) against the ambiguous writes (one read per ambiguous write
was the old way) and the rows and bytes those reads carried; the client's extra CPU in the
faulted run over the baseline (not a measure of reconciling: see `scan_cpu_per_row`), and the
client CPU spent on reconciling (rows scanned x the scan's CPU per row, measured in the same
run); and the promises: outcomes per row, duplicates in the emulator's state.

The settle window is ``--settle`` (0.2 s: this emulator has processed a write when it answers
or drops it; a real server may need the SDK's default, 10 s, which adds about 10 s once, at
the end of an import, not per row). A ``timeout_after`` write stalls until the client's read
timeout (``--read-timeout``, 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

import irefer_async as ia
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, DEFAULT_LICENSE_KEY

from ._servers import child_server, pin_client

#: The ambiguous fault kinds drawn from (each as likely).
AMBIGUOUS = (
    "http_5xx_before",
    "http_5xx_after",
    "drop_before",
    "drop_after",
    "timeout_after",
    "truncated_json",
)
FAULT_RATE = 0.2
QUICK = {"existing": 5_000, "rows": 5_000}
FULL = {"existing": 100_000, "rows": 100_000}


# -- the server (child process) ------------------------------------------------------------


def _serve() -> None:
    """Serve the emulator; answer ``setup EXISTING FAULTED`` and ``check`` lines on stdin."""
    from irefer_async.testing import Emulator  # noqa: PLC0415

    from ._servers import list_body, use_nodelay  # noqa: PLC0415

    use_nodelay()
    emulator = Emulator(seed=1)

    async def setup(existing: int, faulted: bool) -> str:
        emulator.reset()
        code = emulator.add_participant("ref@example.com").code
        emulator.seed_actions(existing, action="/dashboard")
        await list_body(emulator, "specificActionSignups")  # warm the list's encoding
        emulator.journal.clear()
        if faulted:
            emulator.inject_fault_rate(FAULT_RATE, AMBIGUOUS, methods=["newSpecificAction"], seed=7)
        return code

    def check() -> dict[str, Any]:
        actions = emulator.snapshot()["campaigns"][0]["actions"]
        keys = [(a["referred_person"], a["action"]) for a in actions]
        writes = emulator.journal.entries("newSpecificAction")
        return {
            "actions": len(keys),
            "duplicates": len(keys) - len(set(keys)),
            "ambiguous": sum(1 for e in writes if e.fault is not None),
            "writes": len(writes),
            "scans": len(emulator.journal.entries("specificActionSignups")),
        }

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with emulator.serve(port=0) as url:
            print(url, flush=True)
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                command, *args = line.split()
                if command == "setup":
                    reply: Any = await setup(int(args[0]), args[1] == "1")
                else:
                    reply = check()
                print(json.dumps(reply), flush=True)

    asyncio.run(main())


class _Server:
    """The child process serving the emulator, and its command lines."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def ask(self, *words: object) -> Any:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(" ".join(map(str, words)) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())


@contextlib.contextmanager
def _server() -> Iterator[_Server]:
    with child_server("benchmarks.bench_reconcile", "--serve", name="emulator", wait=30.0) as (
        process,
        url,
    ):
        yield _Server(process, url)


# -- the client (this process) -------------------------------------------------------------


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, counter: _Counting) -> None:
        self._inner = inner
        self._counter = counter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._counter.list_bytes += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Counting(httpx.AsyncBaseTransport):
    """httpx's transport, counting the bytes of the reconciling list reads as they stream."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.list_bytes = 0
        self.list_reads = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/specificActionSignups"):
            self.list_reads += 1
            response.stream = _CountedStream(response.stream, self)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _limits(concurrency: int) -> httpx.Limits:
    # What the SDK gives its own client (`_config.build_http_client`): a pool the size of the cap.
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


async def _import(
    server: _Server, code: str, rows: int, args: argparse.Namespace
) -> dict[str, Any]:
    transport = _Counting(httpx.AsyncHTTPTransport(limits=_limits(args.concurrency)))
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=args.settle)
    client = ia.IReferClient(
        DEFAULT_LICENSE_KEY,
        DEFAULT_API_KEY,
        campaign_id=DEFAULT_CAMPAIGN_ID,
        base_url=server.url,
        rate_limit=None,
        retry=retry,
        transport=transport,
        max_concurrency=args.concurrency,
        timeout=httpx.Timeout(10.0, read=args.read_timeout),
    )
    async with client:
        requests = (
            ia.NewSpecificActionRequest(f"ext-{i}", "/dashboard", code) for i in range(rows)
        )
        counts: dict[str, int] = {}
        wall, cpu = time.perf_counter(), time.process_time()
        async with client.bulk_new_specific_actions(requests, concurrency=args.concurrency) as run:
            async for outcome in run:
                counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        boards = list(client._writes.boards.values())
    return {
        "wall": wall,
        "cpu": cpu,
        "outcomes": sum(counts.values()),
        "statuses": counts,
        "scans": sum(b.scans for b in boards),
        "rows_scanned": sum(b.rows_read for b in boards),
        "scan_seconds": sum(getattr(b, "scan_time", 0.0) for b in boards),
        "list_reads": transport.list_reads,
        "list_bytes": transport.list_bytes,
    }


def _round(
    server: _Server, faulted: bool, existing: int, rows: int, args: argparse.Namespace
) -> dict[str, Any]:
    code = server.ask("setup", existing, int(faulted))
    result = asyncio.run(_import(server, code, rows, args))
    result.update(server.ask("check"))
    return result


def scan_cpu_per_row(rows: int = 20_000) -> float:
    """CPU seconds the client spends per row of a streamed reconciling scan (measured here).

    The emulator's own ``specificActionSignups`` body of ``rows`` actions, in 64 KB chunks,
    through the streaming matcher with 100 absent targets (a settled scan reads to the end),
    best of 3.
    The faulted run's extra process CPU is no measure of reconciling: a run whose requests
    wait (read timeouts, parked rows) spends less in httpcore's pool, and it came out
    negative on a quiet machine; rows scanned x this cost is.
    """
    from irefer_async._match import RowMatcher  # noqa: PLC0415
    from irefer_async._stream import ArraySplitter, json_items  # noqa: PLC0415
    from irefer_async.testing import Emulator  # noqa: PLC0415

    from ._servers import list_body  # noqa: PLC0415

    emulator = Emulator(seed=1)
    emulator.add_participant("ref@example.com")
    emulator.seed_actions(rows, action="/dashboard")
    body = asyncio.run(list_body(emulator, "specificActionSignups"))
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def scan() -> float:
        matcher = RowMatcher(("referred_person", "specific_action"))
        for i in range(100):
            matcher.add((f"absent-{i}", "/dashboard"))
        cpu = time.process_time()
        async for row in json_items(chunks(), ArraySplitter("specificActionSignups")):
            matcher.match(row)  # every target absent: read to the end, as a settled scan
        return time.process_time() - cpu

    return min(asyncio.run(scan()) for _ in range(3)) / rows


def _median(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _show(value: Any) -> str:
    if isinstance(value, dict) and "median" in value:
        return f"{value['median']:.3f} (spread {value['min']:.3f}..{value['max']:.3f})"
    return str(value)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the warm-up and the interleaved rounds; return the figures."""
    pin_client()
    base: list[dict[str, Any]] = []
    hit: list[dict[str, Any]] = []
    with _server() as server:
        warm = min(args.rows, 2_000)
        _round(server, False, min(args.existing, 2_000), warm, args)
        _round(server, True, min(args.existing, 2_000), warm, args)
        for number in range(args.rounds):
            order = (False, True) if number % 2 == 0 else (True, False)
            for faulted in order:
                found = _round(server, faulted, args.existing, args.rows, args)
                (hit if faulted else base).append(found)
    ratios = [h["wall"] / b["wall"] for b, h in zip(base, hit, strict=True)]
    per_row = scan_cpu_per_row()
    return {
        "existing": args.existing,
        "rows": args.rows,
        "rounds": args.rounds,
        "wall_baseline_s": _median([b["wall"] for b in base]),
        "wall_faulted_s": _median([h["wall"] for h in hit]),
        "wall_ratio": _median(ratios),
        "target_met": statistics.median(ratios) <= 2.0,
        "ambiguous_writes": statistics.median(h["ambiguous"] for h in hit),
        "reconciling_reads": statistics.median(h["list_reads"] for h in hit),
        "rows_scanned": statistics.median(h["rows_scanned"] for h in hit),
        "list_bytes_read": statistics.median(h["list_bytes"] for h in hit),
        "writes_per_read": statistics.median(h["ambiguous"] / max(h["list_reads"], 1) for h in hit),
        "scan_wall_s": _median([h["scan_seconds"] for h in hit]),
        "client_cpu_baseline_s": _median([b["cpu"] for b in base]),
        "scan_cpu_us_per_row": round(per_row * 1e6, 3),
        "reconcile_cpu_s": _median([h["rows_scanned"] * per_row for h in hit]),
        "client_extra_cpu_s": _median(
            [h["cpu"] - b["cpu"] for b, h in zip(base, hit, strict=True)]
        ),
        "statuses": [h["statuses"] for h in hit],
        "every_row_one_outcome": all(r["outcomes"] == args.rows for r in base + hit),
        "duplicates": [h["duplicates"] for h in hit],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the options, run, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 into 5,000")
    parser.add_argument("--existing", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--read-timeout", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    args.existing = size["existing"] if args.existing is None else args.existing
    args.rows = size["rows"] if args.rows is None else args.rows
    figures = measure(args)
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>22}: {_show(value)}")
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        from ._servers import _pin

        _pin({int(cpu) for cpu in sys.argv[2].split(",")})
        _serve()
    else:
        main()
