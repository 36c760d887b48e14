"""The rate limiter, the 429 pause and the concurrency cap, measured on a virtual clock."""

from __future__ import annotations

import asyncio
import bisect

import httpx
import pytest
import respx
import samples
from helpers import make_client

from irefer_async import ConfigurationError, Limiter, LocalRateLimiter, RateLimit, RetryConfig

OK = httpx.Response(200, json=samples.CAMPAIGN_STATS)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + window)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times))


def record_times(mock: respx.MockRouter) -> list[float]:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        return OK

    mock.get("campaignStats").mock(side_effect=handler)
    return times


@pytest.mark.virtual_time
@pytest.mark.parametrize(("rate", "burst"), [(5, 1), (50, 1), (200, 1), (50, 0), (20, 5)])
async def test_no_window_exceeds_rate_plus_burst_and_steady_rate_is_exact(
    mock: respx.MockRouter, rate: int, burst: int
) -> None:
    times = record_times(mock)
    seconds = 4

    async def main() -> None:
        async with make_client(
            rate_limit=RateLimit(rate, burst=burst), max_concurrency=64, share_reads=False
        ) as client:
            await asyncio.gather(*(client.campaign_stats() for _ in range(rate * seconds)))

    await main()
    assert max_in_window(times) <= rate + burst
    steady = times[burst + 1 :]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0])
    assert achieved == pytest.approx(rate, rel=0.01)


@pytest.mark.virtual_time
async def test_default_rate_limit_is_five_per_second_and_four_in_flight(
    mock: respx.MockRouter,
) -> None:
    in_flight = 0
    peak = 0
    times: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        times.append(asyncio.get_running_loop().time())
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(2.0)
        in_flight -= 1
        return OK

    mock.get("campaignStats").mock(side_effect=handler)

    async def main_defaults() -> None:
        from helpers import API_KEY, LICENSE_KEY

        from irefer_async import IReferClient

        async with IReferClient(LICENSE_KEY, API_KEY, campaign_id=1, share_reads=False) as client:
            await asyncio.gather(*(client.campaign_stats() for _ in range(20)))

    await main_defaults()
    assert peak == 4
    assert max_in_window(times) <= 5 + 1


@pytest.mark.virtual_time
async def test_a_429_with_retry_after_pauses_every_call_of_the_client(
    mock: respx.MockRouter,
) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "5"})
        return OK

    mock.get("campaignStats").mock(side_effect=handler)

    async def main() -> None:
        async with make_client(
            retry=RetryConfig(wait_jitter=0), max_concurrency=1, share_reads=False
        ) as client:
            first = asyncio.create_task(client.campaign_stats())
            await asyncio.sleep(0.001)
            others = [asyncio.create_task(client.campaign_stats()) for _ in range(3)]
            await asyncio.gather(first, *others)

    await main()
    assert len(times) == 5
    assert all(t - times[0] >= 5.0 for t in times[1:])


@pytest.mark.virtual_time
async def test_retries_and_reconciling_reads_take_limiter_slots(mock: respx.MockRouter) -> None:
    class Counting:
        def __init__(self) -> None:
            self.slots = 0

        async def acquire(self) -> None:
            self.slots += 1

    limiter = Counting()
    assert isinstance(limiter, Limiter)
    mock.get("newSignup").respond(500)
    row = dict(samples.REFERRERS[0], email="a@b.io", created_at="2100-01-01T00:00:00Z")
    mock.get("referrers").respond(json=[row])
    mock.get("referrerStats").respond(json=dict(samples.REFERRER_STATS, email="a@b.io"))

    async def main() -> None:
        async with make_client(
            rate_limit=limiter, retry=RetryConfig(wait_initial=0, wait_jitter=0)
        ) as client:
            result = await client.new_signup("a@b.io")
            assert result.reconciled

    await main()
    assert limiter.slots == 3  # the write, the shared reconciling scan, the read filling it


def test_rate_limit_validation() -> None:
    with pytest.raises(ConfigurationError):
        RateLimit(-1)
    with pytest.raises(ConfigurationError):
        RateLimit(5, burst=-1)
    assert repr(LocalRateLimiter(RateLimit(5))) == "LocalRateLimiter(RateLimit(rate=5, burst=1))"


@pytest.mark.virtual_time
async def test_a_huge_retry_after_pauses_no_longer_than_the_longest_retry_wait(
    mock: respx.MockRouter,
) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(asyncio.get_running_loop().time())
        return httpx.Response(429, headers={"Retry-After": "86400"}) if len(times) == 1 else OK

    mock.get("campaignStats").mock(side_effect=handler)

    async def main() -> None:
        async with make_client(retry=RetryConfig(wait_max=8.0, wait_jitter=0)) as client:
            await client.campaign_stats()

    await main()
    assert times[1] - times[0] == pytest.approx(8.0, abs=0.01)


# -- the rate window at the server (issue 22 item 6) ------------------------------------------


class JitteryServer(httpx.AsyncBaseTransport):
    """A fake server reached after a variable delay (a new connection, a busy loop, a slow
    network): each request travels ``0..max_delay`` seconds (seeded) before it *arrives*,
    then is answered at once: 429 with ``Retry-After`` during a storm, a seeded share of
    503s and dropped connections, else 200. ``arrivals`` holds the loop times of arrival."""

    def __init__(self, *, max_delay: float, faults: float = 0.0, seed: int = 7) -> None:
        import random

        self.max_delay = max_delay
        self.faults = faults
        self.storm: tuple[float, float] | None = None  # (start, end) loop times
        self.arrivals: list[float] = []
        self._random = random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self._random.uniform(0.0, self.max_delay))
        now = loop.time()
        self.arrivals.append(now)
        if self.storm is not None and self.storm[0] <= now < self.storm[1]:
            return httpx.Response(429, headers={"Retry-After": "1"}, request=request)
        draw = self._random.random()
        if draw < self.faults / 2:
            return httpx.Response(503, text="busy", request=request)
        if draw < self.faults:
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return httpx.Response(200, json=samples.CAMPAIGN_STATS, request=request)


@pytest.mark.parametrize(
    ("rate", "calls", "max_delay", "faults", "storm"),
    [
        (200, 2000, 0.05, 0.3, None),
        (20, 600, 0.05, 0.0, (3.0, 33.0)),
        (20, 600, 0.2, 0.1, (3.0, 33.0)),
        (5, 100, 0.5, 0.3, (2.0, 8.0)),
    ],
    ids=["200/s-30%-faults", "20/s-429-storm", "20/s-storm-slow-network", "5/s-faults-storm"],
)
@pytest.mark.virtual_time
async def test_no_window_at_the_server_exceeds_the_limit_plus_one(
    rate: int, calls: int, max_delay: float, faults: float, storm: tuple[float, float] | None
) -> None:
    """Counted by arrival at the server, whatever the delay between slot and arrival."""
    server = JitteryServer(max_delay=max_delay, faults=faults)
    server.storm = storm
    retry = RetryConfig(wait_initial=0.01, wait_max=0.5, deadline=120)
    async with make_client(
        transport=server, rate_limit=rate, max_concurrency=64, retry=retry, share_reads=False
    ) as client:
        await asyncio.gather(
            *(client.campaign_stats() for _ in range(calls)), return_exceptions=True
        )
    assert max_in_window(server.arrivals) <= rate + 1
