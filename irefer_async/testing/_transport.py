"""The in-process front: an ``httpx`` transport that calls the emulator directly.

No socket and no ASGI round trip, so it is cheap enough for benchmarks. Connection-level faults
become the ``httpx`` exceptions a real network would produce, with the request attached; the
``*_after`` kinds raise only after the write has been applied.

While faults are scripted, the request's read timeout is honoured as a socket would: an answer
delayed past it (``latency``, a ``slow_trickle`` gap) raises ``httpx.ReadTimeout`` after that
long, and the emulator still finishes processing in the background, as a real server would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from ._outcome import Disruption, EmulatorRequest, Outcome, StreamedBody, connection_error

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]

_TRICKLE_CHUNK = 8


class _TrickleStream(httpx.AsyncByteStream):
    def __init__(self, body: bytes, gap: float, request: httpx.Request) -> None:
        self._body = body
        self._gap = gap
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._body
        read = _read_timeout(self._request)
        for start in range(0, len(body), _TRICKLE_CHUNK):
            if start:
                if read is not None and self._gap > read:
                    await asyncio.sleep(read)
                    raise httpx.ReadTimeout("The read operation timed out", request=self._request)
                await asyncio.sleep(self._gap)
            yield body[start : start + _TRICKLE_CHUNK]


class _EndlessStream(httpx.AsyncByteStream):
    """A body that never ends: one byte every ``gap`` seconds (each inside the read timeout)."""

    def __init__(self, first: bytes, gap: float, request: httpx.Request) -> None:
        self._first = first
        self._gap = gap
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        read = _read_timeout(self._request)
        while True:
            if read is not None and self._gap > read:
                await asyncio.sleep(read)
                raise httpx.ReadTimeout("The read operation timed out", request=self._request)
            await asyncio.sleep(self._gap)
            yield b" "


class _ChunkedStream(httpx.AsyncByteStream):
    def __init__(self, body: StreamedBody) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._body.chunks():
            yield chunk
            await asyncio.sleep(0)  # a socket would let other tasks run between reads


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    return timeout.get("read") if isinstance(timeout, dict) else None


class EmulatorTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` answering from an :class:`Emulator` in-process.

    >>> import httpx
    >>> from irefer_async.testing import Emulator
    >>> client = httpx.AsyncClient(transport=Emulator().transport())
    """

    def __init__(self, emulator: Emulator) -> None:
        """Answer requests from *emulator*."""
        self._emulator = emulator
        # Requests still being processed after their client timed out (kept referenced).
        self._pending: set[asyncio.Future[Outcome]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve *request* from the emulator, or raise the ``httpx`` error a fault calls for."""
        url = request.url
        body = await request.aread() if request.method != "GET" else b""
        emulator = self._emulator
        handling = emulator.handle(EmulatorRequest(request.method, url.path, url.query, body))
        if emulator.may_delay:
            # A fault may delay the answer: give up at the read timeout, as a socket would.
            task = asyncio.ensure_future(handling)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            try:
                done, _ = await asyncio.wait({task}, timeout=_read_timeout(request))
            except asyncio.CancelledError:
                task.cancel()  # the caller gave up: so does the request
                raise
            if not done:
                raise httpx.ReadTimeout("The read operation timed out", request=request)
            outcome = task.result()
        else:
            outcome = await handling
        disruption = outcome.disruption
        if disruption is Disruption.NONE:
            if outcome.stream is not None:
                stream = _ChunkedStream(outcome.stream)
                return httpx.Response(outcome.status, headers=outcome.headers, stream=stream)
            return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body)
        if disruption is Disruption.TRICKLE:
            headers = [*outcome.headers, (b"content-length", str(len(outcome.body)).encode())]
            trickle = _TrickleStream(outcome.body, outcome.delay, request)
            return httpx.Response(outcome.status, headers=headers, stream=trickle)
        if disruption is Disruption.ENDLESS:
            headers = [*outcome.headers, (b"content-length", b"1000000000")]
            endless = _EndlessStream(outcome.body, outcome.delay, request)
            return httpx.Response(outcome.status, headers=headers, stream=endless)
        raise connection_error(disruption, request)
