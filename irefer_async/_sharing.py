"""Single flight: identical reads in flight share one HTTP exchange (`SingleFlight`).

The first caller (the leader) sends the read inline; callers asking for the same key meanwhile
(the joiners) wait on futures of their own. A cancelled leader **hands the work over** to the
first joiner still waiting, which sends it again. Each joiner gets its own copy of an error
and stops at its own deadline (`DeadlineExceededError`). Writes and reconciling reads never
share. The client drives a `Flight` with no callback (``join``, then ``wait`` or lead, ``land``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Generic, TypeVar

from ._deadline import Deadline
from ._errors import DeadlineExceededError, IReferError

__all__ = ["LEAD", "MISS", "Flight", "SingleFlight", "read_key"]

T = TypeVar("T")
#: The identity of a read, for flights and the cache: API method, campaign, query parameters.
Key = tuple[str, "str | None", tuple[Any, ...]]
#: What `Flight.wait` returns when its caller must send the read itself (the leader left).
LEAD: Final[Any] = object()
#: What `ReadCache.get` returns for an absent or expired key.
MISS: Final[Any] = object()


def read_key(method: str, params: Mapping[str, str]) -> Key:
    """Return the identity of a read: API method, campaign, every query parameter in order."""
    return (method, params.get("campaign_id"), tuple(params.items()))


class Flight(Generic[T]):
    """One read in flight: its leader sends it, its joiners wait for the answer."""

    __slots__ = ("_flights", "key", "method", "sent", "waiters")

    def __init__(self, flights: dict[Hashable, Flight[Any]], key: Hashable, method: str) -> None:
        self._flights = flights
        self.key = key
        #: The API method, for a joiner's deadline error.
        self.method = method
        #: Whether the current leader's request has been sent (for a joiner's deadline error).
        self.sent = False
        #: Each joiner's own future, in arrival order (None until someone joins).
        self.waiters: deque[asyncio.Future[Any]] | None = None

    async def wait(self, deadline: Deadline | None) -> T:
        """Wait for the leader's answer (or error), at most until this caller's ``deadline``.

        Returns `LEAD` when the leader left without an answer: this caller leads now.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.waiters is None:
            self.waiters = deque()
        self.waiters.append(future)
        # Bounded by this caller's own deadline whoever leads.
        at = math.inf if deadline is None else deadline.at
        timer = None if math.isinf(at) else loop.call_at(at, self._expire, future)
        try:
            return await future  # type: ignore[no-any-return]
        except BaseException:
            # Cancelled after being made the leader: the next joiner leads instead.
            answered = future.done() and not future.cancelled() and future.exception() is None
            if answered and future.result() is LEAD:
                self.hand_over()
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def land(self, result: T | None, error: Exception | None) -> None:
        """Hand the leader's answer (or error) to every joiner still waiting."""
        self._drop()
        waiters = self.waiters
        while waiters:  # None or empty: nobody joined
            future = waiters.popleft()
            if future.done():  # that joiner has gone
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(_own_copy(error) if isinstance(error, IReferError) else error)

    def hand_over(self) -> None:
        """Leave without an answer (cancelled): the first joiner still waiting leads."""
        self.sent = False
        waiters = self.waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(LEAD)
                return
        self._drop()  # nobody waits: the flight is over, a caller arriving now starts afresh

    def _expire(self, future: asyncio.Future[Any]) -> None:
        """Stop a joiner waiting at its deadline (the shared request goes on for the others)."""
        if not future.done():
            future.set_exception(
                DeadlineExceededError(
                    f"{self.method}: deadline exceeded waiting for a shared request",
                    method=self.method,
                    sent=self.sent,
                    waiting_for=None if self.sent else "shared request",
                )
            )

    def _drop(self) -> None:
        if self._flights.get(self.key) is self:
            del self._flights[self.key]


class SingleFlight(dict[Hashable, Flight[Any]]):
    """The reads in flight, by key (see the module docstring); falsy when empty: test None."""

    def join(self, key: Hashable, method: str) -> tuple[Flight[Any], bool]:
        """Return the read in flight for ``key`` and True (joined), or a new one to lead, False."""
        flight = self.get(key)
        if flight is not None:
            return flight, True
        flight = self[key] = Flight(self, key, method)
        return flight, False

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        """Let later callers start afresh, not join the flights that ``match`` (after a write)."""
        for key in [key for key in self if match(key)]:
            del self[key]


def _own_copy(error: IReferError) -> IReferError:
    """Return a copy of ``error`` for one caller: same class, message and attributes."""
    cls = type(error)
    copy = cls.__new__(cls, *error.args)
    copy.__dict__.update(error.__dict__)
    copy.__cause__ = error.__cause__
    copy.__suppress_context__ = True
    copy.__traceback__ = error.__traceback__
    return copy
