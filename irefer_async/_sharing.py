"""Single flight: identical reads in flight share one HTTP exchange (`SingleFlight`).

The first caller (the leader) sends the read inline; callers asking for the same key meanwhile
(the joiners) wait on futures of their own. A cancelled leader **hands the work over** to the
first joiner still waiting, which sends it again. Each joiner gets its own copy of an error
and stops at its own deadline (`DeadlineExceededError`). Writes and reconciling reads never
share. The client drives it with no callback (``ticket``, ``wait`` or lead, ``land``).
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Generic, TypeVar

from ._deadline import Deadline
from ._errors import DeadlineExceededError, IReferError

#: The identity of a read, for flights and the cache: API method, campaign, query parameters.
Key = tuple[str, "str | None", tuple[Any, ...]]


def read_key(method: str, params: Mapping[str, str]) -> Key:
    """Return the identity of a read: API method, campaign, every query parameter in order."""
    return (method, params.get("campaign_id"), tuple(params.items()))


__all__ = ["LEAD", "SingleFlight", "Ticket"]

T = TypeVar("T")


class _Signal(enum.Enum):
    #: Returned to a joiner: the leader left without an answer, this joiner leads now.
    LEAD = "lead"


#: What `Ticket.wait` returns when its caller must send the read itself.
LEAD: Final = _Signal.LEAD


class _Flight(Generic[T]):
    __slots__ = ("key", "sent", "waiters")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        #: Each joiner's own future, in arrival order (None until someone joins).
        self.waiters: deque[asyncio.Future[T | _Signal]] | None = None
        #: Whether the current leader's request has been sent (for a joiner's deadline error).
        self.sent = False


class Ticket(Generic[T]):
    """One caller's part in a flight: it leads it (sends the read) or joined it (waits)."""

    __slots__ = ("_flight", "_flights", "_future", "joined", "method")

    def __init__(
        self, flights: SingleFlight, flight: _Flight[T], joined: bool, method: str
    ) -> None:
        self._flights = flights
        self._flight = flight
        self._future: asyncio.Future[T | _Signal] | None = None
        #: Whether this caller joined a read in flight (else it leads a new one).
        self.joined = joined
        #: The API method, for a joiner's deadline error.
        self.method = method

    @property
    def sent(self) -> bool:
        """Whether the leader's request has left the client."""
        return self._flight.sent

    @sent.setter
    def sent(self, value: bool) -> None:
        self._flight.sent = value

    async def wait(self, deadline: Deadline | None) -> T | _Signal:
        """Wait for the leader's answer (or error), at most until this caller's ``deadline``.

        Returns `LEAD` when the leader left without an answer: this caller leads now.
        """
        flight = self._flight
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T | _Signal] = loop.create_future()
        self._future = future
        if flight.waiters is None:
            flight.waiters = deque()
        flight.waiters.append(future)
        # Bounded by this caller's own deadline whoever leads.
        timer = (
            None
            if deadline is None or math.isinf(deadline.at)
            else loop.call_at(deadline.at, _expire, future, flight, self.method)
        )
        try:
            outcome = await future
        except BaseException:
            # Cancelled after being made the leader: the next joiner leads instead.
            if _made_leader(future):
                self._flights._hand_over(flight)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if outcome is _Signal.LEAD:
            self.joined = False
        return outcome

    def land(self, result: T | None, error: Exception | None) -> None:
        """Hand the leader's answer (or error) to every joiner still waiting."""
        self._flights._land(self._flight, result, error)

    def hand_over(self) -> None:
        """Leave without an answer (cancelled): the first joiner still waiting leads."""
        self._flights._hand_over(self._flight)


class SingleFlight:
    """Identical reads in flight share one request (see the module docstring)."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[Any]] = {}

    def __len__(self) -> int:
        """Distinct requests in flight."""
        return len(self._flights)

    def ticket(self, key: Hashable, method: str) -> Ticket[Any]:
        """Join the request in flight for ``key``, or lead a new one."""
        flight = self._flights.get(key)
        if flight is not None:
            return Ticket(self, flight, True, method)
        flight = self._flights[key] = _Flight(key)
        return Ticket(self, flight, False, method)

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        """Let later callers start afresh, not join the flights that ``match`` (after a write)."""
        for key in [key for key in self._flights if match(key)]:
            del self._flights[key]

    def _land(self, flight: _Flight[T], result: T | None, error: Exception | None) -> None:
        self._drop(flight)
        waiters = flight.waiters
        while waiters:  # None or empty: nobody joined
            future = waiters.popleft()
            if future.done():  # that joiner has gone
                continue
            if error is None:
                future.set_result(result)  # type: ignore[arg-type]
            else:
                future.set_exception(_own_copy(error) if isinstance(error, IReferError) else error)

    def _hand_over(self, flight: _Flight[Any]) -> None:
        """Make the first joiner still waiting the leader (the leader left without an answer)."""
        flight.sent = False
        waiters = flight.waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(_Signal.LEAD)
                return
        # Nobody waits: the flight is over, a caller arriving now starts afresh.
        self._drop(flight)

    def _drop(self, flight: _Flight[Any]) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]


def _expire(future: asyncio.Future[Any], flight: _Flight[Any], method: str) -> None:
    """Stop a joiner waiting at its deadline (the shared request goes on for the others)."""
    if not future.done():
        future.set_exception(_late(method, flight.sent))


def _made_leader(future: asyncio.Future[Any]) -> bool:
    """Whether ``future`` told its joiner to lead (the signal the joiner must pass on)."""
    return (
        future.done()
        and not future.cancelled()
        and future.exception() is None
        and future.result() is _Signal.LEAD
    )


def _late(method: str, sent: bool) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"{method}: deadline exceeded waiting for a shared request",
        method=method,
        sent=sent,
        waiting_for=None if sent else "shared request",
    )


def _own_copy(error: IReferError) -> IReferError:
    """Return a copy of ``error`` for one caller: same class, message and attributes."""
    cls = type(error)
    copy = cls.__new__(cls, *error.args)
    copy.__dict__.update(error.__dict__)
    copy.__cause__ = error.__cause__
    copy.__suppress_context__ = True
    copy.__traceback__ = error.__traceback__
    return copy
