"""Rate limit and concurrency cap: every HTTP attempt of a client passes through one Throttle.

Three independent parts, each replaceable:

* a :class:`Limiter` (anything with ``async acquire()``) hands out one slot per attempt;
  the default :class:`LocalRateLimiter` is aiolimiter's leaky bucket configured to be
  smooth. iRefer publishes no limits, so the default is a conservative 5 requests/second.
* a pause gate: a 429 with ``Retry-After`` pauses every call of the client until it passes.
* a semaphore caps requests in flight (default 4).

Why not ``AsyncLimiter(R, 1)``: its bucket holds R, so a full bucket burst on top of the
steady rate lets about 2R requests into one second. ``AsyncLimiter(1, 1/R)`` never bursts
but loses the timer's lateness on every request (187/s delivered for 200/s asked). A bucket
of ``burst + 1`` slots draining at R keeps the steady rate exact (lateness is absorbed while
the bucket is not empty) and bounds any 1-second window to ``R + burst`` requests.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Protocol, runtime_checkable

import attrs
from aiolimiter import AsyncLimiter

from ._errors import ConfigurationError

__all__ = ["LocalRateLimiter", "Limiter", "RateLimit", "Throttle", "build_limiter"]


@runtime_checkable
class Limiter(Protocol):
    """A source of request slots: ``await acquire()`` returns when one request may start.

    Implement this to share one rate limit between processes (see the Redis limiter).
    """

    async def acquire(self) -> None:
        """Wait for, and take, one slot."""


def _check_rate(_: object, __: object, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
        raise ConfigurationError(
            f"rate must be a positive number of requests per second, got {value!r}"
        )
    if not math.isfinite(value):
        raise ConfigurationError("rate must be finite (use rate_limit=None to turn it off)")


def _check_burst(_: object, __: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"burst must be an integer >= 0, got {value!r}")


@attrs.frozen
class RateLimit:
    """A request rate: ``rate`` requests per second, at most ``rate + burst`` in any second.

    ``burst=0`` never lets a 1-second window exceed ``rate`` but delivers slightly less
    than ``rate`` (each timer wake-up's lateness is lost); ``burst=1`` (the default)
    delivers ``rate`` exactly.
    """

    #: Requests per second, steady state.
    rate: float = attrs.field(validator=_check_rate)
    #: Extra requests a single 1-second window may carry above ``rate``.
    burst: int = attrs.field(default=1, validator=_check_burst)


class LocalRateLimiter:
    """The in-process limiter: aiolimiter's bucket of ``burst + 1`` slots draining at ``rate``."""

    __slots__ = ("_bucket", "rate_limit")

    def __init__(self, rate_limit: RateLimit) -> None:
        #: The rate this limiter enforces.
        self.rate_limit = rate_limit
        size = rate_limit.burst + 1
        self._bucket = AsyncLimiter(size, size / rate_limit.rate)

    async def acquire(self) -> None:
        """Wait for, and take, one slot."""
        await self._bucket.acquire()

    def __repr__(self) -> str:
        return f"LocalRateLimiter({self.rate_limit!r})"


def build_limiter(rate_limit: float | RateLimit | Limiter | None) -> Limiter | None:
    """Normalise the ``rate_limit`` option: a number, a :class:`RateLimit`, a Limiter or None."""
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
    """Concurrency cap, then the pause gate, then a rate slot: ``async with throttle:``.

    The semaphore is taken first so a rate slot is never spent on a request that would
    then wait for a free connection.
    """

    __slots__ = ("_limiter", "_paused_until", "_semaphore")

    def __init__(self, limiter: Limiter | None, max_concurrency: int | None) -> None:
        self._limiter = limiter
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._paused_until = 0.0

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter, or None when the rate is unlimited."""
        return self._limiter

    def pause(self, seconds: float) -> None:
        """Hold every new attempt for ``seconds`` (a 429's Retry-After)."""
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    async def __aenter__(self) -> None:
        if self._semaphore is not None:
            await self._semaphore.acquire()
        try:
            if self._paused_until:
                loop = asyncio.get_running_loop()
                # A loop, not an Event: another 429 may extend the pause while we sleep.
                while (delay := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(delay)
            if self._limiter is not None:
                await self._limiter.acquire()
        except BaseException:
            if self._semaphore is not None:
                self._semaphore.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
