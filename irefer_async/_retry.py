"""Retry decisions: what is retried, how long to wait (tenacity's wait strategy), when to stop.

Retried (reads, and writes once proven not landed): transport errors, timeouts, HTTP
408/429/5xx, ``null`` or empty bodies, bodies that are not JSON. Never: API error bodies, a
JSON body of the wrong shape, bad arguments, cancellation. Waits: tenacity's exponential
backoff plus jitter, or a 429's ``Retry-After``; a call stops after ``attempts`` or when the
next wait would end past its deadline. `Retries` only decides; the client loops.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import attrs

from ._deadline import Deadline
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

__all__ = ["Retries", "RetryConfig", "is_retryable", "number_check", "wait_for"]


def number_check(
    low: float = 0, *, integer: bool = False, positive: bool = False, finite: bool = False
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """Return an attrs validator: a number (``integer``: an int) ``>= low`` (``positive``: > 0)."""
    kind = "an integer" if integer else "a number"
    expected = "a positive number" if positive else f"{kind} >= {low:g}"

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        number = isinstance(value, int if integer else int | float) and not isinstance(value, bool)
        if not number or not (value > 0 if positive else value >= low):
            raise ConfigurationError(f"{name} must be {expected}, got {value!r}")
        if finite and not math.isfinite(value):
            raise ConfigurationError(f"{name} must be finite")

    return check


_NON_NEGATIVE = number_check()


@attrs.frozen
class RetryConfig:
    """How calls are retried. Pass ``retry=None`` to the client to make one attempt only."""

    #: Attempts per call, the first included.
    attempts: int = attrs.field(default=4, validator=number_check(1, integer=True))
    #: First wait, in seconds; doubles at every retry.
    wait_initial: float = attrs.field(default=0.5, validator=_NON_NEGATIVE)
    #: Cap on one wait, in seconds (Retry-After included).
    wait_max: float = attrs.field(default=8.0, validator=_NON_NEGATIVE)
    #: Random extra wait added to each backoff, up to this many seconds.
    wait_jitter: float = attrs.field(default=0.5, validator=_NON_NEGATIVE)
    #: Total seconds a call may spend across attempts and waits (``math.inf`` for none).
    deadline: float = attrs.field(default=30.0, validator=_NON_NEGATIVE)
    #: Seconds after an ambiguous write attempt ended before a read may prove it did not land
    #: (the default read timeout again: a write processed up to 20 s late is seen).
    settle: float = attrs.field(default=10.0, validator=_NON_NEGATIVE)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt may be tried again (for a write: once proven not landed)."""
    if isinstance(exc, TransportError | RateLimitedError | ServerError | EmptyResponseError):
        return True
    if isinstance(exc, HTTPStatusError):
        return exc.status_code == 408
    if isinstance(exc, MalformedResponseError):
        return exc.not_json
    return False


@functools.lru_cache(maxsize=64)
def _backoff(config: RetryConfig) -> Callable[[Any], float]:
    """Tenacity's exponential backoff plus random jitter for ``config`` (imported on use)."""
    import tenacity  # noqa: PLC0415 - on the first retry only: a call that succeeds never pays it

    # A float multiplier: past a float's range, tenacity waits ``max`` (an int one overflows).
    initial = float(config.wait_initial)
    exponential = tenacity.wait_exponential(multiplier=initial, max=config.wait_max)
    return exponential + tenacity.wait_random(0, config.wait_jitter)


def wait_for(config: RetryConfig, exc: BaseException | None, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based) after ``exc`` (<= ``wait_max``)."""
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return min(exc.retry_after, config.wait_max)
    # The one field of tenacity's ``RetryCallState`` its wait strategies read.
    wait = _backoff(config)(SimpleNamespace(attempt_number=retry_number))
    return float(min(wait, config.wait_max))


class Retries:
    """The retry decisions of one call, asked by the request loop after each failed attempt."""

    __slots__ = ("_config", "_deadline", "attempts")

    def __init__(self, config: RetryConfig | None, deadline: Deadline | None) -> None:
        self._config = config
        self._deadline = deadline
        #: Attempts started so far.
        self.attempts = 0

    def after(self, error: IReferError) -> float | None:
        """Record a failed attempt (sets ``error.attempts``); the wait before the next, or None.

        None too when the wait would end past the call's deadline.
        """
        self.attempts += 1
        # Attempts made: those started, less the last if the throttle refused it (never sent).
        never_sent = isinstance(error, QueueFullError) or (
            isinstance(error, DeadlineExceededError) and error.waiting_for is not None
        )
        error.attempts = self.attempts - 1 if never_sent else self.attempts
        config = self._config
        if config is None or self.attempts >= config.attempts or not is_retryable(error):
            return None
        wait = wait_for(config, error, self.attempts)
        deadline = self._deadline
        if deadline is not None and asyncio.get_running_loop().time() + wait >= deadline.at:
            return None
        return wait
