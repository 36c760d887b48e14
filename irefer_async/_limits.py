"""Rate limit and concurrency cap: every HTTP attempt of a client passes through one `Throttle`.

A `Limiter` hands out one slot per attempt (the default `LocalRateLimiter`: aiolimiter's leaky
bucket at a conservative 5 requests/s); a 429's ``Retry-After`` pauses every call of the client;
a semaphore caps requests in flight (default 4); with a known rate, an arrival window keeps every
1-second window *at the server* within ``rate + burst`` (why: docs/benchmarks.md, "The rate
limiter's shape").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol, runtime_checkable

import attrs

from ._deadline import Deadline, current_deadline
from ._errors import ConfigurationError, DeadlineExceededError, QueueFullError
from ._retry import number_check

__all__ = ["LocalRateLimiter", "Limiter", "RateLimit", "Throttle", "build_limiter"]


@runtime_checkable
class Limiter(Protocol):
    """A source of request slots: ``await acquire()`` returns when one request may start.

    Implement this to share one rate limit between processes (see the Redis limiter).
    """

    async def acquire(self) -> None:
        """Wait for, and take, one slot."""


@attrs.frozen
class RateLimit:
    """A request rate: ``rate`` requests per second, at most ``rate + burst`` in any second.

    ``burst=0`` never lets a 1-second window exceed ``rate`` but delivers slightly less
    than ``rate`` (each timer wake-up's lateness is lost); ``burst=1`` (the default)
    delivers ``rate`` exactly.
    """

    #: Requests per second, steady state.
    rate: float = attrs.field(validator=number_check(positive=True, finite=True))
    #: Extra requests a single 1-second window may carry above ``rate``.
    burst: int = attrs.field(default=1, validator=number_check(0, integer=True))


class LocalRateLimiter:
    """The in-process limiter: aiolimiter's bucket of ``burst + 1`` slots draining at ``rate``."""

    __slots__ = ("_bucket", "rate_limit")

    def __init__(self, rate_limit: RateLimit) -> None:
        #: The rate this limiter enforces.
        self.rate_limit = rate_limit
        # Imported when a limiter is built, not with the package (docs/benchmarks.md).
        from aiolimiter import AsyncLimiter  # noqa: PLC0415

        size = rate_limit.burst + 1
        self._bucket = AsyncLimiter(size, size / rate_limit.rate)

    async def acquire(self) -> None:
        """Wait for, and take, one slot."""
        await self._bucket.acquire()

    def has_capacity(self) -> bool:
        """Whether a slot is free now (`acquire` would return without waiting)."""
        return self._bucket.has_capacity()

    def __repr__(self) -> str:
        return f"LocalRateLimiter({self.rate_limit!r})"


def build_limiter(rate_limit: float | RateLimit | Limiter | None) -> Limiter | None:
    """Normalise the ``rate_limit`` option: a number, a `RateLimit`, a Limiter or None."""
    if rate_limit is None:
        return None
    if isinstance(rate_limit, RateLimit):
        return LocalRateLimiter(rate_limit)
    if isinstance(rate_limit, int | float) and not isinstance(rate_limit, bool):
        return LocalRateLimiter(RateLimit(float(rate_limit)))
    if isinstance(rate_limit, Limiter):
        return rate_limit
    raise ConfigurationError(
        "rate_limit must be requests per second, a RateLimit, an object with "
        f"`async acquire()`, or None; got {type(rate_limit).__name__}"
    )


class Throttle:
    """Concurrency cap, then the pause gate, then a rate slot, all bounded by the call's deadline.

    ``await throttle.acquire(method)`` returns once the attempt may be sent (the seconds it
    waited); ``throttle.release()`` gives the concurrency slot back. A call that provably
    cannot get its slot before its deadline (`current_deadline`) fails at once, one that runs
    out of time waiting fails then: `DeadlineExceededError` (``sent=False``, ``waiting_for``
    ``"concurrency"``, ``"pause"`` or ``"rate limit"``); beyond ``max_waiting`` waiting calls,
    `QueueFullError`. So the queue stays under ``rate x deadline`` (plus the burst).
    """

    __slots__ = (
        "_limiter",
        "_local",
        "_max_waiting",
        "_paused_until",
        "_rate_limit",
        "_semaphore",
        "_window",
        "waiting",
    )

    def __init__(
        self,
        limiter: Limiter | None,
        max_concurrency: int | None,
        *,
        max_waiting: int | None = None,
    ) -> None:
        self._limiter = limiter
        self._local = limiter if isinstance(limiter, LocalRateLimiter) else None
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._paused_until = 0.0
        #: Calls waiting for a slot right now (concurrency, pause or rate limit).
        self.waiting = 0
        self._max_waiting = max_waiting
        # A known rate lets a call that cannot be served in time fail at once, and bounds
        # the arrival window; a limiter without one: calls wait until the deadline.
        rate_limit = getattr(limiter, "rate_limit", None)
        if not isinstance(rate_limit, RateLimit):
            rate_limit = None
        self._rate_limit = rate_limit
        self._window = None if rate_limit is None else _ArrivalWindow(rate_limit)

    def pause(self, seconds: float) -> None:
        """Hold every new attempt for ``seconds`` (a 429's Retry-After)."""
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    async def acquire(self, method: str | None = None) -> float:
        """Wait for a slot within the current deadline; return the seconds waited.

        Raises `DeadlineExceededError` (``sent=False``) or `QueueFullError`.
        Call `release` when the attempt is over.
        """
        semaphore = self._semaphore
        local = self._local
        # The fast path: nothing to wait for, nothing to measure.
        if (
            not self.waiting
            and (semaphore is None or not semaphore.locked())
            and not self._paused_until
            and (self._limiter is None or (local is not None and local.has_capacity()))
            and (self._window is None or self._window.is_open())
        ):
            if semaphore is not None:
                await semaphore.acquire()  # free: returns without suspending
            if local is not None:
                await local.acquire()  # has capacity: returns without suspending
            if self._window is not None:
                self._window.enter()
            return 0.0
        return await self._queue(method)

    async def _queue(self, method: str | None) -> float:  # noqa: PLR0912 - read top to bottom
        if self._max_waiting is not None and self.waiting >= self._max_waiting:
            raise QueueFullError(method=method, waiting=self.waiting)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = current_deadline()
        at = math.inf if deadline is None else deadline.at
        # Fail at once when the call provably cannot get its slot before ``at``.
        if self._paused_until > at:
            raise _never_sent(method, "pause")
        rate_limit = self._rate_limit
        if rate_limit is not None:
            # Calls waiting ahead each need a rate slot first, ``1/rate`` apart, less those the
            # bucket serves at once (``burst + 1`` if it has capacity). A lower bound: a call
            # refused here could not have been served in time.
            local = self._local
            free = rate_limit.burst + 1 if local is None or local.has_capacity() else 0
            ahead = self.waiting - free
            if ahead > 0 and started + ahead / rate_limit.rate >= at:
                raise _never_sent(method, "rate limit")
        self.waiting += 1
        semaphore = self._semaphore
        try:
            if semaphore is not None:
                await _until(semaphore.acquire(), at, method, "concurrency")
            try:
                if self._paused_until:
                    # A loop, not an Event: another 429 may extend the pause while we sleep.
                    while (delay := self._paused_until - loop.time()) > 0:
                        if self._paused_until > at:
                            raise _never_sent(method, "pause")
                        await asyncio.sleep(delay)
                    self._paused_until = 0.0  # over: later calls take the fast path again
                if self._limiter is not None:
                    await _until(self._limiter.acquire(), at, method, "rate limit")
                window = self._window
                if window is not None:
                    while not window.is_open():
                        await _until(window.wait(), at, method, "rate limit")
                    window.enter()
            except BaseException:
                if semaphore is not None:
                    semaphore.release()
                raise
        finally:
            self.waiting -= 1
        return loop.time() - started

    def release(self) -> None:
        """Give back the concurrency slot taken by `acquire` (the attempt is over)."""
        if self._window is not None:
            self._window.leave()
        if self._semaphore is not None:
            self._semaphore.release()


class _ArrivalWindow:
    """Attempts that may have reached the server within the last second: ``rate + burst``.

    An attempt counts from its slot (`enter`) until one second after it ended (`leave`).
    """

    __slots__ = ("_cap", "_changed", "_ended", "_in_flight")

    def __init__(self, rate_limit: RateLimit) -> None:
        self._cap = max(1, math.floor(rate_limit.rate + rate_limit.burst))
        self._in_flight = 0
        self._ended: deque[float] = deque()  # loop times attempts ended, oldest first
        self._changed: asyncio.Event | None = None

    def is_open(self) -> bool:
        """Whether one more attempt may start now."""
        ended = self._ended
        now = asyncio.get_running_loop().time()
        while ended and ended[0] <= now - 1.0:
            ended.popleft()
        return self._in_flight + len(ended) < self._cap

    def enter(self) -> None:
        """Count an attempt starting (it may reach the server from now on)."""
        self._in_flight += 1

    def leave(self) -> None:
        """Count an attempt as ended: it still counts for one more second."""
        self._in_flight -= 1
        self._ended.append(asyncio.get_running_loop().time())
        if self._changed is not None:
            self._changed.set()

    async def wait(self) -> None:
        """Return when the count may have dropped (an attempt aged out or ended)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        # Until the oldest ended attempt ages out; only attempts in flight: until one ends.
        now = asyncio.get_running_loop().time()
        timeout = self._ended[0] + 1.0 - now if self._ended else None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


def _never_sent(method: str | None, waiting_for: str) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"{method}: deadline exceeded before the request was sent (waiting for {waiting_for})",
        method=method,
        sent=False,
        waiting_for=waiting_for,
    )


async def _until(
    awaitable: Coroutine[Any, Any, object], at: float, method: str | None, waiting_for: str
) -> None:
    """Await ``awaitable`` but give up at loop time ``at`` (never sent: DeadlineExceededError)."""
    try:
        async with Deadline(at, at).bound(method or ""):
            await awaitable
    except DeadlineExceededError:
        awaitable.close()  # not awaited at all when ``at`` had passed already
        raise _never_sent(method, waiting_for) from None
