"""Transports judged for write safety: "never sent" is trusted only from tested error mappings.

A third-party transport may call a connection dropped *after* the request was sent a
``ConnectError`` (pyreqwest's httpx adapter does). Against a raw asyncio server that records
each write and then drops the connection, such a transport must not cause a duplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY, make_client

from irefer_async import ConnectError, IReferClient, RetryConfig, WriteOutcomeUnknownError
from irefer_async._transport import trusts
from irefer_async.testing import Emulator

NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0)


class DropAfterWrite:
    """A raw asyncio HTTP/1.1 server: records every ``newSignup``, then drops the connection.

    ``referrerStats`` and ``referrers`` (the reconciling reads) answer from what was recorded.
    """

    def __init__(self) -> None:
        self.signups: list[str] = []
        self.created: dict[str, str] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        target = head.split(b" ", 2)[1].decode()
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.endswith("/newSignup"):
            self.signups.append(query["email"])
            self.created[query["email"]] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            writer.transport.abort()  # the work is done; the answer never comes
            return
        if parts.path.endswith("/referrerStats") and query["email"] in self.signups:
            body = httpx.Response(
                200, json=dict(samples.REFERRER_STATS, email=query["email"], referrals_made=0)
            ).content
        elif parts.path.endswith("/referrers"):
            rows = [
                dict(
                    samples.REFERRERS[0], id=str(i + 1), email=email, created_at=self.created[email]
                )
                for i, email in enumerate(self.signups)
            ]
            body = httpx.Response(200, json=rows[::-1]).content
        else:
            body = b'{"error": "input missing or incorrect", "error_code": "irefer_api_referrerStats_err_401"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()


@asynccontextmanager
async def drop_after_write() -> AsyncIterator[tuple[DropAfterWrite, str]]:
    server = DropAfterWrite()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}/v1.0/"
    finally:
        listening.close()
        await listening.wait_closed()


class Mislabelling(httpx.AsyncBaseTransport):
    """Like pyreqwest's adapter: a connection dropped after sending becomes ``ConnectError``."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            raise httpx.ConnectError(f"connection error: {exc}", request=request) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


class TrustedMislabelling(Mislabelling):
    """The same transport, wrongly vouched for: shows what trusting it would cost."""


def _client(base_url: str, transport: httpx.AsyncBaseTransport) -> IReferClient:
    return IReferClient(
        LICENSE_KEY,
        API_KEY,
        campaign_id=2605,
        base_url=base_url,
        transport=transport,
        rate_limit=None,
        retry=NO_WAIT,
    )


async def test_a_mislabelled_post_send_drop_is_reconciled_not_resent() -> None:
    async with (
        drop_after_write() as (server, base_url),
        _client(base_url, Mislabelling()) as client,
    ):
        assert client._sender.trusted is False
        result = await client.new_signup("new@x.io")
    assert server.signups == ["new@x.io"]  # one write reached the server: no duplicate
    assert result.reconciled is True


async def test_trusting_the_mislabelling_transport_would_duplicate_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counterfactual: the verdict is what stands between this transport and a duplicate."""
    import irefer_async._transport as stack

    monkeypatch.setattr(stack, "_trusted_types", lambda: {TrustedMislabelling})
    async with (
        drop_after_write() as (server, base_url),
        _client(base_url, TrustedMislabelling()) as client,
    ):
        assert client._sender.trusted is True
        with pytest.raises((ConnectError, WriteOutcomeUnknownError)):
            await client.new_signup("new@x.io")
    assert len(server.signups) > 1


async def test_a_read_from_an_untrusted_transport_is_still_retried() -> None:
    async with (
        drop_after_write() as (server, base_url),
        _client(base_url, Mislabelling()) as client,
    ):
        server.signups.append("ann@example.com")
        stats = await client.referrer_stats("ann@example.com")
    assert stats.email == "ann@example.com"


def test_an_untrusted_connect_error_is_marked_maybe_processed(mock: respx.MockRouter) -> None:
    from irefer_async._errors import translate_transport_error
    from irefer_async._redact import Redactor

    redactor = Redactor(LICENSE_KEY)
    for exc in (httpx.ConnectError("x"), httpx.ConnectTimeout("x"), httpx.PoolTimeout("x")):
        assert (
            translate_transport_error(exc, method="m", redactor=redactor).maybe_processed is False
        )
        error = translate_transport_error(exc, method="m", redactor=redactor, trusted=False)
        assert error.maybe_processed is True and type(error).__name__ in (
            "ConnectError",
            "RequestTimeoutError",
        )


@pytest.mark.parametrize(
    "transport",
    [
        None,  # the stack's own AsyncHTTPTransport (proxies from the environment included)
        httpx.AsyncHTTPTransport(),
        Emulator().transport(),
        httpx.MockTransport(lambda r: httpx.Response(200)),
    ],
    ids=["httpx", "async-http-transport", "emulator", "mock"],
)
def test_tested_transports_are_trusted(transport: Any) -> None:
    assert trusts(transport)
    assert make_client(transport=transport)._sender.trusted


def test_the_aiohttp_sender_is_trusted() -> None:
    pytest.importorskip("aiohttp")
    assert make_client(transport="aiohttp")._sender.trusted


def test_an_injected_client_is_not_judged_so_not_trusted() -> None:
    """httpx has no public way to see a client's transports: a write is reconciled instead."""
    assert make_client(http_client=httpx.AsyncClient())._sender.trusted is False


def test_other_transports_are_not_trusted() -> None:
    assert not trusts(Mislabelling())

    class Subclass(httpx.AsyncHTTPTransport):  # may override the mapping
        pass

    assert not trusts(Subclass())
    assert make_client(transport=Mislabelling())._sender.trusted is False
