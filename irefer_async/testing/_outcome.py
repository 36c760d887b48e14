"""The emulator's public entry types: what a front hands in, and what it must deliver.

A front (ASGI app, loopback server, in-process transport) turns its own request into an
`EmulatorRequest`, awaits `Emulator.handle`, and delivers the `Outcome`.
Keeping the decision separate from the delivery is what lets the in-process transport raise
``httpx`` exceptions while the loopback server really closes sockets, for the same fault.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol

import attrs
import httpx

__all__ = [
    "Disruption",
    "EmulatorRequest",
    "Handler",
    "Outcome",
    "StreamedBody",
    "connection_error",
]


class Disruption(enum.Enum):
    """How delivery of the response is disturbed."""

    NONE = "none"
    #: Close the connection without a response.
    DROP = "drop"
    #: Say nothing until the client gives up (``delay`` seconds on loopback).
    STALL = "stall"
    #: Send the body in small chunks, ``delay`` seconds apart.
    TRICKLE = "trickle"
    #: The connection is refused (in-process only; a drop on loopback).
    REFUSE = "refuse"
    #: Connecting times out (in-process only; a drop on loopback).
    CONNECT_TIMEOUT = "connect_timeout"
    #: Send the head, then one byte every ``delay`` seconds, never ending the body.
    ENDLESS = "endless"
    #: Send ``body`` as the status line (a malformed one), then close the connection.
    GARBLED = "garbled"


class StreamedBody:
    """A big body made chunk by chunk as it is sent (a long list), never whole in memory."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: Callable[[], Iterator[bytes]]) -> None:
        """Serve the chunks that *chunks()* yields, in order."""
        self._chunks = chunks

    def chunks(self) -> Iterator[bytes]:
        """Yield the body's chunks (each call starts over)."""
        return self._chunks()

    def __bytes__(self) -> bytes:
        """Return the whole body (what a fault that cuts or trickles it needs)."""
        return b"".join(self._chunks())


@attrs.frozen(slots=True)
class EmulatorRequest:
    """One HTTP request as a front hands it to `Emulator.handle`.

    *path* is the URL path as sent (``/v1.0/<license_key>.js/newSignup`` or
    ``/_control/<route>``), *query* the raw query string (still percent-encoded), *body* the
    request body (the control plane's JSON), *client_ip* the peer address (stamped on signups).
    New fields will only ever be added with defaults, so a front built today keeps working.

    >>> EmulatorRequest("GET", "/v1.0/KEY.js/campaignStats", b"campaign_id=2605&api_key=k")
    ... # doctest: +ELLIPSIS
    EmulatorRequest(method='GET', path='/v1.0/KEY.js/campaignStats', ...)
    """

    #: The HTTP method (``GET`` for the API, ``GET``/``POST``/``DELETE`` for the control plane).
    method: str
    #: The URL path, percent-encoding undone (``httpx.URL.path``, the ASGI ``path``).
    path: str
    #: The raw query string, without the ``?``.
    query: bytes = b""
    #: The request body.
    body: bytes = b""
    #: The client's IP address.
    client_ip: str = "127.0.0.1"
    #: Request headers as lower-case ``(name, value)`` bytes pairs (the ASGI form); what the
    #: client-side mode reads (``origin``, ``referer``). Fronts that pass none give ``()``.
    headers: tuple[tuple[bytes, bytes], ...] = ()


@attrs.define(slots=True)
class Outcome:
    """A response, and how to disturb its delivery (what `Emulator.handle` returns).

    A front sends *status*, *headers* and *body* unless *disruption* says otherwise: then it
    drops, stalls (for *delay* seconds) or trickles (chunks *delay* seconds apart) as told.
    """

    #: The HTTP status (unused when the connection is disrupted).
    status: int
    #: Response headers as ``(name, value)`` bytes pairs, without ``content-length``.
    headers: list[tuple[bytes, bytes]]
    #: The whole response body (empty when *stream* is set).
    body: bytes
    #: How delivery is disturbed (``Disruption.NONE``: deliver normally).
    disruption: Disruption = Disruption.NONE
    #: Seconds a stall lasts, or between two trickled chunks (or two chunks of *stream*).
    delay: float = 0.0
    #: A body to send in chunks instead of ``body`` (big lists; no content-length).
    stream: StreamedBody | None = None


class Handler(Protocol):
    """What a front (ASGI app, loopback server, in-process transport) needs of the emulator.

    `Emulator` is one; a front knows nothing else of it, so the state, faults and journal
    can change behind this entry without touching a front.
    """

    @property
    def may_delay(self) -> bool:
        """Whether `handle` may hold an answer back (then a front cannot answer at once)."""
        ...

    async def handle(self, request: EmulatorRequest) -> Outcome:
        """Answer one HTTP request."""
        ...


def connection_error(
    disruption: Disruption, request: Any, http: ModuleType = httpx, line: bytes = b""
) -> Exception:
    """Return the error a client sees for *disruption* (the one translation point).

    ``http`` is the stack module (``httpx`` or ``httpx2``) whose exception classes to use;
    ``line`` is the status line a ``GARBLED`` answer sends (quoted as h11 quotes it).
    """
    if disruption is Disruption.GARBLED:
        return http.RemoteProtocolError(  # type: ignore[no-any-return]
            f"illegal status line: {bytearray(line)!r}", request=request
        )
    found = _ERRORS.get(disruption)
    if found is None:
        raise ValueError(f"{disruption} is not a connection failure")
    name, message = found
    error: Exception = getattr(http, name)(message, request=request)
    return error


_ERRORS = {
    Disruption.DROP: ("RemoteProtocolError", "Server disconnected without sending a response."),
    Disruption.STALL: ("ReadTimeout", "The read operation timed out"),
    Disruption.REFUSE: ("ConnectError", "[Errno 111] Connection refused"),
    Disruption.CONNECT_TIMEOUT: ("ConnectTimeout", "The connect operation timed out"),
}
