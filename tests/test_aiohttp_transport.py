"""The aiohttp sender (``transport="aiohttp"``): the core behaviours on both senders.

The aiohttp sender is native aiohttp (public API only), so respx (an httpx mock) does not see
it: these tests send real bytes over loopback (the uvicorn emulator, raw asyncio servers) and
check that every failure keeps its phase (a dropped connection after the request must stay
ambiguous, or write safety would resend a write that landed), that list bodies stream, and that
proxies come from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from helpers import make_client

from irefer_async import (
    ConfigurationError,
    IReferClient,
    RequestTimeoutError,
    RetryConfig,
    ServerError,
    TransportError,
)

pytest.importorskip("aiohttp")

from irefer_async._aiohttp import AiohttpSender, map_aiohttp_error

TRANSPORTS = ["httpx", "aiohttp"]
NO_WAIT = RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


def _transport(name: str) -> dict[str, Any]:
    return {"transport": "aiohttp"} if name == "aiohttp" else {}


async def test_aiohttp_pool_is_sized_by_max_concurrency() -> None:
    """The pool holds max_concurrency connections and keeps them all alive."""
    client = make_client(transport="aiohttp", max_concurrency=64)
    sender = client._http
    assert isinstance(sender, AiohttpSender)
    assert sender.pool == 64
    await client.aclose()


def test_unknown_transport_name_is_a_configuration_error() -> None:
    """Only "aiohttp" names a transport."""
    with pytest.raises(ConfigurationError, match="aiohttp"):
        make_client(transport="curl")


def test_errors_keep_their_phase() -> None:
    """Before sending: connect errors. After: read errors, never ConnectTimeout."""
    import aiohttp

    request = httpx.Request("GET", "http://example.test/")
    key = aiohttp.client_reqrep.ConnectionKey("example.test", 80, False, True, None, None, None)
    cases: list[tuple[BaseException, type[httpx.TransportError]]] = [
        (aiohttp.ClientConnectorError(key, OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientPayloadError("short"), httpx.RemoteProtocolError),
        (TimeoutError(), httpx.ReadTimeout),
    ]
    for exc, expected in cases:
        assert type(map_aiohttp_error(exc, request)) is expected, exc


# -- loopback: real bytes through aiohttp ------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[Any, str]]:
    pytest.importorskip("uvicorn")
    from irefer_async.testing import Emulator

    emulator = Emulator(seed=0)
    async with emulator.serve(port=0) as url:
        yield emulator, url


def _loopback_client(emulator: Any, url: str, name: str, **kwargs: Any) -> IReferClient:
    kwargs.setdefault("retry", NO_WAIT)
    return emulator.client(base_url=url, **_transport(name), **kwargs)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_loopback_reads_and_writes(served: tuple[Any, str], name: str) -> None:
    """Signups, a read of each and the list, over a real socket."""
    emulator, url = served
    async with _loopback_client(emulator, url, name, max_concurrency=8) as client:
        emails = [f"user{i}@example.com" for i in range(20)]
        for email in emails:
            assert (await client.new_signup(email)).email == email
        stats = await client.referrer_stats(emails[3])
        everyone = await client.referrers()
    assert stats.email == emails[3]
    assert {r.email for r in everyone} >= set(emails)


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_loopback_dropped_write_is_reconciled_not_resent(
    served: tuple[Any, str], name: str
) -> None:
    """A connection dropped after a signup landed: reconciled by a read, one participant."""
    emulator, url = served
    emulator.inject_fault("drop_after", method="newSignup")
    async with _loopback_client(emulator, url, name) as client:
        signup = await client.new_signup("dropped@example.com")
    assert signup.reconciled
    writes = [e for e in emulator.journal if e.method == "newSignup"]
    assert len(writes) == 1


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_loopback_failures_map_to_sdk_errors(served: tuple[Any, str], name: str) -> None:
    """5xx, a stalled answer (read timeout) and a dropped read on a real connection."""
    emulator, url = served
    async with _loopback_client(
        emulator, url, name, retry=None, timeout=httpx.Timeout(5.0, read=0.3)
    ) as client:
        emulator.inject_fault("http_5xx_before", method="campaignStats")
        with pytest.raises(ServerError):
            await client.campaign_stats()
        emulator.inject_fault("timeout_before", method="campaignStats")
        with pytest.raises(RequestTimeoutError) as timeout:
            await client.campaign_stats()
        assert timeout.value.phase == "read"
        emulator.inject_fault("drop_before", method="campaignStats")
        with pytest.raises(TransportError) as dropped:
            await client.campaign_stats()
        assert dropped.value.maybe_processed
        assert (await client.campaign_stats()).campaign_name
