"""What the emulator decided to do with one request, for a front (ASGI app, transport) to carry out.

Keeping the decision separate from the delivery is what lets the in-process transport raise
``httpx`` exceptions while the loopback server really closes sockets, for the same fault.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["Disruption", "Outcome"]


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


@attrs.define(slots=True)
class Outcome:
    """A response, and how to disturb its delivery."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    disruption: Disruption = Disruption.NONE
    delay: float = 0.0
