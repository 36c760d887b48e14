"""The SDK's own CPU per call, itemised (target: at most 20 µs in all).

One ``referrer_stats`` call on the direct path, piece by piece, each timed alone over many
iterations (this thread's CPU time, median of 7 rounds, µs per call): argument validation and
parameters (the endpoint table), the observability decision, the retry fast path, the throttle
(concurrency cap, no rate limit), the query string and request (``httpx.Request`` built from
pre-encoded parts), reading the response (status and body classification, JSON parse excluded)
and decoding into models, the call's deadline scope, and read sharing (the single-flight layer,
on by default: priced as a default call minus one with ``share_reads=False``). JSON parsing and
the transport are not the SDK's: they are timed as references. A whole call over an instant in-
memory transport, minus the same transport driven by hand (request built, body read and
parsed), is printed beside the sum: it also holds what the pieces leave out (the call's
coroutine frames, the funnel, the transport lookup, the garbage collector's share of the
objects a call makes, a fresh JSON dict to decode).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from irefer_async import IReferClient
from irefer_async import _endpoints as ep
from irefer_async._converter import decode, loads
from irefer_async._deadline import Deadline, deadline_scope
from irefer_async._observability import start_call
from irefer_async._retry import RetryConfig, call_with_retry

from ._servers import REFERRER_STATS_BODY

TARGET_US = 20.0
BASE = "http://bench.test/v1.0/"


class _Instant(httpx.AsyncBaseTransport):
    """Answers every request at once with the fixed referrerStats body."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers=[(b"content-type", b"application/json")],
            stream=httpx.ByteStream(REFERRER_STATS_BODY),
        )


# CPU time of this thread, not wall time: a round is not charged for the time the shared
# machine gave the CPU to another process. Median of 7 rounds.
_ROUNDS = 7


def _time_sync(fn: Callable[[], Any], calls: int) -> float:
    rounds = []
    for _ in range(_ROUNDS):
        started = time.thread_time()
        for _ in range(calls):
            fn()
        rounds.append((time.thread_time() - started) / calls * 1e6)
    return statistics.median(rounds)


async def _time_async(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    rounds = []
    for _ in range(_ROUNDS):
        started = time.thread_time()
        for _ in range(calls):
            await fn()
        rounds.append((time.thread_time() - started) / calls * 1e6)
    return statistics.median(rounds)


async def _measure(calls: int) -> dict[str, float]:
    client = IReferClient(
        "W4qL" + "a" * 28, "key", campaign_id=2605, base_url=BASE, rate_limit=None,
        max_concurrency=64, transport=_Instant(),
    )  # fmt: skip
    sender = client._sender
    direct = sender._direct
    assert direct is not None
    endpoint = ep.REFERRER_STATS
    values = {"email": "ann@example.com"}
    params = ep.build_params(endpoint, "2605", values)
    query = sender._query(params)
    request = direct.build(endpoint.name, query)
    transport = client._http._transport
    response = await transport.handle_async_request(request)
    await response.aread()
    data = loads(response.content)
    throttle = client._throttle
    retry = RetryConfig()

    async def ok() -> int:
        return 1

    async def bare() -> int:
        return await ok()

    async def throttled() -> None:
        async with throttle:
            pass

    async def by_hand() -> Any:
        # The transport and JSON parsing alone: what any client of this transport pays.
        answer = await transport.handle_async_request(direct.build(endpoint.name, query))
        await answer.aread()
        return loads(answer.content)

    async def sdk() -> Any:
        return await client.referrer_stats("ann@example.com")

    # The same client without read sharing (single flight), to price that layer alone.
    unshared = IReferClient(
        "W4qL" + "a" * 28, "key", campaign_id=2605, base_url=BASE, rate_limit=None,
        max_concurrency=64, transport=_Instant(), share_reads=False,
    )  # fmt: skip

    async def sdk_unshared() -> Any:
        return await unshared.referrer_stats("ann@example.com")

    def deadline() -> None:
        with deadline_scope(Deadline.after(30.0)):
            pass

    found: dict[str, float] = {}
    async with client, unshared:
        await _time_async(sdk, calls // 10)  # warm
        await _time_async(sdk_unshared, calls // 10)
        found["validation + parameters (endpoint table)"] = _time_sync(
            lambda: (ep.check_campaign_id(2605), ep.build_params(endpoint, "2605", values)), calls
        )
        found["observability decision (start_call)"] = _time_sync(
            lambda: start_call(None, endpoint.name, "2605", False), calls
        )
        found["retry fast path (call_with_retry - bare await)"] = max(
            0.0, await _time_async(lambda: call_with_retry(ok, retry), calls)
            - await _time_async(bare, calls)
        )  # fmt: skip
        found["throttle (semaphore, no rate limit)"] = await _time_async(throttled, calls)
        found["query string"] = _time_sync(lambda: sender._query(params), calls)
        found["request (pre-encoded URL + httpx.Request)"] = _time_sync(
            lambda: direct.build(endpoint.name, query), calls
        )
        found["response classification (less JSON parse)"] = max(
            0.0, _time_sync(lambda: sender._read(endpoint.name, response), calls)
            - _time_sync(lambda: loads(response.content), calls)
        )  # fmt: skip
        found["decode into models"] = _time_sync(
            lambda: decode(data, endpoint.result, method=endpoint.name), calls
        )
        found["call deadline (Deadline.after + deadline_scope)"] = _time_sync(deadline, calls)
        whole = await _time_async(sdk, calls)
        found["read sharing, on by default (single flight: a task per read)"] = max(
            0.0, whole - await _time_async(sdk_unshared, calls)
        )
        hand = await _time_async(by_hand, calls)
    found["_whole call"] = whole
    found["_transport + read + JSON parse by hand"] = hand
    return found


def run(*, quick: bool = False) -> dict[str, Any]:
    """Itemise the SDK's CPU per call; the target is on the sum of the pieces."""
    found = asyncio.run(_measure(2_000 if quick else 20_000))
    own = {k: v for k, v in found.items() if not k.startswith("_")}
    total = sum(own.values())
    hand = found["_transport + read + JSON parse by hand"]
    added = found["_whole call"] - hand
    rows = [{"label": k, "value": v} for k, v in own.items()]
    rows.append({"label": "sum of the pieces above (the SDK's own code)", "value": total})
    rows.append({"label": "all the SDK adds: whole call - transport by hand", "value": added})
    rows.append(
        {"label": "reference: transport + read + JSON parse (not the SDK's)", "value": hand}
    )  # fmt: skip
    return {
        "name": "sdk_cpu",
        "title": "The SDK's own CPU per referrerStats call, itemised (direct path)",
        "unit": "µs/call",
        "rows": rows,
        "ratio": total,
        "whole_call_minus_transport": added,
        "ratio_label": "SDK's own µs per call (sum of the pieces)",
        "target": f"<= {TARGET_US:g}",
        "met": total <= TARGET_US,
    }
