"""Big campaigns: streamed lists in flat memory, without stalling the event loop.

The emulator runs in its own process (pinned to the last CPU), seeded with N participants,
N triggered rewards and N actions. Each measurement runs in a fresh interpreter (pinned to
the other CPUs), so its peak resident set (``VmHWM``) is its own:

* ``iter``: ``async for r in client.iter_referrers()`` over loopback;
* ``iter_aiohttp``: the same with ``transport="aiohttp"`` (issue 22: the same bounds on every
  transport);
* ``tuple``: ``await client.referrers()``, the baseline for throughput;
* ``export``: ``irefer export referrers --format csv`` (its code, writing to /dev/null);
* ``floor``: a loop doing 1 ms slices of CPU work between yields, as long as the round's
  longest run, a reference row: the stalls the machine itself causes (a shared machine
  preempts a busy process for tens of ms), which no code of the SDK can remove;
* ``tuple_nogc``: ``referrers()`` with the cyclic garbage collector off, a reference row:
  the tuple call keeps every model, and CPython's full collections scan them all (~0.5 µs
  each here), a pause that grows with the list and is not the SDK's own work.

A ticker task (``asyncio.sleep(5 ms)`` in a loop) runs beside each and reports the longest
time it was kept waiting past its wake-up: the longest event-loop stall.

Targets (issue 12): at 1,000,000 participants, peak RSS of ``iter`` and ``export`` <= 150 MB;
``iter`` items/s >= 0.8 of ``tuple``; longest stall <= 50 ms for ``iter`` and ``tuple``.
Each figure also at 100,000, to show growth with size. ``--quick``: 5,000 and 20,000.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._memory import _peak_rss_mb
from ._servers import emulator_server, pin_client

TICK = 0.005
MODES = ("tuple", "tuple_nogc", "iter", "iter_aiohttp", "export")
#: The streamed modes alone (``python -m benchmarks._big_lists --iter SIZE ...``).
ITER_MODES = ("iter", "iter_aiohttp")


async def _ticker(stalls: list[float], own: list[float] | None = None) -> None:
    """Record how late each 5 ms wake-up is; ``own``: how much of it this process ran.

    A late wake-up is either the loop busy (this process running) or the process not
    running at all (preempted by the rest of a shared machine). The CPU time this process
    used over the interval, capped at the lateness, is the part of a stall that is its own.
    """
    loop = asyncio.get_running_loop()
    cpu = time.process_time
    while True:
        due = loop.time() + TICK
        used = cpu()
        await asyncio.sleep(TICK)
        late = loop.time() - due
        stalls.append(late)
        if own is not None:
            own.append(min(late, max(0.0, cpu() - used - TICK)))


async def _floor(seconds: float) -> dict[str, Any]:
    """The machine's own stalls: a loop doing 1 ms slices of CPU work for ``seconds``."""
    stalls: list[float] = []
    own: list[float] = []
    ticker = asyncio.create_task(_ticker(stalls, own))
    await asyncio.sleep(TICK * 2)
    clock = time.perf_counter
    started = clock()
    while clock() - started < seconds:
        slice_end = clock() + 0.001
        while clock() < slice_end:
            pass
        await asyncio.sleep(0)
    ticker.cancel()
    return {
        "mode": "floor",
        "rows": 0,
        "seconds": clock() - started,
        "peak_rss_mb": _peak_rss_mb(),
        "max_stall_ms": max(stalls, default=0.0) * 1000.0,
        "max_own_stall_ms": max(own, default=0.0) * 1000.0,
    }


