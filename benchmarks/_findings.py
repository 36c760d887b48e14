"""The issue's findings, checked: the retry fast path's cost, and sniffio being importable.

* Retry layer: a call that succeeds at once costs the request loop's retry decisions
  (``Retries``: one small object, no tenacity state) against a bare ``await``, and against
  building a fresh tenacity ``AsyncRetrying`` per call as a typical SDK does; plus the cyclic
  garbage each leaves (objects the garbage collector frees afterwards, per call).
* sniffio: httpcore imports it on every request and, when the import fails, retries the
  failing import each time (~140 µs). It must be installed (a declared dependency).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from irefer_async import IReferError, RetryConfig
from irefer_async._retry import Retries, is_retryable

CALLS = 20_000


async def _ok() -> int:
    return 1


async def _bare() -> int:
    return await _ok()


async def _fast_path() -> int:
    # What the client's request loop does around each call's attempts.
    retries = Retries(RetryConfig(), None)
    while True:
        try:
            return await _ok()
        except IReferError as exc:
            wait = retries.after(exc)
            if wait is None:
                raise
            await asyncio.sleep(wait)


async def _tenacity() -> int:
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_exponential_jitter(0.5, 8.0),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
    )
    return await retrying(_ok)


async def _time(call: Callable[[], Awaitable[int]], calls: int) -> tuple[float, float]:
    """Best microseconds per call over 5 rounds, and cyclic garbage objects per call."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        best = min(best, time.perf_counter() - started)
    gc.collect()
    gc.disable()
    try:
        for _ in range(calls):
            await call()
        garbage = gc.collect()
    finally:
        gc.enable()
    return best / calls * 1e6, garbage / calls


async def _measure(calls: int) -> dict[str, tuple[float, float]]:
    return {
        "bare": await _time(_bare, calls),
        "fast": await _time(_fast_path, calls),
        "tenacity": await _time(_tenacity, calls),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """Time the three ways of making a call that succeeds at once."""
    found = asyncio.run(_measure(CALLS // 10 if quick else CALLS))
    bare, fast, tenacity_cost = found["bare"], found["fast"], found["tenacity"]
    overhead = fast[0] - bare[0]
    return {
        "name": "retry_fast_path",
        "title": "Finding: retry layer cost per successful call (fast path vs tenacity)",
        "unit": "µs/call",
        "rows": [
            {"label": "bare await (baseline)", "value": bare[0]},
            {"label": "request loop retry decisions (Retries)", "value": fast[0]},
            {"label": "fresh tenacity AsyncRetrying per call", "value": tenacity_cost[0]},
        ],
        "ratio": overhead / max(tenacity_cost[0] - bare[0], 1e-9),
        "ratio_label": "fast-path overhead / tenacity overhead",
        "target": "fast path far cheaper than tenacity, no cyclic garbage",
        "met": overhead < (tenacity_cost[0] - bare[0]) / 4 and fast[1] < 1,
        "garbage_per_call": {"bare": bare[1], "fast": fast[1], "tenacity": tenacity_cost[1]},
        "sniffio_installed": importlib.util.find_spec("sniffio") is not None,
    }
