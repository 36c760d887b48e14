"""Retry decisions and timing, on a virtual clock (no real sleeping)."""

from __future__ import annotations

import asyncio
import itertools
import math

import httpx
import pytest
import respx
import samples
from helpers import make_client

from irefer_async import (
    APIError,
    EmptyResponseError,
    RateLimitedError,
    RetryConfig,
    ServerError,
)
from irefer_async._retry import is_retryable, wait_for

OK = httpx.Response(200, json=samples.CAMPAIGN_STATS)
NO_JITTER = RetryConfig(wait_initial=1.0, wait_max=8.0, wait_jitter=0.0, deadline=math.inf)


@pytest.mark.virtual_time
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("x"),
        httpx.ReadTimeout("x"),
        httpx.RemoteProtocolError("x"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.Response(408),
        httpx.Response(429),
        httpx.Response(200, content=b"null"),
    ],
    ids=lambda f: (
        type(f).__name__ if isinstance(f, Exception) else f"status{f.status_code}-{f.content[:4]!r}"
    ),
)
async def test_reads_retry_transient_failures_then_succeed(
    mock: respx.MockRouter, failure: object
) -> None:
    route = mock.get("campaignStats").mock(side_effect=[failure, failure, OK])

    async def main() -> None:
        async with make_client(retry=NO_JITTER) as client:
            assert (await client.campaign_stats()).total_views == 126

    await main()
    assert route.call_count == 3


@pytest.mark.virtual_time
async def test_backoff_doubles_and_is_capped(mock: respx.MockRouter) -> None:
    times: list[float] = []

    def fail(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        return httpx.Response(503)

    mock.get("campaignStats").mock(side_effect=fail)
    config = RetryConfig(
        attempts=6, wait_initial=1.0, wait_max=4.0, wait_jitter=0.0, deadline=math.inf
    )

    async def main() -> None:
        async with make_client(retry=config) as client:
            with pytest.raises(ServerError) as info:
                await client.campaign_stats()
            assert info.value.attempts == 6

    await main()
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_within_bounds() -> None:
    config = RetryConfig(wait_initial=1.0, wait_max=100.0, wait_jitter=0.5)
    waits = [wait_for(config, None, 3) for _ in range(200)]
    assert all(4.0 <= w <= 4.5 for w in waits)
    assert len(set(waits)) > 1


def test_a_far_retry_with_no_cap_waits_forever_rather_than_overflowing() -> None:
    """``wait_max=inf``, retry 1025+ (e.g. after many 429s): 2**n overflows a float, the wait
    is the cap (a float), never an OverflowError out of the request loop."""
    config = RetryConfig(attempts=5000, deadline=math.inf, wait_initial=1, wait_max=math.inf)
    assert wait_for(config, None, 1100) == math.inf
    capped = RetryConfig(wait_initial=1, wait_max=8)
    assert type(wait_for(capped, None, 1100)) is float


@pytest.mark.virtual_time
async def test_retry_after_is_honoured_instead_of_backoff(mock: respx.MockRouter) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        return httpx.Response(429, headers={"Retry-After": "3"}) if len(times) == 1 else OK

    mock.get("campaignStats").mock(side_effect=handler)

    async def main() -> None:
        async with make_client(retry=NO_JITTER) as client:
            await client.campaign_stats()

    await main()
    assert times[1] - times[0] == pytest.approx(3.0)


@pytest.mark.virtual_time
async def test_deadline_stops_before_a_wait_that_would_cross_it(mock: respx.MockRouter) -> None:
    route = mock.get("campaignStats").respond(503)
    config = RetryConfig(attempts=10, wait_initial=1.0, wait_max=100, wait_jitter=0.0, deadline=5.0)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with make_client(retry=config) as client:
            with pytest.raises(ServerError):
                await client.campaign_stats()
        return loop.time() - start

    elapsed = await main()
    # waits 1 + 2 = 3 s; the next (4 s) would end at 7 s > 5 s, so it stops after 3 attempts
    assert route.call_count == 3
    assert elapsed == pytest.approx(3.0)


@pytest.mark.virtual_time
async def test_api_errors_are_never_retried(mock: respx.MockRouter) -> None:
    route = mock.get("campaignStats").respond(
        json={"error": "bad", "error_code": "irefer_api_campaignStats_err_401"}
    )

    async def main() -> None:
        async with make_client(retry=NO_JITTER) as client:
            with pytest.raises(APIError):
                await client.campaign_stats()

    await main()
    assert route.call_count == 1


@pytest.mark.virtual_time
async def test_retry_none_makes_a_single_attempt(mock: respx.MockRouter) -> None:
    route = mock.get("campaignStats").respond(503)

    async def main() -> None:
        async with make_client(retry=None) as client:
            with pytest.raises(ServerError):
                await client.campaign_stats()

    await main()
    assert route.call_count == 1


@pytest.mark.virtual_time
async def test_cancellation_is_never_retried(mock: respx.MockRouter) -> None:
    started = asyncio.Event()
    calls = 0

    async def hang(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(3600)
        return OK

    mock.get("campaignStats").mock(side_effect=hang)

    async def main() -> None:
        async with make_client(retry=NO_JITTER) as client:
            task = asyncio.create_task(client.campaign_stats())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    await main()
    assert calls == 1


@pytest.mark.virtual_time
async def test_concurrent_calls_have_independent_retry_state(mock: respx.MockRouter) -> None:
    outcomes = iter([httpx.Response(503)] * 3 + [OK] * 10)
    mock.get("campaignStats").mock(side_effect=lambda request: next(outcomes))

    async def main() -> list[int]:
        async with make_client(retry=NO_JITTER) as client:
            results = await asyncio.gather(*(client.campaign_stats() for _ in range(5)))
        return [r.total_views for r in results]

    assert await main() == [126] * 5


def test_retry_predicate_table() -> None:
    assert is_retryable(ServerError(500, method="x"))
    assert is_retryable(RateLimitedError(method="x", retry_after=None))
    assert is_retryable(EmptyResponseError("x"))
    assert not is_retryable(APIError("e", "c", method="x"))
    assert not is_retryable(asyncio.CancelledError())
    assert not is_retryable(ValueError())