async def _measure(mode: str, url: str) -> dict[str, Any]:
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
        base_url=url,
        rate_limit=None,
        timeout=120.0,
        transport="aiohttp" if mode == "iter_aiohttp" else None,
    )
    from rich.console import Console  # noqa: PLC0415 - imported before the clock starts

    from irefer_async.cli._export import COLUMNS, export_rows  # noqa: PLC0415

    stalls: list[float] = []
    own: list[float] = []
    async with client:
        await client.campaign_stats()  # connect first: time the list, not the handshake
        ticker = asyncio.create_task(_ticker(stalls, own))
        await asyncio.sleep(TICK * 2)
        started = time.perf_counter()
        if mode in ("tuple", "tuple_nogc"):
            if mode == "tuple_nogc":
                gc.disable()  # to tell the SDK's own pauses from the collector's
            rows = len(await client.referrers())
        elif mode in ITER_MODES:
            rows = 0
            async with client.iter_referrers() as referrers:
                async for _ in referrers:
                    rows += 1
        else:
            with open("/dev/null", "w") as out:  # noqa: ASYNC230 - a null device
                rows = await export_rows(
                    client, "referrers", "csv", out, columns=COLUMNS["referrers"],
                    console=Console(file=out), err=None,
                )  # fmt: skip
        seconds = time.perf_counter() - started
        ticker.cancel()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "max_stall_ms": max(stalls, default=0.0) * 1000.0,
        "max_own_stall_ms": max(own, default=0.0) * 1000.0,
    }


