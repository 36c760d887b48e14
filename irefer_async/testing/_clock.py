"""Clocks for the emulator.

The emulator reads wall time for ``created_at``/``triggered_at`` stamps and for the UTC day
behind ``signups_today``. Tests inject a `FrozenClock` so those values are exact and
nothing ever sleeps; the default `SystemClock` reads the real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_FROZEN_TIME", "Clock", "FrozenClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the emulator the current time as an aware UTC datetime."""

    def now(self) -> dt.datetime:
        """Return the current time (timezone-aware, UTC)."""
        ...


class SystemClock:
    """The real wall clock, in UTC."""

    __slots__ = ()

    def now(self) -> dt.datetime:
        """Return the real current time in UTC."""
        return dt.datetime.now(dt.timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


class FrozenClock:
    """A clock that only moves when told to.

    >>> clock = FrozenClock(dt.datetime(2018, 6, 15, 23, 59, tzinfo=dt.timezone.utc))
    >>> clock.advance(minutes=2).date()
    datetime.date(2018, 6, 16)
    """

    __slots__ = ("_now",)

    def __init__(self, start: dt.datetime | None = None) -> None:
        """Start at *start* (naive means UTC), or at `DEFAULT_FROZEN_TIME`."""
        self._now = _as_utc(start if start is not None else DEFAULT_FROZEN_TIME)

    def now(self) -> dt.datetime:
        """Return the frozen time."""
        return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to *when*."""
        self._now = _as_utc(when)

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> dt.datetime:
        """Move forward by the given amount and return the new time."""
        self._now += dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()!r})"


class LoopClock:
    """A clock that follows the running event loop's clock (virtual time in tests).

    It starts at the real time of its first reading and then moves with ``loop.time()``, so
    rows are stamped and ``Date`` headers sent in the same time as a client on that loop
    (a virtual-time loop included) measures its own waits.
    """

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        """Anchor to the real time at the first reading."""
        self._offset: float | None = None

    def now(self) -> dt.datetime:
        """Return the real time of the first reading plus the loop time elapsed since."""
        try:
            loop_now = asyncio.get_running_loop().time()
        except RuntimeError:  # outside the loop (a test's setup): the real time
            return dt.datetime.now(dt.timezone.utc)
        if self._offset is None:
            self._offset = time.time() - loop_now
        return dt.datetime.fromtimestamp(self._offset + loop_now, dt.timezone.utc)

    def __repr__(self) -> str:
        return "LoopClock()"


def _as_utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


#: Where a `FrozenClock` starts when given no time: a date from the guide's samples.
DEFAULT_FROZEN_TIME = dt.datetime(2018, 6, 15, 12, 0, 0, tzinfo=dt.timezone.utc)
