"""The in-process front: an ``httpx`` (or ``httpx2``) transport that calls the emulator directly.

No socket and no ASGI round trip, so it is cheap enough for benchmarks. Connection-level faults
become the ``httpx`` exceptions a real network would produce, with the request attached; the
``*_after`` kinds raise only after the write has been applied.

While faults are scripted, the request's read timeout is honoured as a socket would: an answer
delayed past it (``latency``, a ``slow_trickle`` gap) raises ``httpx.ReadTimeout`` after that
long, and the emulator still finishes processing in the background, as a real server would.

The logic is written once (`_InProcess`) against the stack module it is given; the
httpx transport is `EmulatorTransport`, the httpx2 one ``Httpx2EmulatorTransport``
(`_transport2`, loaded only with httpx2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any, ClassVar

import httpx

from ._outcome import (
    Disruption,
    EmulatorRequest,
    Handler,
    Outcome,
    StreamedBody,
    connection_error,
)

__all__ = ["EmulatorTransport"]

_TRICKLE_CHUNK = 8


class _Trickle:
    """A body sent in small chunks ``gap`` seconds apart (the stack's ``AsyncByteStream``)."""

    _http: ClassVar[ModuleType]

    def __init__(self, body: bytes, gap: float, request: Any) -> None:
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
                    raise self._http.ReadTimeout(
                        "The read operation timed out", request=self._request
                    )
                await asyncio.sleep(self._gap)
            yield body[start : start + _TRICKLE_CHUNK]


class _TrickleStream(_Trickle, httpx.AsyncByteStream):
    _http: ClassVar[ModuleType] = httpx


class _Endless:
    """A body that never ends: one byte every ``gap`` seconds (each inside the read timeout)."""

    _http: ClassVar[ModuleType]

    def __init__(self, first: bytes, gap: float, request: Any) -> None:
        self._first = first
        self._gap = gap
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        read = _read_timeout(self._request)
        while True:
            if read is not None and self._gap > read:
                await asyncio.sleep(read)
                raise self._http.ReadTimeout("The read operation timed out", request=self._request)
            await asyncio.sleep(self._gap)
            yield b" "


class _EndlessStream(_Endless, httpx.AsyncByteStream):
    _http: ClassVar[ModuleType] = httpx


class _Chunked:
    """A big body in chunks, no content-length (the stack's ``AsyncByteStream``)."""

    def __init__(self, body: StreamedBody, gap: float = 0.0) -> None:
        self._body = body
        self._gap = gap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        gap = self._gap
        for chunk in self._body.chunks():
            yield chunk
            await asyncio.sleep(gap)  # a socket would let other tasks run between reads


class _ChunkedStream(_Chunked, httpx.AsyncByteStream):
    pass


def _read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout")
    return timeout.get("read") if isinstance(timeout, dict) else None


class _InProcess:
    """The in-process transport's logic, for the stack module in ``_http``."""

    _http: ClassVar[ModuleType]
    _trickle: ClassVar[type[_Trickle]]
    _endless: ClassVar[type[_Endless]]
    _chunked: ClassVar[type[_Chunked]]

    def __init__(self, emulator: Handler) -> None:
        """Answer requests from *emulator*."""
        self._emulator = emulator
        # Requests still being processed after their client timed out (kept referenced).
        self._pending: set[asyncio.Future[Outcome]] = set()

    async def handle_async_request(self, request: Any) -> Any:
        """Serve *request* from the emulator, or raise the error a fault calls for."""
        # A request on a socket suspends at least once: other calls run meanwhile (and an
        # identical read joins this one, as it would over the network).
        await asyncio.sleep(0)
        http = self._http
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
                raise http.ReadTimeout("The read operation timed out", request=request)
            outcome = task.result()
        else:
            outcome = await handling
        disruption = outcome.disruption
        if disruption is Disruption.NONE:
            if outcome.stream is not None:
                stream = self._chunked(outcome.stream, outcome.delay)
                return http.Response(outcome.status, headers=outcome.headers, stream=stream)
            return http.Response(outcome.status, headers=outcome.headers, content=outcome.body)
        if disruption is Disruption.TRICKLE:
            headers = [*outcome.headers, (b"content-length", str(len(outcome.body)).encode())]
            trickle = self._trickle(outcome.body, outcome.delay, request)
            return http.Response(outcome.status, headers=headers, stream=trickle)
        if disruption is Disruption.ENDLESS:
            headers = [*outcome.headers, (b"content-length", b"1000000000")]
            endless = self._endless(outcome.body, outcome.delay, request)
            return http.Response(outcome.status, headers=headers, stream=endless)
        raise connection_error(disruption, request, http, outcome.body)


class EmulatorTransport(_InProcess, httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` answering from an `Emulator` in-process.

    >>> import httpx
    >>> from irefer_async.testing import Emulator
    >>> client = httpx.AsyncClient(transport=Emulator().transport())
    """

    _http: ClassVar[ModuleType] = httpx
    _trickle: ClassVar[type[_Trickle]] = _TrickleStream
    _endless: ClassVar[type[_Endless]] = _EndlessStream
    _chunked: ClassVar[type[_Chunked]] = _ChunkedStream