def _child(mode: str, url: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks._big_lists", mode, url],  # url: seconds for floor
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if output.returncode:
        raise RuntimeError(f"{mode} child failed: {output.stderr[-2000:]}")
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def measure_size(
    size: int, rounds: int, modes: tuple[str, ...] = MODES
) -> dict[str, list[dict[str, Any]]]:
    """Interleaved rounds of every mode against one server seeded with ``size`` rows."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with emulator_server(participants=size) as url:
        _child("iter", url)  # warm-up: server caches, page cache, pool
        for number in range(rounds):
            # The order rotates from round to round: a disturbance hits every mode alike.
            for mode in modes[number % len(modes) :] + modes[: number % len(modes)]:
                result = _child(mode, url)
                assert result["rows"] == size, result
                runs[mode].append(result)
            # As long as the longest run of the round, on the same machine at the same time.
            longest = max(runs[mode][-1]["seconds"] for mode in modes)
            runs.setdefault("floor", []).append(_child("floor", f"{longest:.2f}"))
    return runs


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _spread(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs]
    middle = statistics.median(values)
    return round((max(values) - min(values)) / middle, 3) if middle else 0.0


def run(*, quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """Peak RSS, throughput and longest stall at two sizes (a tenth, and the full size)."""
    sizes = sizes or ((5_000, 20_000) if quick else (100_000, 1_000_000))
    rounds = 3
    by_size = {size: measure_size(size, rounds) for size in sizes}
    large = sizes[-1]
    big = by_size[large]
    results: list[dict[str, Any]] = []

    memory_rows = []
    for size in sizes:
        runs = by_size[size]
        for mode, label in (("tuple", "referrers() (baseline)"), ("iter", "iter_referrers()"),
                            ("iter_aiohttp", 'iter_referrers(), transport="aiohttp"'),
                            ("export", "irefer export --format csv")):  # fmt: skip
            memory_rows.append(
                {
                    "label": f"{label}, {size:,}",
                    "value": _median(runs[mode], "peak_rss_mb"),
                    "spread": _spread(runs[mode], "peak_rss_mb"),
                }
            )
    iter_peak = max(_median(big[mode], "peak_rss_mb") for mode in ITER_MODES)
    export_peak = _median(big["export"], "peak_rss_mb")
    results.append(
        {
            "name": "big_list_memory",
            "title": f"Peak RSS of the client process, {large:,} participants over loopback",
            "unit": "MB",
            "rows": memory_rows,
            "ratio": iter_peak / _median(by_size[sizes[0]]["iter"], "peak_rss_mb"),
            "ratio_label": f"iter peak {large:,} / {sizes[0]:,}",
            "target": "iter (both transports) and export <= 150 MB at the large size",
            "met": iter_peak <= 150 and export_peak <= 150,
        }
    )

    speed_rows = []
    for size in sizes:
        runs = by_size[size]
        for mode, label in (("tuple", "referrers() (baseline)"), ("iter", "iter_referrers()")):
            rates = [r["rows"] / r["seconds"] for r in runs[mode]]
            speed_rows.append(
                {
                    "label": f"{label}, {size:,}",
                    "value": statistics.median(rates),
                    "spread": round((max(rates) - min(rates)) / statistics.median(rates), 3),
                }
            )
    rate = {row["label"]: row["value"] for row in speed_rows}
    speed_ratio = rate[f"iter_referrers(), {large:,}"] / rate[f"referrers() (baseline), {large:,}"]
    results.append(
        {
            "name": "big_list_throughput",
            "title": f"Items per second over loopback, {large:,} participants",
            "unit": "rows/s",
            "rows": speed_rows,
            "ratio": speed_ratio,
            "ratio_label": "iter / tuple",
            "target": ">= 0.8",
            "met": speed_ratio >= 0.8,
        }
    )

    stall_rows = []
    for size in sizes:
        runs = by_size[size]
        for mode, label in (("floor", "1 ms CPU slices (machine reference)"),
                            ("tuple", "referrers()"),
                            ("tuple_nogc", "referrers(), cyclic GC off (reference)"),
                            ("iter", "iter_referrers()"),
                            ("iter_aiohttp", 'iter_referrers(), transport="aiohttp"'),
                            ("export", "export csv")):  # fmt: skip
            stall_rows.append(
                {
                    "label": f"{label}, {size:,}",
                    "value": _median(runs[mode], "max_stall_ms"),
                    "spread": _spread(runs[mode], "max_stall_ms"),
                }
            )
    worst = max(_median(big[mode], "max_stall_ms") for mode in ("tuple", *ITER_MODES))
    own_rows = []
    for size in sizes:
        runs = by_size[size]
        for mode, label in (("floor", "1 ms CPU slices (machine reference)"),
                            ("tuple", "referrers()"), ("iter", "iter_referrers()"),
                            ("export", "export csv")):  # fmt: skip
            own_rows.append(
                {
                    "label": f"{label}, {size:,}",
                    "value": _median(runs[mode], "max_own_stall_ms"),
                    "spread": _spread(runs[mode], "max_own_stall_ms"),
                }
            )
    results.append(
        {
            "name": "big_list_stall",
            "title": f"Longest event-loop stall (5 ms ticker), {large:,} participants",
            "unit": "ms",
            "rows": stall_rows,
            "ratio": worst / 50.0,
            "ratio_label": "worst stall / 50 ms",
            "target": "<= 1.0 (50 ms)",
            "met": worst <= 50.0,
        }
    )
    own_worst = max(_median(big[mode], "max_own_stall_ms") for mode in ("iter", "export"))
    results.append(
        {
            "name": "big_list_own_stall",
            "title": f"Longest stall of the process's own CPU time, {large:,} participants",
            "unit": "ms",
            "rows": own_rows,
            "ratio": own_worst / 50.0,
            "ratio_label": "worst of iter and export / 50 ms",
            "target": "<= 1.0 (50 ms); preemption by other processes left out",
            "met": own_worst <= 50.0,
        }
    )
    return results


def iter_only(sizes: list[int], rounds: int = 3) -> None:
    """Print the streamed modes' peak RSS and longest stall per size (medians, spreads)."""
    for size in sizes:
        runs = measure_size(size, rounds, (*ITER_MODES, "export"))
        for mode, found in runs.items():
            peaks = [r["peak_rss_mb"] for r in found]
            stalls = [r["max_stall_ms"] for r in found]
            own = [r["max_own_stall_ms"] for r in found]
            rates = [r["rows"] / r["seconds"] for r in found if r["rows"]]
            print(
                f"{size:>9,} {mode:<13} peak {statistics.median(peaks):6.1f} MB "
                f"({min(peaks):.1f}-{max(peaks):.1f})  stall {statistics.median(stalls):6.1f} ms "
                f"({min(stalls):.1f}-{max(stalls):.1f})  own {statistics.median(own):5.1f} ms"
                + (f"  {statistics.median(rates):,.0f} rows/s" if rates else ""),
                flush=True,
            )


if __name__ == "__main__":
    if sys.argv[1] == "--iter":  # python -m benchmarks._big_lists --iter 200000 [300000]
        iter_only([int(n) for n in sys.argv[2:]])
        sys.exit(0)
    pin_client()
    if sys.argv[1] == "floor":
        print(json.dumps(asyncio.run(_floor(float(sys.argv[2])))))
    else:
        print(json.dumps(asyncio.run(_measure(sys.argv[1], sys.argv[2]))))
