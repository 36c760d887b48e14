"""Issue 22 items 7-9 on the request loop, against small raw-asyncio servers.

* 7: a write cut by its deadline while its connection was still being opened (a TLS handshake
  that never completes) was never sent: `DeadlineExceededError` ``sent=False``, not
  `WriteOutcomeUnknownError`;
* 8: on the read error paths, no SDK frame holds the raw body or a secret as a plain local
  (an error tracker records locals): walk the traceback's frames;
* 9: closing a client from another event loop than the one it was used in ends quietly, and a
  client dropped unclosed warns (`ResourceWarning`), as aiohttp's sessions do.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.server
import json
import os
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import samples
from helpers import API_KEY, LICENSE_KEY, make_client

import irefer_async
from irefer_async import (
    DeadlineExceededError,
    IReferClient,
    IReferError,
    RetryConfig,
    WriteOutcomeUnknownError,
)

_PACKAGE = os.path.dirname(irefer_async.__file__) + os.sep
NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=0.0, deadline=0.5)


class _Silent:
    """Accepts connections and reads, never answers a byte (a TLS handshake hangs on it)."""

    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            while chunk := await reader.read(4096):
                self.bytes += len(chunk)
        writer.close()


@contextlib.asynccontextmanager
async def _silent() -> AsyncIterator[_Silent]:
    silent = _Silent()
    server = await asyncio.start_server(silent.handle, "127.0.0.1", 0)
    silent.port = server.sockets[0].getsockname()[1]
    try:
        yield silent
    finally:
        server.close()


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["httpx", "aiohttp"])
async def test_a_write_cut_while_connecting_is_never_sent(transport: str | None) -> None:
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    async with _silent() as server:
        client = IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            base_url=f"https://127.0.0.1:{server.port}/v1.0/",
            rate_limit=None,
            timeout=5.0,
            retry=NO_WAIT,
            transport=transport,  # type: ignore[arg-type]
        )
        async with client:
            with pytest.raises(IReferError) as caught:
                await client.new_signup("ann@example.com")
    error = caught.value
    assert not isinstance(error, WriteOutcomeUnknownError), error
    assert isinstance(error, DeadlineExceededError) and error.sent is False, error
    assert "never sent" in str(error) or "before" in str(error)


# -- 8: no raw body or secret in the SDK's frames on the read error paths -------------------


def _windows(secret: str) -> list[str]:
    return [secret[i : i + 6] for i in range(len(secret) - 5)]


_FRAGMENTS = _windows(LICENSE_KEY) + _windows(API_KEY)


def _leaks(error: BaseException) -> list[str]:
    """Every SDK frame's local whose repr holds a 6-character window of either key."""
    found = []
    seen: set[int] = set()
    chain: BaseException | None = error
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        tb = chain.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename.startswith(_PACKAGE):
                for name, value in frame.f_locals.items():
                    text = repr(value)
                    if any(fragment in text for fragment in _FRAGMENTS):
                        found.append(f"{frame.f_code.co_name}: {name} = {text[:80]}")
            tb = tb.tb_next
        chain = chain.__cause__ or chain.__context__
    return found


def _echo(kind: str) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        target = str(request.url)  # the whole URL: both keys, as a careless server echoes it
        if kind == "not_json":
            return httpx.Response(200, text=f"<html>{target}</html>")
        if kind == "api_error":
            return httpx.Response(200, json={"error": f"bad request {target}", "error_code": "9"})
        if kind == "server_error":
            return httpx.Response(500, text=f"failed on {target}")
        if kind == "shape":
            return httpx.Response(200, json={"unexpected": target})
        if kind == "list_error":
            return httpx.Response(200, json={"error": f"bad {target}"})
        raise httpx.ReadError(f"connection reset while reading {target}", request=request)

    return answer


@pytest.mark.parametrize(
    "kind", ["not_json", "api_error", "server_error", "shape", "list_error", "transport"]
)
async def test_read_error_frames_hold_no_secret_or_raw_body(kind: str) -> None:
    client = IReferClient(
        LICENSE_KEY,
        API_KEY,
        campaign_id=2605,
        rate_limit=None,
        retry=None,
        transport=httpx.MockTransport(_echo(kind)),
    )
    async with client:
        call = client.referrers() if kind == "list_error" else client.referrer_stats("a@x.io")
        with pytest.raises(IReferError) as caught:
            await call
    assert _leaks(caught.value) == []


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["httpx", "aiohttp"])
async def test_a_raw_server_echoing_the_request_line_leaves_no_key_in_frames(
    transport: str | None,
) -> None:
    from _list_server import list_server

    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    async with list_server(quote_path=True) as server:
        client = IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            base_url=server.url,
            rate_limit=None,
            retry=None,
            transport=transport,  # type: ignore[arg-type]
        )
        async with client:
            with pytest.raises(IReferError) as caught:
                await client.referrer_stats("ann@example.com")
            with pytest.raises(IReferError) as listed:
                await client.referrers()
    assert _leaks(caught.value) == [] and _leaks(listed.value) == []


# -- 9: lifecycle across event loops, and a client dropped unclosed ---------------------------


class _Stats(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the connection stays in the client's pool

    def do_GET(self) -> None:
        body = json.dumps(samples.REFERRER_STATS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _threaded_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1.0/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["httpx", "aiohttp"])
def test_aclose_from_another_loop_ends_quietly(transport: str | None) -> None:
    """Used in one asyncio.run, closed in another: no "Event loop is closed" from the stack."""
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    with _threaded_server() as base_url:
        client = IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            base_url=base_url,
            rate_limit=None,
            transport=transport,  # type: ignore[arg-type]
        )
        stats = asyncio.run(client.referrer_stats("ann@example.com"))
        assert stats.email == samples.REFERRER_STATS["email"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the first loop's sockets
            asyncio.run(client.aclose())
    assert client.is_closed


def test_a_used_client_dropped_unclosed_warns() -> None:
    async def use() -> None:
        client = make_client(transport=httpx.MockTransport(_echo("shape")), retry=None)
        with contextlib.suppress(IReferError):
            await client.referrer_stats("ann@example.com")

    asyncio.run(use())
    with pytest.warns(ResourceWarning, match="Unclosed IReferClient"):
        gc.collect()


def test_a_closed_or_unused_client_does_not_warn() -> None:
    async def use() -> None:
        async with make_client(transport=httpx.MockTransport(_echo("shape")), retry=None) as c:
            with contextlib.suppress(IReferError):
                await c.referrer_stats("ann@example.com")
        make_client()  # never used: it opened nothing

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        asyncio.run(use())
        gc.collect()


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["httpx", "aiohttp"])
async def test_a_read_cut_while_connecting_says_never_sent(transport: str | None) -> None:
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    async with _silent() as server:
        client = IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            base_url=f"https://127.0.0.1:{server.port}/v1.0/",
            rate_limit=None,
            timeout=5.0,
            retry=NO_WAIT,
            transport=transport,  # type: ignore[arg-type]
        )
        async with client:
            with pytest.raises(DeadlineExceededError) as caught:
                await client.referrer_stats("ann@example.com")
            with pytest.raises(DeadlineExceededError) as listed:
                await client.referrers()
    assert caught.value.sent is False and listed.value.sent is False
