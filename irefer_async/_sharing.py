"""Single flight: identical reads in flight share one HTTP exchange.

A busy page calls ``referrer_stats(email)`` on every view; when many views of the same
participant arrive together, they would each spend a rate-limit slot on the same answer.
`SingleFlight` lets the first caller (the leader) run the read itself, inline, in its own
task, and hands its result, or its error, to every caller that asks for the same key (API
method, campaign, parameters) while it is in flight (the joiners, each waiting on a future of
its own). A read nobody joins costs a dictionary entry and a context variable, no task:

* the read runs in the leader's context, so under its deadline and correlation id; later
  callers, arriving later, have later deadlines (same budget), so a joiner may get the
  leader's deadline error a little before its own deadline;
* a joiner that is cancelled (its page request was dropped) just stops waiting. A leader
  that is cancelled takes its request with it (it ran in its task), so it **hands the work
  over**: the first joiner still waiting becomes the leader and sends the read again
  (reads are safe to repeat) under its own deadline, and the others keep waiting for it.
  A leader's cancellation therefore costs the wire at most one more request, and none
  when nobody joined; when every caller has gone, nothing is left running;
* the leader gets its error; every joiner gets its own copy (its own traceback), never a
  shared object that every ``raise`` would grow. The copies keep the shared request's
  ``correlation_id``: the one its log lines carry;
* a joiner whose own deadline ends before the shared request's answer stops waiting at its
  deadline with `DeadlineExceededError`.

Writes never share (`fresh_reads` also keeps a write's reconciling read out of any
flight that started before the write). Only reads that return a whole result share, never
the streaming iterators. A read that never suspends (an in-process transport answering at
once) is over before anyone can join it, so it shares nothing: there is nothing in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import math
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from ._deadline import current_deadline
from ._errors import DeadlineExceededError, IReferError

__all__ = ["SingleFlight", "fresh_reads", "must_be_fresh", "note_sent"]

T = TypeVar("T")

_FRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("irefer_async_fresh", default=False)
_FLIGHT: contextvars.ContextVar[_Flight[Any] | None] = contextvars.ContextVar(
    "irefer_async_flight", default=None
)


class _Signal(enum.Enum):
    #: Set on a joiner's future: the leader was cancelled, this joiner sends the read now.
    LEAD = "lead"


@contextmanager
def fresh_reads() -> Iterator[None]:
    """Inside the block, reads neither join a shared request nor use the cache.

    A write's reconciling read must see the state *after* the write was sent: an answer
    from before it could say "not landed" and cause a duplicate.
    """
    token = _FRESH.set(True)
    try:
        yield
    finally:
        _FRESH.reset(token)


def must_be_fresh() -> bool:
    """Whether the running call must not share or use the cache (see `fresh_reads`)."""
    return _FRESH.get()


def note_sent() -> None:
    """Record that the shared request led from this context left the client."""
    flight = _FLIGHT.get()
    if flight is not None:
        flight.sent = True


class _Flight(Generic[T]):
    __slots__ = ("at", "key", "sent", "waiters")

    def __init__(self, key: Hashable, at: float) -> None:
        self.key = key
        #: The deadline the current leader's read runs under (loop time).
        self.at = at
        #: Each joiner's own future, in arrival order (the next leader is the first alive);
        #: made by the first joiner (a read nobody joins allocates none).
        self.waiters: deque[asyncio.Future[T | _Signal]] | None = None
        #: Whether the current leader's request has been sent (for a joiner's deadline error).
        self.sent = False


class SingleFlight:
    """Identical reads in flight share one request: ``await flights.run(key, fetch, method)``."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[Any]] = {}

    def __len__(self) -> int:
        """Distinct requests in flight."""
        return len(self._flights)

    def in_flight(self, key: Hashable) -> bool:
        """Whether a request for ``key`` is in flight (a new caller would join it)."""
        return key in self._flights

    def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]], method: str) -> Awaitable[T]:
        """Return the answer of the request in flight for ``key``, leading one if none is.

        ``fetch`` is this caller's own read: run inline if it leads, or if the leader is
        cancelled and the work is handed over to it. (A plain function returning the
        coroutine to await: one coroutine frame fewer on every read.)
        """
        flight: _Flight[T] | None = self._flights.get(key)
        if flight is not None:
            return self._join(flight, fetch, method)
        deadline = current_deadline()
        flight = _Flight(key, math.inf if deadline is None else deadline.at)
        self._flights[key] = flight
        return self._lead(flight, fetch)

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        """Let later callers start afresh instead of joining the flights that ``match``.

        Their callers still get their answers. Used after a write: a read that began
        before it may return what the write changed.
        """
        for key in [key for key in self._flights if match(key)]:
            del self._flights[key]

    async def _lead(self, flight: _Flight[T], fetch: Callable[[], Awaitable[T]]) -> T:
        """Run the read in this caller's task, then hand its outcome to every joiner."""
        token = _FLIGHT.set(flight)  # seen by note_sent() down the pipeline
        try:
            result = await fetch()
        except Exception as exc:
            self._land(flight, None, exc)
            raise
        except BaseException:  # cancelled (or interrupted): no answer for the joiners
            self._hand_over(flight)
            raise
        finally:
            _FLIGHT.reset(token)
        self._land(flight, result, None)
        return result

    async def _join(self, flight: _Flight[T], fetch: Callable[[], Awaitable[T]], method: str) -> T:
        """Wait for the leader's answer (at most until this caller's deadline)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T | _Signal] = loop.create_future()
        if flight.waiters is None:
            flight.waiters = deque()
        flight.waiters.append(future)
        deadline = current_deadline()
        # Bounded by this caller's own deadline whoever leads (a handed-over flight runs
        # under its new leader's deadline, which may be later than this one).
        timer = (
            None if deadline is None else loop.call_at(deadline.at, _expire, future, flight, method)
        )
        try:
            outcome = await future
        except BaseException:
            # Cancelled after being made the leader: the next joiner leads instead.
            if _made_leader(future):
                self._hand_over(flight)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if outcome is _Signal.LEAD:
            if deadline is not None:
                flight.at = deadline.at
            return await self._lead(flight, fetch)
        return outcome

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
        flight.at = math.inf  # until the new leader sets its own
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
