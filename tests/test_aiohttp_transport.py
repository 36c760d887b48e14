"""The aiohttp sender (``transport="aiohttp"``): the core behaviours on both senders.

The aiohttp sender is native aiohttp (public API only), so respx (an httpx mock) does not see
it: these tests send real bytes over loopback (the uvicorn emulator, raw asyncio servers) and
check that every failure keeps its phase (a dropped connection after the request must stay
ambiguous, or write safety would resend a write that landed), that list bodies stream, and that
proxies come from the environment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import samples
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
        assert type(map_aiohttp_error(exc)) is expected, exc


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


# -- issue 22 item 2: streamed bodies, proxies from the environment, no silent resend ------


def _rows(n: int) -> list[dict[str, Any]]:
    return [dict(samples.REFERRERS[0], email=f"p{i}@example.com", id=str(i)) for i in range(n)]


@pytest.mark.parametrize("name", ["httpx", "aiohttp"])
async def test_a_list_is_streamed_not_read_whole(name: str) -> None:
    """At the first row, only the first chunks have arrived (the adapter read it all first)."""
    from _list_server import list_server

    async with list_server(rows=_rows(5000), chunk=16 * 1024) as server:
        total = len(server.body())
        client = make_client(base_url=server.url, **_transport(name))
        async with client, client.iter_referrers() as rows:
            first = await anext(rows)
            at_first = rows.bytes_read
            count = 1 + sum([1 async for _ in rows])
    assert first.email == "p0@example.com" and count == 5000
    assert total > 1_000_000 and at_first <= 128 * 1024, (at_first, total)


class _Proxy:
    """A plain HTTP proxy stand-in: records the absolute-form request line, answers itself."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                body = json.dumps(samples.REFERRER_STATS).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _through_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)


@pytest.mark.parametrize("name", ["httpx", "aiohttp"])
async def test_the_proxy_from_the_environment_is_used(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _Proxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _through_proxy(monkeypatch, f"http://127.0.0.1:{port}")
    try:
        async with make_client(
            base_url="http://irefer.test/v1.0/", retry=None, **_transport(name)
        ) as client:
            stats = await client.referrer_stats("ann@example.com")
    finally:
        server.close()
    assert stats.email == samples.REFERRER_STATS["email"]
    assert len(proxy.lines) == 1
    assert proxy.lines[0].startswith("GET http://irefer.test/v1.0/")


@pytest.mark.parametrize("name", ["httpx", "aiohttp"])
async def test_a_dead_proxy_is_named_not_the_target(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = dead.sockets[0].getsockname()[1]
    dead.close()
    await dead.wait_closed()  # nothing listens there now
    _through_proxy(monkeypatch, f"http://user:pw@127.0.0.1:{port}")
    async with make_client(
        base_url="http://irefer.test/v1.0/", retry=None, **_transport(name)
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.referrer_stats("ann@example.com")
    text = str(caught.value)
    assert f"proxy http://127.0.0.1:{port}" in text, text
    assert "irefer.test" not in text and "pw" not in text, text


class _DropsSecond:
    """Answers the first request; reads the second and closes the connection without a byte."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                method = path.split("?")[0].rsplit("/", 1)[-1]
                self.methods.append(method)
                if method == "newSignup":
                    return  # dropped after the request was read: it may have landed
                body = (
                    b"[]" if method == "referrers" else json.dumps(samples.REFERRER_STATS).encode()
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_aiohttp_never_resends_a_write_on_a_reused_connection() -> None:
    """aiohttp resends an idempotent GET when a kept-alive connection drops: not here."""
    served = _DropsSecond()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    retry = RetryConfig(attempts=1, settle=0.0, wait_initial=0, wait_max=0, wait_jitter=0)
    try:
        async with make_client(
            base_url=f"http://127.0.0.1:{port}/v1.0/", retry=retry, transport="aiohttp"
        ) as client:
            await client.referrer_stats("ann@example.com")  # the connection is now pooled
            with pytest.raises(TransportError):
                await client.new_signup("new@example.com")
    finally:
        server.close()
    assert served.methods.count("newSignup") == 1, served.methods
