"""The ASGI front: the emulator as a plain ASGI 3 application (no framework).

Usable with ``httpx.ASGITransport`` or any ASGI server. Under `Emulator.serve` the server
builds its own app with a `Loopback` where it registers each connection's transport, so
connection faults really close (or stall) the socket. Anywhere else the app raises the matching
``httpx`` error, which ``httpx.ASGITransport`` passes to the client as is (another server would
answer 500). The app reaches the emulator only through `Emulator.handle`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import httpx

from ._outcome import Disruption, EmulatorRequest, Handler, Outcome, connection_error

__all__ = ["EmulatorApp", "Loopback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TRICKLE_CHUNK = 8


@attrs.define
class Loopback:
    """What a real server shares with the app: its open connections, and its shutdown."""

    #: Each open connection's asyncio transport by peer address, so a fault can drop one.
    connections: dict[tuple[str, int], asyncio.Transport] = attrs.field(factory=dict)
    #: Set when the server shuts down: a stalled request stops waiting.
    closing: asyncio.Event = attrs.field(factory=asyncio.Event)


class EmulatorApp:
    """ASGI 3 application serving one `Emulator` (``emulator.app``)."""

    def __init__(self, emulator: Handler, *, loopback: Loopback | None = None) -> None:
        """Serve *emulator*; *loopback* when run by the server of `Emulator.serve()`."""
        self._emulator = emulator
        self._loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        client = scope.get("client")
        ip = client[0] if client else "127.0.0.1"
        outcome = await self._emulator.handle(
            EmulatorRequest(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                body,
                ip,
                tuple(scope.get("headers", ())),
            )
        )
        disruption = outcome.disruption
        if disruption is Disruption.NONE:
            await _respond(send, outcome)
        elif disruption is Disruption.TRICKLE:
            await _trickle(send, outcome)
        elif disruption is Disruption.ENDLESS:
            await self._endless(send, outcome)
        else:
            loopback = self._loopback
            transport = loopback.connections.get(tuple(client)) if loopback and client else None
            if loopback is None or transport is None:
                # Not under Emulator.serve(): most likely httpx.ASGITransport, which passes
                # app exceptions through to the caller; any other server answers 500.
                raise connection_error(disruption, _request(scope), line=outcome.body)
            if disruption is Disruption.STALL:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(loopback.closing.wait(), outcome.delay)
            if disruption is Disruption.GARBLED:  # the bytes on the wire, then the end
                transport.write(outcome.body + b"\r\n\r\n")
                transport.close()
            else:
                transport.abort()
            while (await receive())["type"] != "http.disconnect":
                pass

    async def _endless(self, send: Send, outcome: Outcome) -> None:
        headers = [*outcome.headers, (b"content-length", b"1000000000")]
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        await send({"type": "http.response.body", "body": outcome.body, "more_body": True})
        loopback = self._loopback
        # Until the client gives up (a loopback connection closed) or the server shuts down.
        while loopback is None or not loopback.closing.is_set():
            await asyncio.sleep(outcome.delay)
            await send({"type": "http.response.body", "body": b" ", "more_body": True})


def _request(scope: Scope) -> httpx.Request:
    host, port = scope.get("server") or ("irefer.test", None)
    authority = host if port is None else f"{host}:{port}"
    query = scope.get("query_string", b"").decode("ascii", "replace")
    url = f"{scope.get('scheme', 'http')}://{authority}{scope['path']}" + (
        f"?{query}" if query else ""
    )
    return httpx.Request(scope["method"], url)


async def _respond(send: Send, outcome: Outcome) -> None:
    if outcome.stream is not None:  # chunked transfer: no content-length
        await send(
            {"type": "http.response.start", "status": outcome.status, "headers": outcome.headers}
        )
        for chunk in outcome.stream.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # The next chunk is made here: let other tasks run first (``slow_list``: a gap).
            await asyncio.sleep(outcome.delay)
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [*outcome.headers, (b"content-length", str(len(outcome.body)).encode())]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": outcome.body})


async def _trickle(send: Send, outcome: Outcome) -> None:
    body = outcome.body
    headers = [*outcome.headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    for start in range(0, len(body), _TRICKLE_CHUNK):
        if start:
            await asyncio.sleep(outcome.delay)
        chunk = body[start : start + _TRICKLE_CHUNK]
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
