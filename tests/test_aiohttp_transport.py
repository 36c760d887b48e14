"""The aiohttp transport (``transport="aiohttp"``): the core behaviours on both transports.

respx intercepts both (its httpx mocker replaces the client's transport lookup), so those
tests check the SDK's wiring; the loopback tests (uvicorn emulator) send real bytes through
aiohttp and check that every failure keeps its phase: a dropped connection after the request
must stay ambiguous, or write safety would resend a write that landed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
import samples
from helpers import BASE, make_client

from irefer_async import (
    APIError,
    ConfigurationError,
    IReferClient,
    RequestTimeoutError,
    RetryConfig,
    ServerError,
    TransportError,
)

pytest.importorskip("httpx_aiohttp")

from irefer_async._aiohttp import AiohttpTransport, map_aiohttp_error

TRANSPORTS = ["httpx", "aiohttp"]
NO_WAIT = RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


def _transport(name: str) -> dict[str, Any]:
    return {"transport": "aiohttp"} if name == "aiohttp" else {}


# -- respx: the same core tests on both transports -------------------------------------


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_referrer_stats_decodes_on_both_transports(name: str) -> None:
    """A read sends the query with both keys and decodes the sample."""
    with respx.mock(using="httpx", base_url=BASE) as mock:
        route = mock.get("referrerStats").respond(json=samples.REFERRER_STATS)
        async with make_client(**_transport(name)) as client:
            stats = await client.referrer_stats("ann@example.com")
    assert stats.referrals_made == 1
    assert route.calls.last.request.url.params["api_key"] == "s3cr3t-api-key"


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_retry_then_success_on_both_transports(name: str) -> None:
    """503 then a transport error then 200: three attempts, one result."""
    with respx.mock(using="httpx", base_url=BASE) as mock:
        mock.get("campaignStats").side_effect = [
            httpx.Response(503),
            httpx.ReadError("reset"),
            httpx.Response(200, json=samples.CAMPAIGN_STATS),
        ]
        async with make_client(retry=NO_WAIT, **_transport(name)) as client:
            stats = await client.campaign_stats()
    assert stats.total_views == 126


@pytest.mark.parametrize("name", TRANSPORTS)
async def test_api_error_body_on_both_transports(name: str) -> None:
    """An error body raises APIError and is not retried."""
    with respx.mock(using="httpx", base_url=BASE) as mock:
        route = mock.get("referrerStats").respond(json={"error": "no such", "error_code": "404"})
        async with make_client(retry=NO_WAIT, **_transport(name)) as client:
            with pytest.raises(APIError):
                await client.referrer_stats("nobody@example.com")
    assert route.call_count == 1


async def test_aiohttp_pool_is_sized_by_max_concurrency() -> None:
    """The pool holds max_concurrency connections and keeps them all alive."""
    client = make_client(transport="aiohttp", max_concurrency=64)
    transport = client._http._transport
    assert isinstance(transport, AiohttpTransport)
    assert transport.limits.max_connections == transport.limits.max_keepalive_connections == 64
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
