"""Shared reconciling reads: one streamed list scan answers every pending write of a campaign.

A `Board` (per list and campaign) runs one scan at a time: a row with the key proves
**landed** (any scan, even one that broke); its absence proves **not landed** only in a scan
*started* at or after the lookup's ``not_before``. A scan keeps only the matching rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ._converter import _to_datetime
from ._deadline import current_deadline
from ._errors import DeadlineExceededError, IReferError
from ._match import RowMatcher

if TYPE_CHECKING:
    from ._transport import ListBody, Slot

#: What a lookup looks for: (the board's kind of key, the target's values, in normal form).
Key = tuple[int, tuple[str, ...]]
#: An early scan (one that cannot prove "not landed") waits this many scan durations...
EARLY_GAP = 9.0
#: ... and at least this many seconds after the previous scan (a failed one included).
EARLY_MIN_GAP = 0.1
#: A scan that settles lookups waits this many scan durations after the previous one ended.
SETTLED_GAP = 3.0


class Scan:
    """One scan's targets (a `RowMatcher` per kind of key): the loop's ``reader=`` of the list."""

    __slots__ = ("loop_time", "matchers", "rows")

    #: The call is over when the body has been read.
    ends_call = True

    def __init__(self, matchers: Sequence[RowMatcher]) -> None:
        #: One matcher per kind of key, in the board's order.
        self.matchers = tuple(matchers)
        #: Rows parsed, every attempt included (for tests and benchmarks).
        self.rows = 0
        #: The event loop's clock when an answer arrived, if one did.
        self.loop_time: float | None = None

    def found(self, key: Key) -> Mapping[str, Any] | None:
        """Return the row found for ``key``, or None."""
        return self.matchers[key[0]].found.get(key[1])

    async def read(self, body: ListBody, slot: Slot) -> None:
        """Note when the answer arrived, then match the rows (closes the body)."""
        from ._stream import ArraySplitter, match_body  # noqa: PLC0415 - on first use

        self.loop_time = asyncio.get_running_loop().time()
        splitter = ArraySplitter(body.method)
        try:
            await match_body(body, self.matchers, splitter)
        finally:
            self.rows += splitter.count


#: Run one scan: stream the list through ``scan.matchers`` (raises when it cannot).
ScanRows = Callable[[Scan], Awaitable[None]]


class Sighting(NamedTuple):
    """A row found by a scan, and the lookup's related rows."""

    #: The raw row, as the API sent it.
    row: Mapping[str, Any]
    #: The lookup's related keys -> the row found for each, or None (not in the list).
    related: Mapping[Key, Mapping[str, Any] | None]


@dataclass(eq=False, slots=True)
class _Lookup:
    key: Key
    not_before: float
    future: asyncio.Future[Sighting | None]
    also: tuple[Key, ...]
    deadline: float  # the caller's deadline (loop time)
    seen: bool = False  # covered by a scan that started after it was made


