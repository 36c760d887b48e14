"""The in-process front: an ``httpx`` transport that calls the emulator directly.

No socket and no ASGI round trip, so it is cheap enough for benchmarks. Connection-level faults
become the ``httpx`` exceptions a real network would produce, with the request attached; the
``*_after`` kinds raise only after the write has been applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from ._outcome import Disruption, connection_error

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]

_TRICKLE_CHUNK = 8


class _TrickleStream(httpx.AsyncByteStream):
    def __init__(self, body: bytes, gap: float) -> None:
        self._body = body
        self._gap = gap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._body
        for start in range(0, len(body), _TRICKLE_CHUNK):
            if start:
                await asyncio.sleep(self._gap)
            yield body[start : start + _TRICKLE_CHUNK]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` answering from an :class:`Emulator` in-process.

    >>> import httpx
    >>> from irefer_async.testing import Emulator
    >>> client = httpx.AsyncClient(transport=Emulator().transport())
    """

    def __init__(self, emulator: Emulator) -> None:
        """Answer requests from *emulator*."""
        self._emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve *request* from the emulator, or raise the ``httpx`` error a fault calls for."""
        url = request.url
        body = await request.aread() if request.method != "GET" else b""
        outcome = await self._emulator._handle(
            request.method, url.path, url.query, body, "127.0.0.1"
        )
        disruption = outcome.disruption
        if disruption is Disruption.NONE:
            return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body)
        if disruption is Disruption.TRICKLE:
            headers = [*outcome.headers, (b"content-length", str(len(outcome.body)).encode())]
            stream = _TrickleStream(outcome.body, outcome.delay)
            return httpx.Response(outcome.status, headers=headers, stream=stream)
        raise connection_error(disruption, request)
