"""Retry decisions as small pure functions, and the retry loop built on tenacity.

What is retried (reads, and writes once write safety has proven a resend harmless):
transport errors, timeouts, HTTP 408/429/5xx, ``null`` or empty bodies, and bodies that are
not JSON at all (truncated, an HTML error page). Never retried: API error bodies, a JSON
body of the wrong shape, bad arguments, and ``asyncio.CancelledError``.

Waits grow exponentially with jitter (``wait_initial * 2**n`` plus up to ``wait_jitter``,
capped at ``wait_max``); a 429's ``Retry-After`` replaces the computed wait. A call stops
after ``attempts`` attempts, or when the next wait would end past ``deadline`` seconds
from the call's start.

Fast path: the first attempt runs with no tenacity state at all (tenacity costs ~12 µs and
~32 cyclic objects per call); a fresh ``AsyncRetrying`` is built only after a retryable
failure, so no retry state is ever shared between concurrent calls.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from ._deadline import current_deadline
from ._errors import (
    ConfigurationError,
    DeadlineExceededError,
    EmptyResponseError,
    HTTPStatusError,
    IReferError,
    MalformedResponseError,
    QueueFullError,
    RateLimitedError,
    ServerError,
    TransportError,
)

__all__ = ["RetryConfig", "call_with_retry", "is_retryable", "wait_for"]

T = TypeVar("T")

#: See :attr:`RetryConfig.settle`: as long again as the default read timeout (10 s), so a write
#: still being processed up to 20 s after it was sent is seen by the read that decides a resend.
DEFAULT_SETTLE = 10.0


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(
            f"RetryConfig.{attribute.name} must be a number >= 0, got {value!r}"
        )


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"RetryConfig.{attribute.name} must be an integer >= 1, got {value!r}"
        )


@attrs.frozen
class RetryConfig:
    """How calls are retried. Pass ``retry=None`` to the client to make one attempt only."""

    #: Attempts per call, the first included.
    attempts: int = attrs.field(default=4, validator=_positive_int)
    #: First wait, in seconds; doubles at every retry.
    wait_initial: float = attrs.field(default=0.5, validator=_non_negative)
    #: Cap on one wait, in seconds (Retry-After included).
    wait_max: float = attrs.field(default=8.0, validator=_non_negative)
    #: Random extra wait added to each backoff, up to this many seconds.
    wait_jitter: float = attrs.field(default=0.5, validator=_non_negative)
    #: Total seconds a call may spend across attempts and waits (``math.inf`` for none).
    deadline: float = attrs.field(default=30.0, validator=_non_negative)
    #: Seconds after an ambiguous write attempt ended before a read may prove it did not land.
    settle: float = attrs.field(default=DEFAULT_SETTLE, validator=_non_negative)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt may be tried again (for a write: once proven not landed)."""
    if isinstance(exc, TransportError | RateLimitedError | ServerError | EmptyResponseError):
        return True
    if isinstance(exc, HTTPStatusError):
        return exc.status_code == 408
    if isinstance(exc, MalformedResponseError):
        return exc.not_json
    return False


def wait_for(config: RetryConfig, exc: BaseException | None, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based) after ``exc``."""
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return min(exc.retry_after, config.wait_max)
    backoff = config.wait_initial * 2.0 ** (retry_number - 1)
    jitter = config.wait_jitter * random.random() if config.wait_jitter else 0.0  # noqa: S311
    return min(backoff + jitter, config.wait_max)


def _made(started: int, exc: IReferError) -> int:
    """HTTP attempts made: those started, less the last if the throttle refused it."""
    never_sent = isinstance(exc, QueueFullError) or (
        isinstance(exc, DeadlineExceededError) and exc.waiting_for is not None
    )
    return started - 1 if never_sent else started


async def call_with_retry(attempt: Callable[[], Awaitable[T]], config: RetryConfig | None) -> T:
    """Run ``attempt`` until it succeeds or a non-retryable error, the attempt cap or the deadline.

    The error raised is the last attempt's, with ``.attempts`` set.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        return await attempt()
    except IReferError as exc:
        exc.attempts = _made(1, exc)
        if config is None or config.attempts <= 1 or not is_retryable(exc):
            raise
        first = exc
    return await _retry_after_first(attempt, config, first, started, loop)


async def _retry_after_first(
    attempt: Callable[[], Awaitable[T]],
    config: RetryConfig,
    first: IReferError,
    started: float,
    loop: asyncio.AbstractEventLoop,
) -> T:
    pending: list[IReferError] = [first]
    attempts = 1

    async def replay_then_attempt() -> T:
        # Tenacity counts the fast path's failure as attempt 1, then takes over.
        nonlocal attempts
        if pending:
            raise pending.pop()
        attempts += 1
        try:
            return await attempt()
        except IReferError as exc:
            exc.attempts = _made(attempts, exc)
            raise

    deadline = current_deadline()

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= config.attempts:
            return True
        upcoming = state.upcoming_sleep or 0.0
        if deadline is not None:  # the call's own (settle waits and reads included)
            return loop.time() + upcoming >= deadline.at
        return math.isfinite(config.deadline) and (
            loop.time() - started + upcoming > config.deadline
        )

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        return wait_for(config, exc, state.attempt_number)

    retrying = tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
    )
    return await retrying(replay_then_attempt)