class Board:
    """The pending lookups of one list endpoint in one campaign, and the scans answering them."""

    def __init__(self, scan: ScanRows, kinds: Sequence[Callable[[], RowMatcher]]) -> None:
        """``kinds``: a factory of an empty `RowMatcher` per kind of key (`Key`'s index)."""
        self._scan = scan
        self._kinds = tuple(kinds)
        self._pending: dict[_Lookup, None] = {}  # in the order they came
        self._driver: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._next_early = -math.inf
        self._next_settled = -math.inf
        self._last_duration = 0.0
        #: Scans run so far (for tests and benchmarks).
        self.scans = 0
        #: Rows read by those scans.
        self.rows_read = 0
        #: The most rows one scan kept (matched): never more than its targets.
        self.max_rows_kept = 0
        #: Seconds of the loop's clock spent between a scan's start and its last row.
        self.scan_time = 0.0

    async def aclose(self) -> None:
        """Stop scanning: pending lookups fail as of unknown outcome (the client is closing)."""
        driver = self._driver
        if driver is not None and not driver.done():
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        for entry in self._pending:
            if not entry.future.done():
                entry.future.cancel()

    async def lookup(
        self, key: Key, not_before: float, also: Sequence[Key] = ()
    ) -> Sighting | None:
        """Return the row with ``key`` (landed) or None (not landed, settled).

        ``also``: related keys looked for in the same scan. Raises `DeadlineExceededError`
        when no scan could answer within the call's deadline.
        """
        future: asyncio.Future[Sighting | None] = asyncio.get_running_loop().create_future()
        deadline = current_deadline()
        at = math.inf if deadline is None else deadline.at
        entry = _Lookup(key, not_before, future, tuple(also), at)
        self._pending[entry] = None
        self._kick()
        timeout = None if deadline is None or math.isinf(at) else max(deadline.remaining(), 0)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if not future.done():
                future.cancel()
            del self._pending[entry]
        raise DeadlineExceededError(
            "the call's deadline passed before a settled read could tell whether it landed",
            method=None,
            sent=True,
        )

    def _kick(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
        if self._driver is None or self._driver.done():
            self._wakeup = asyncio.Event()
            self._driver = asyncio.get_running_loop().create_task(self._drive())

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        wakeup = self._wakeup
        assert wakeup is not None
        while True:
            entries = [e for e in self._pending if not e.future.done()]
            if not entries:
                return
            now = loop.time()
            due = min(e.not_before for e in entries)
            unseen = any(not e.seen for e in entries)
            # Settling scans SETTLED_GAP durations apart; sooner near a due lookup's deadline.
            due = max(due, self._next_settled)
            margin = 2 * self._last_duration
            for e in entries:
                if e.deadline - margin < due:
                    due = min(due, max(e.not_before, e.deadline - margin))
            wake_at = min(due, max(self._next_early, now)) if unseen else due
            if wake_at > now:
                wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), wake_at - now)
                continue
            await self._scan_once(loop, entries)
            await asyncio.sleep(0)  # let the answered lookups run before the next round

    async def _scan_once(self, loop: asyncio.AbstractEventLoop, entries: list[_Lookup]) -> None:
        started = loop.time()
        self.scans += 1
        matchers = [make() for make in self._kinds]
        targets: set[Key] = set()
        for entry in entries:
            for key in (entry.key, *entry.also):
                if key not in targets:
                    targets.add(key)
                    matchers[key[0]].add(key[1])
        scan = Scan(matchers)
        error: Exception | None = None
        bug = False
        try:
            await self._scan(scan)
        except IReferError as exc:
            error = exc
        except Exception as exc:  # a bug: fail every lookup rather than leave it hanging
            error, bug = exc, True
        self.rows_read += scan.rows
        self.max_rows_kept = max(self.max_rows_kept, sum(len(m.found) for m in matchers))
        # Rows found prove "landed", even from a scan that broke before its end.
        self._answer_found(scan, targets, complete=error is None)
        ended = loop.time()
        self._next_early = ended + max(EARLY_GAP * (ended - started), EARLY_MIN_GAP)
        if error is not None:
            for entry in entries:
                if not entry.future.done() and (bug or entry.not_before <= started):
                    entry.future.set_exception(error)
            return
        self.scan_time += ended - started
        self._next_settled = ended + SETTLED_GAP * (ended - started)
        self._last_duration = ended - started
        for entry in entries:
            if entry.future.done():
                continue
            if entry.not_before <= started:
                entry.future.set_result(None)  # settled and absent: not landed
            else:
                entry.seen = True

    def _answer_found(self, scan: Scan, targets: set[Key], *, complete: bool) -> None:
        """Answer every pending lookup whose row (and related rows) this scan settled."""
        if scan.loop_time is None:
            return  # no answer arrived: nothing was found
        for entry in self._pending:
            row = None if entry.future.done() else scan.found(entry.key)
            if row is None:
                continue
            related: dict[Key, Mapping[str, Any] | None] = {}
            for key in entry.also:
                other = scan.found(key) if key in targets else None
                if other is None and not (complete and key in targets):
                    break  # not looked for, or the scan broke first: not known yet
                related[key] = other
            else:
                entry.future.set_result(Sighting(row, related))


def parse_row_time(value: object) -> float | None:
    """Parse a row's ``created_at`` (``2018-06-15T16:11:45Z`` or ``2018-06-15 16:11:45``)."""
    if not isinstance(value, str):
        return None
    try:
        when = _to_datetime(value.strip().replace(" ", "T"))
    except ValueError:
        return None
    return None if when is None else when.timestamp()
