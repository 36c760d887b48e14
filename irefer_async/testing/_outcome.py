"""What the emulator decided to do with one request, for a front (ASGI app, transport) to carry out.

Keeping the decision separate from the delivery is what lets the in-process transport raise
``httpx`` exceptions while the loopback server really closes sockets, for the same fault.
"""

from __future__ import annotations

import enum

import attrs
import httpx

__all__ = ["Disruption", "Outcome", "connection_error"]


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


@attrs.define(slots=True)
class Outcome:
    """A response, and how to disturb its delivery."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    disruption: Disruption = Disruption.NONE
    delay: float = 0.0


def connection_error(disruption: Disruption, request: httpx.Request) -> httpx.TransportError:
    """Return the ``httpx`` error a client sees for *disruption* (the one translation point)."""
    if disruption is Disruption.DROP:
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    if disruption is Disruption.STALL:
        return httpx.ReadTimeout("The read operation timed out", request=request)
    if disruption is Disruption.REFUSE:
        return httpx.ConnectError("[Errno 111] Connection refused", request=request)
    if disruption is Disruption.CONNECT_TIMEOUT:
        return httpx.ConnectTimeout("The connect operation timed out", request=request)
    raise ValueError(f"{disruption} is not a connection failure")
