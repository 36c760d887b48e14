"""Shared reads over real sockets, against a server that misbehaves unlike the emulator.

Real time on loopback (short: each test well under a second), on both transports: what one
shared request meets (held, dropped after the work, an error page quoting the path, a
trickled body) reaches every caller, and the server sees one request, not one per caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import samples
from helpers import API_KEY, LICENSE_KEY, make_client
from misbehaving_server import misbehaving

from irefer_async import (
    DeadlineExceededError,
    RateLimit,
    RequestTimeoutError,
    RetryConfig,
    ServerError,
    TransportError,
)

pytest.importorskip("aiohttp")

TRANSPORTS = ["httpx", "aiohttp"]
CALLERS = 20


def _client(url: str, name: str, **options: Any) -> Any:
    options.setdefault("retry", None)
    if name == "aiohttp":
        options["transport"] = "aiohttp"
    return make_client(base_url=url, **options)


async def _all(client: Any) -> list[Any]:
    return await asyncio.gather(
        *(client.referrer_stats("ann@example.com") for _ in range(CALLERS)),
        return_exceptions=True,
    )


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_held_request_times_out_once_for_every_caller(name: str) -> None:
    """The server holds the request past the read timeout: one request, 20 timeouts."""
    async with (
        misbehaving("hold", samples.REFERRER_STATS, hold=2.0) as server,
        _client(server.url, name, timeout=0.3) as client,
    ):
        results = await _all(client)
    assert server.requests == 1
    assert all(isinstance(r, RequestTimeoutError) for r in results), results


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_dropped_connection_fails_once_for_every_caller(name: str) -> None:
    """The connection drops after the request was read: one request, 20 transport errors."""
    async with misbehaving("drop") as server, _client(server.url, name) as client:
        results = await _all(client)
    assert server.requests == 1
    assert all(isinstance(r, TransportError) for r in results), results
    assert len({id(r) for r in results}) == CALLERS


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_an_error_page_quoting_the_path_leaks_no_key_to_any_caller(name: str) -> None:
    """A 500 page quoting the URL: every caller's copy of the error is free of the keys."""
    async with misbehaving("error_page") as server, _client(server.url, name) as client:
        results = await _all(client)
    assert server.requests == 1
    for error in results:
        assert isinstance(error, ServerError)
        text = f"{error} {error!r} {error.__cause__!r} {error.__dict__}"
        assert LICENSE_KEY[4:14] not in text and API_KEY[:8] not in text


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_trickled_body_is_read_once_and_shared(name: str) -> None:
    """A slow body: one request, every caller the decoded answer."""
    async with (
        misbehaving("trickle", samples.REFERRER_STATS) as server,
        _client(server.url, name) as client,
    ):
        results = await _all(client)
    assert server.requests == 1
    assert {r.referrals_made for r in results} == {samples.REFERRER_STATS["referrals_made"]}


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_full_queue_fails_fast_not_late(name: str) -> None:
    """1/s (burst 1), deadline 1.5 s, 10 distinct reads: 3 sent, the rest refused, most at once."""
    options = {"rate_limit": RateLimit(1.0, burst=1), "share_reads": False}
    async with (
        misbehaving("hold", samples.REFERRER_STATS, hold=0.05) as server,
        _client(server.url, name, retry=RetryConfig(deadline=1.5, attempts=1), **options) as client,
    ):
        loop = asyncio.get_running_loop()
        start = loop.time()
        refused_at: list[float] = []
        refusals: list[DeadlineExceededError] = []

        async def one(i: int) -> None:
            try:
                await client.referrer_stats(f"p{i}@example.com")
            except DeadlineExceededError as exc:
                refusals.append(exc)
                refused_at.append(loop.time() - start)

        await asyncio.gather(*(one(i) for i in range(10)))
        sent = server.requests
    # Two slots at once, the third at +1 s; the fourth would come at +2 s, past the deadline.
    assert sent == 3
    assert len(refused_at) == 7
    assert all(not e.sent and e.waiting_for == "rate limit" for e in refusals)
    assert max(refused_at) < 1.5 + 0.2  # nobody waits past the deadline
    assert sum(1 for t in refused_at if t < 0.5) >= 6  # refused at once, not at the deadline


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_leader_cancelled_while_the_server_holds_hands_over(name: str) -> None:
    """The leader is cancelled mid-hold: its 19 joiners get the answer, 2 requests in all."""
    async with (
        misbehaving("hold", samples.REFERRER_STATS, hold=0.2) as server,
        _client(server.url, name) as client,
    ):
        leader = asyncio.create_task(client.referrer_stats("ann@example.com"))
        await asyncio.sleep(0.05)  # its request is held by the server
        joiners = [
            asyncio.create_task(client.referrer_stats("ann@example.com"))
            for _ in range(CALLERS - 1)
        ]
        await asyncio.sleep(0.01)
        leader.cancel()
        results = await asyncio.gather(*joiners)
    assert leader.cancelled()
    assert server.requests == 2
    assert {r.referrals_made for r in results} == {samples.REFERRER_STATS["referrals_made"]}
