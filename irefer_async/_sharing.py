"""Single flight: identical reads in flight share one HTTP exchange.

A busy page calls ``referrer_stats(email)`` on every view; when many views of the same
participant arrive together, they would each spend a rate-limit slot on the same answer.
:class:`SingleFlight` runs the first caller's read as a task and hands its result, or its
error, to every caller that asks for the same key (API method, campaign, parameters) while it
is in flight:

* the task is created in the first caller's context, so it runs under that call's deadline
  and correlation id; later callers, arriving later, have later deadlines (same budget);
* a caller that is cancelled (its page request was dropped) stops waiting, but the task
  goes on for the others (``asyncio.shield``); only when *every* caller has gone is it
  cancelled, since nobody wants the answer;
* the caller that started the request gets its error; every other caller gets its own
  copy (its own traceback), never a shared object that every ``raise`` would grow. The
  copies keep the shared request's ``correlation_id``: the one its log lines carry;
* a caller whose own deadline ends before the shared request's stops waiting at its
  deadline with :class:`DeadlineExceededError`.

Writes never share (:func:`fresh_reads` also keeps a write's reconciling read out of any
flight that started before the write). Only reads that return a whole result share, never
the streaming iterators.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
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
    """Whether the running call must not share or use the cache (see :func:`fresh_reads`)."""
    return _FRESH.get()


def note_sent() -> None:
    """Record that the shared request running in this context left the client."""
    flight = _FLIGHT.get()
    if flight is not None:
        flight.sent = True


class _Flight(Generic[T]):
    __slots__ = ("at", "callers", "key", "sent", "task")

    def __init__(self, key: Hashable, at: float) -> None:
        self.key = key
        self.task: asyncio.Task[T] | None = None
        #: Callers waiting for the answer.
        self.callers = 0
        #: Whether the request has been sent (for an early caller's deadline error).
        self.sent = False
        #: The deadline the task runs under (loop time).
        self.at = at


class SingleFlight:
    """Identical reads in flight share one request: ``await flights.run(key, fetch)``."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[Any]] = {}

    def __len__(self) -> int:
        """Distinct requests in flight."""
        return len(self._flights)

    def in_flight(self, key: Hashable) -> bool:
        """Whether a request for ``key`` is in flight (a new caller would join it)."""
        return key in self._flights

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]], method: str) -> T:
        """Return the answer of the request in flight for ``key``, starting it if none is."""
        flight: _Flight[T] | None = self._flights.get(key)
        first = flight is None
        if flight is None:
            deadline = current_deadline()
            flight = _Flight(key, math.inf if deadline is None else deadline.at)
            flight.task = asyncio.ensure_future(self._fly(flight, fetch))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda _: self._landed(flight))
        return await self._wait(flight, method, first)

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        """Let later callers start afresh instead of joining the flights that ``match``.

        Their callers still get their answers. Used after a write: a read that began
        before it may return what the write changed.
        """
        for key in [key for key in self._flights if match(key)]:
            del self._flights[key]

    @staticmethod
    async def _fly(flight: _Flight[T], fetch: Callable[[], Awaitable[T]]) -> T:
        _FLIGHT.set(flight)  # the task's own context: seen by note_sent() below
        return await fetch()

    def _drop(self, flight: _Flight[Any]) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    def _landed(self, flight: _Flight[Any]) -> None:
        self._drop(flight)
        task = flight.task
        if task is not None and not task.cancelled():
            task.exception()  # retrieved here, so no "never retrieved" warning if unawaited

    async def _wait(self, flight: _Flight[T], method: str, first: bool) -> T:
        task = flight.task
        assert task is not None
        deadline = current_deadline()
        at = math.inf if deadline is None else deadline.at
        flight.callers += 1
        try:
            if at < flight.at:
                # This caller must be answered sooner than the shared request is bounded.
                remaining = at - asyncio.get_running_loop().time()
                await asyncio.wait({task}, timeout=max(0.0, remaining))
            else:
                await asyncio.shield(task)
        except asyncio.CancelledError:
            if flight.callers == 1 and not task.done():
                # The last caller is gone: nobody wants the answer. A caller arriving now
                # must start afresh, not join a task being cancelled.
                self._drop(flight)
                task.cancel()
                # Cancelled means over: no task of this call outlives it.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({task})
            raise
        except IReferError:
            pass  # re-raised below as this caller's own copy, outside the handler
        finally:
            flight.callers -= 1
        if not task.done():
            raise _late(method, flight.sent)
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, IReferError) and not first:
            raise _own_copy(error)
        raise error


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
