"""Single flight: identical reads in flight share one HTTP exchange.

A busy page calls ``referrer_stats(email)`` on every view; when many views of the same
participant arrive together, they would each spend a rate-limit slot on the same answer.
:class:`SingleFlight` runs the first caller's read as a task and hands its result, or its
error, to every caller that asks for the same key (API method, campaign, parameters) while it
is in flight:

* the task is created in the first caller's context, so it runs under that call's deadline
  and correlation id; later callers, arriving later, have later deadlines (same budget),
  so a joiner may get the first caller's deadline error a little before its own deadline;
* a caller that is cancelled (its page request was dropped) stops waiting, but the task
  goes on for the others (each caller waits on its own future, which the task resolves);
  only when *every* caller has gone is it cancelled, since nobody wants the answer;
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
    __slots__ = ("at", "done", "key", "sent", "task", "waiters")

    def __init__(self, key: Hashable, at: float) -> None:
        self.key = key
        #: The deadline the task runs under (loop time).
        self.at = at
        self.task: asyncio.Task[None] | None = None
        #: Each waiting caller's own future, and whether it is the caller that started it.
        self.waiters: list[tuple[asyncio.Future[T], bool]] = []
        #: Whether the request has been sent (for an early caller's deadline error).
        self.sent = False
        #: Whether the request is over (its outcome handed to the callers).
        self.done = False


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
        if flight is not None:
            return await self._wait(flight, method, first=False)
        deadline = current_deadline()
        flight = _Flight(key, math.inf if deadline is None else deadline.at)
        self._flights[key] = flight
        # Created in this caller's context: its deadline and correlation id.
        # Not started eagerly: callers arriving in the meantime join even when the
        # transport answers without suspending (in-process), on every Python version.
        flight.task = asyncio.ensure_future(self._fly(flight, fetch))
        return await self._wait(flight, method, first=True)

    def forget(self, match: Callable[[Hashable], bool]) -> None:
        """Let later callers start afresh instead of joining the flights that ``match``.

        Their callers still get their answers. Used after a write: a read that began
        before it may return what the write changed.
        """
        for key in [key for key in self._flights if match(key)]:
            del self._flights[key]

    async def _fly(self, flight: _Flight[T], fetch: Callable[[], Awaitable[T]]) -> None:
        """Run the shared request (``fetch``), then hand its outcome to every waiting caller."""
        _FLIGHT.set(flight)  # the task's own context: seen by note_sent()
        try:
            result = await fetch()
        except BaseException as exc:  # its outcome, whatever it is, goes to the callers
            self._land(flight, None, exc)
            if not isinstance(exc, Exception):  # cancelled, interrupted: the task is too
                raise
            return
        self._land(flight, result, None)

    def _land(self, flight: _Flight[T], result: T | None, error: BaseException | None) -> None:
        self._drop(flight)
        flight.done = True
        for future, first in flight.waiters:
            if future.done():  # that caller has gone
                continue
            if error is None:
                future.set_result(result)  # type: ignore[arg-type]
            elif isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(_for_caller(error, first))
        flight.waiters.clear()

    def _drop(self, flight: _Flight[Any]) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]

    async def _wait(self, flight: _Flight[T], method: str, first: bool) -> T:
        # A flight in the table is never over: it leaves the table as it lands.
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        flight.waiters.append((future, first))
        deadline = current_deadline()
        try:
            if deadline is not None and deadline.at < flight.at:
                # This caller must be answered sooner than the shared request is bounded.
                await _until(future, deadline.at)
                if not future.done():
                    raise _late(method, flight.sent)
                return future.result()
            return await future
        finally:
            if not future.done():
                future.cancel()
            orphan = self._left(flight)
            if orphan is not None:
                # Cancelled means over: no task of this call outlives it.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({orphan})

    def _left(self, flight: _Flight[Any]) -> asyncio.Task[None] | None:
        """Cancel the request if no caller waits for it any more; return it if so."""
        task = flight.task
        if flight.done or task is None or task.done():
            return None
        if any(not future.done() for future, _ in flight.waiters):
            return None
        # A caller arriving now must start afresh, not join a request being cancelled.
        self._drop(flight)
        task.cancel()
        return task


async def _until(future: asyncio.Future[Any], at: float) -> None:
    """Wait for ``future`` until loop time ``at`` at most (without cancelling it)."""
    remaining = at - asyncio.get_running_loop().time()
    if remaining > 0:
        await asyncio.wait({future}, timeout=remaining)


def _for_caller(error: BaseException, first: bool) -> BaseException:
    if first or not isinstance(error, IReferError):
        return error
    return _own_copy(error)


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
