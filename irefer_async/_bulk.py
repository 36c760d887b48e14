"""Bulk submissions: a fixed pool of workers streams rows through the client, one outcome each.

Memory is bounded by credits (rows taken but not yet yielded: ``concurrency + window``). A
row whose write failed ambiguously comes back as a `HeldWrite`; the run asks for its verdict
while the worker goes on, and resends (ahead of new rows) only what a settle scan proved did
not land. `BulkRun.stop` takes no new row; `BulkRun.aclose` cancels rows in flight, which end
as unknown in `BulkRun.undelivered`. An `IReferError` becomes the row's outcome; any other
exception ends the run and is raised from the iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import attrs

from . import _endpoints as ep
from ._errors import InvalidRequestError, IReferError, WriteOutcomeUnknownError
from ._models import LeadSource, NewSignup, NewSpecificAction
from ._write_safety import HeldWrite

#: Workers of a bulk run when neither ``concurrency=`` nor the client's cap says otherwise.
DEFAULT_BULK_CONCURRENCY = 16
#: Held rows per worker that give their credit back while decided (unordered runs only).
HELD_PER_WORKER = 64

ReqT = TypeVar("ReqT")
ResT = TypeVar("ResT")


class Writer(Protocol):
    """What a bulk run sends through: the client (see its `_bulk_attempt`, `_bulk_settle`)."""

    async def _bulk_attempt(
        self, endpoint: ep.Endpoint[Any], request: Any, held: HeldWrite | None
    ) -> Any: ...

    async def _bulk_settle(self, held: HeldWrite) -> Any: ...


@attrs.frozen(slots=True)
class NewSignupRequest:
    """One ``newSignup`` to submit in bulk; the fields are `IReferClient.new_signup`'s.

    A mapping with the same keys is accepted wherever a request is.
    """

    email: str
    name: str | None = None
    phone: str | None = None
    info_1: str | None = None
    info_2: str | None = None
    info_3: str | None = None
    info_4: str | None = None
    info_5: str | None = None
    source: LeadSource | str | None = None
    referrer_code: str | None = None
    campaign_id: int | str | None = None

    @property
    def key(self) -> str | None:
        """The row key: the email, stripped and lower-cased."""
        key = ep.NEW_SIGNUP.key
        return None if key is None else key.of(self)


@attrs.frozen(slots=True)
class NewSpecificActionRequest:
    """One ``newSpecificAction`` to submit in bulk; the fields are the client method's.

    A mapping with the same keys is accepted wherever a request is.
    """

    external_id: str
    action: str
    referrer_code: str
    campaign_id: int | str | None = None

    @property
    def key(self) -> str | None:
        """The row key: ``"<external_id>|<action>"``."""
        key = ep.NEW_SPECIFIC_ACTION.key
        return None if key is None else key.of(self)


class BulkStatus(str, enum.Enum):
    """What happened to one row of a bulk run."""

    #: The API accepted the row (or a reconciling read proved it landed).
    OK = "ok"
    #: The API refused it, or it failed in a way proven not to have written anything.
    FAILED = "failed"
    #: It may or may not have landed (`WriteOutcomeUnknownError`, or in flight at close).
    UNKNOWN = "unknown"
    #: Rejected before sending (`InvalidRequestError`).
    INVALID = "invalid"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(slots=True)
class BulkOutcome(Generic[ReqT, ResT]):
    """The outcome of one row: its position, key, request, and result or error."""

    #: The row's 0-based position in the input.
    index: int
    #: The row key (see `NewSignupRequest.key`), or None if the row was too malformed.
    key: str | None
    #: The request (None when the input row could not be turned into one).
    request: ReqT | None
    #: What happened.
    status: BulkStatus
    #: The API's result when ``status`` is ok.
    result: ResT | None = None
    #: The typed error otherwise.
    error: IReferError | None = None
    #: The input row as given (a request object or a mapping).
    row: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the row landed."""
        return self.status is BulkStatus.OK


#: An outcome of `IReferClient.bulk_new_signups`.
SignupOutcome = BulkOutcome[NewSignupRequest, NewSignup]
#: An outcome of `IReferClient.bulk_new_specific_actions`.
ActionOutcome = BulkOutcome[NewSpecificActionRequest, NewSpecificAction]

#: The rows a bulk method accepts: a sync or async iterable of requests or mappings.
BulkRows = Iterable[ReqT | Mapping[str, Any]] | AsyncIterable[ReqT | Mapping[str, Any]]


@attrs.frozen(repr=False)
class BulkSummary:
    """Counts and timing of a bulk run (final once the run has ended)."""

    #: Outcomes produced (rows taken from the input).
    total: int
    #: Rows that landed.
    ok: int
    #: Rows refused, or failed without writing anything.
    failed: int
    #: Rows that may or may not have landed.
    unknown: int
    #: Rows rejected before sending.
    invalid: int
    #: Seconds from the first row taken to the end of the run (or to now, while running).
    elapsed: float
    #: True when the run ended before its input did (`BulkRun.stop` or ``aclose``).
    interrupted: bool = False

    @property
    def submitted(self) -> int:
        """Rows handed to the API (every outcome except the invalid ones)."""
        return self.ok + self.failed + self.unknown

    @property
    def rate(self) -> float:
        """Achieved rows submitted per second."""
        return self.submitted / self.elapsed if self.elapsed > 0 else 0.0

    def __repr__(self) -> str:
        """Show the counts, elapsed seconds and the rate (rows submitted per second)."""
        return (
            f"BulkSummary(total={self.total}, ok={self.ok}, failed={self.failed}, "
            f"unknown={self.unknown}, invalid={self.invalid}, elapsed={self.elapsed:.3f}, "
            f"rate={self.rate:.1f}, interrupted={self.interrupted})"
        )

    @property
    def by_status(self) -> dict[BulkStatus, int]:
        """The counts keyed by status."""
        return {status: getattr(self, status.value) for status in BulkStatus}


_DONE: Any = object()  # the end of the outcomes
_OK = BulkStatus.OK
_UNKNOWN = BulkStatus.UNKNOWN


class _Tokens:
    """Credits or turns, handed to waiters directly (``first``: resends); ``free`` < 0 is a debt."""

    __slots__ = ("_first", "_waiters", "free")

    def __init__(self, free: int) -> None:
        self.free = free
        self._first: deque[asyncio.Future[None]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def release(self) -> None:
        if self.free >= 0:
            for queue in (self._first, self._waiters):
                while queue:
                    waiter = queue.popleft()
                    if not waiter.done():
                        waiter.set_result(None)  # the token goes to this waiter
                        return
        self.free += 1

    async def acquire(self, *, first: bool = False) -> None:
        if self.free > 0:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._first if first else self._waiters).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a token while being cancelled: pass it on
            raise


class BulkRun(Generic[ReqT, ResT]):
    """A running bulk submission: ``async for outcome in run`` yields one outcome per row.

    Use it as an async context manager so leaving the block always stops the workers:

    ```python
    async with client.bulk_new_signups(rows, concurrency=32) as run:
        async for outcome in run:
            if not outcome.ok:
                print(outcome.index, outcome.status, outcome.error)
    print(run.summary)
    ```

    Workers start on ``async with`` or on the first ``__anext__``.
    """

    def __init__(
        self,
        rows: BulkRows[ReqT],
        *,
        client: Writer,
        method: str,
        concurrency: int,
        ordered: bool = False,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequestError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self._rows = rows
        self._client = client
        self._endpoint = ep.ENDPOINTS[method]
        self._coerce = _COERCE[method]
        self._method = method
        #: Worker tasks (rows in flight at most).
        self.concurrency = concurrency
        #: Whether outcomes are yielded in input order.
        self.ordered = ordered
        # Outcomes for the consumer; the credits (rows taken, not yet yielded) bound them.
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._credits = _Tokens(concurrency + max(2 * concurrency, 8))
        self._turns = _Tokens(concurrency)
        self._reorder: dict[int, BulkOutcome[ReqT, ResT]] = {}
        self._next_yield = 0
        self._sync_it: Iterator[Any] | None = None
        self._async_it: AsyncIterator[Any] | None = None
        self._read_lock = asyncio.Lock()
        self._next_index = 0
        self._current: list[tuple[int, Any, Any] | None] = [None] * concurrency
        self._workers: list[asyncio.Task[None]] = []
        self._open: dict[int, HeldWrite] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._released = 0
        self._max_released = 0 if ordered else HELD_PER_WORKER * concurrency
        self._live = 0  # workers running
        self._counts = dict.fromkeys(BulkStatus, 0)  # in `BulkSummary`'s order
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._stopping = False
        self._closing = False
        self._finished = False
        self._interrupted = False
        self._undelivered: list[BulkOutcome[ReqT, ResT]] = []

    @property
    def summary(self) -> BulkSummary:
        """Counts by status, elapsed time and achieved rate (final once the run has ended)."""
        started = self._started_at
        end = self._ended_at if self._ended_at is not None else time.perf_counter()
        elapsed = 0.0 if started is None else end - started
        ok, failed, unknown, invalid = counts = self._counts.values()
        return BulkSummary(sum(counts), ok, failed, unknown, invalid, elapsed, self._interrupted)

    @property
    def undelivered(self) -> tuple[BulkOutcome[ReqT, ResT], ...]:
        """Outcomes produced but never yielded, by index (rows in flight at `aclose`: unknown)."""
        return tuple(sorted(self._undelivered, key=lambda o: o.index))

    @property
    def in_flight(self) -> tuple[int, ...]:
        """Indexes of the rows taken whose outcome is not known yet (sent, or being decided)."""
        sending = (slot[0] for slot in self._current if slot is not None)
        return tuple(sorted((*sending, *self._open)))

    def stop(self) -> None:
        """Take no new row; rows in flight finish and are still yielded, then the iteration ends."""
        self._interrupted = self._interrupted or not self._stopping
        self._stopping = True
        if self._started_at is None:
            self._start()

    async def aclose(self) -> None:
        """Stop now: cancel in-flight calls, await every worker, keep undelivered outcomes.

        Idempotent. Rows in flight (held ones included) get status unknown (see `undelivered`).
        """
        if self._closing:
            return
        self._closing = True
        if not self._finished:
            self._interrupted = self._interrupted or (
                self._started_at is not None and (self._live > 0 or bool(self._open))
            )
        self._stopping = True
        # A task cancelled may still hold a row again (a new `_settle` task): until none is left.
        while tasks := [task for task in (*self._workers, *self._settling) if not task.done()]:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        for held in list(self._open.values()):  # held rows never decided
            self._deliver(self._unknown(held.index, held.row, held.request))
        self._open.clear()
        # Everything still queued or waiting for its turn was produced but never yielded.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, BulkOutcome):
                self._undelivered.append(item)
        self._undelivered.extend(self._reorder.values())
        self._reorder.clear()
        # A consumer waiting in `__anext__` (aclose called from another task) is woken to end:
        # `_maybe_done` puts nothing once closing, and the queue was just emptied.
        self._queue.put_nowait(_DONE)
        await self._end()

    async def __aenter__(self) -> BulkRun[ReqT, ResT]:
        if self._started_at is None:
            self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> BulkRun[ReqT, ResT]:
        return self

    async def __anext__(self) -> BulkOutcome[ReqT, ResT]:
        if self._started_at is None:
            self._start()
        if self._finished or self._closing:
            raise StopAsyncIteration
        reorder = self._reorder
        while True:
            if self.ordered and (outcome := reorder.pop(self._next_yield, None)) is not None:
                self._next_yield += 1
                self._credits.release()
                return outcome
            item = await self._queue.get()
            if item.__class__ is BulkOutcome:
                if not self.ordered:
                    self._credits.release()
                    return item
                reorder[item.index] = item
            elif item is _DONE and reorder:
                # Gaps can only come from a closed run; yield what is left in order.
                self._next_yield = min(reorder)
                self._queue.put_nowait(item)
            elif isinstance(item, BaseException):  # a bug, or a failing input iterator
                await self.aclose()
                raise item
            else:
                self._finished = True
                await self._end()
                raise StopAsyncIteration

    async def _end(self) -> None:
        """Stamp the run's end (once) and close an async input."""
        if self._ended_at is None:
            self._ended_at = time.perf_counter()
        it = self._async_it
        self._async_it = None
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()

    def _start(self) -> None:
        self._started_at = time.perf_counter()
        rows = self._rows
        if isinstance(rows, AsyncIterable):
            self._async_it = rows.__aiter__()
        elif isinstance(rows, Iterable):
            self._sync_it = iter(rows)
        else:
            raise InvalidRequestError(
                f"rows must be an iterable or async iterable, not {type(rows).__name__}"
            )
        self._live = self.concurrency
        self._workers = [
            asyncio.create_task(self._work(slot), name=f"irefer-bulk-{self._method}-{slot}")
            for slot in range(self.concurrency)
        ]

    async def _take(self) -> Any:
        """Return the next row of an async input, or `_DONE` when it is exhausted."""
        async with self._read_lock:
            it = self._async_it
            if it is None or self._stopping:
                return _DONE
            try:
                return await it.__anext__()
            except StopAsyncIteration:
                self._async_it = None
                return _DONE

    async def _work(self, slot: int) -> None:  # noqa: PLR0912, PLR0915 - one inlined hot loop
        turns = self._turns
        credits = self._credits
        put = self._queue.put_nowait
        counts = self._counts
        current = self._current
        sync_it = self._sync_it
        coerce = self._coerce
        attempt = self._client._bulk_attempt
        endpoint = self._endpoint
        sending = False
        try:
            while not self._stopping:
                if credits.free > 0:
                    credits.free -= 1
                else:
                    await credits.acquire()
                if self._stopping:
                    credits.release()
                    break
                # The sync fast path reads a row without an await.
                row = await self._take() if sync_it is None else next(sync_it, _DONE)
                if row is _DONE:
                    credits.release()
                    break
                index = self._next_index
                self._next_index = index + 1
                current[slot] = (index, row, None)
                # The turn to send is taken with a row in hand, never while waiting for one: a
                # slow async source must not hold the turns a resend needs.
                if turns.free > 0:
                    turns.free -= 1
                else:
                    await turns.acquire()
                sending = True
                outcome: BulkOutcome[ReqT, ResT] | None
                try:
                    request = coerce(row)
                except IReferError as exc:  # the key as far as the malformed row allows
                    key = self._endpoint.row_key(row) if isinstance(row, Mapping) else None
                    outcome = BulkOutcome(index, key, None, BulkStatus.INVALID, None, exc, row)
                else:
                    current[slot] = (index, row, request)  # the request sent, if cut off
                    try:
                        result = await attempt(endpoint, request, None)
                    except HeldWrite as held:  # ambiguous: the run keeps it, the worker goes on
                        held.__traceback__ = None
                        held.index, held.row, held.request = index, row, request
                        self._hold(held)
                        outcome = None
                    except IReferError as exc:
                        status = _status_of(exc)
                        outcome = BulkOutcome(index, request.key, request, status, None, exc, row)
                    else:
                        outcome = BulkOutcome(index, request.key, request, _OK, result, None, row)
                sending = False
                turns.release()
                current[slot] = None
                if outcome is not None:
                    counts[outcome.status] += 1
                    put(outcome)
        except asyncio.CancelledError:
            self._abandon(slot, sending)
            raise
        except Exception as exc:  # a bug or a failing input iterator: end the run with it
            self._abandon(slot, sending)
            self._crash(exc)
        finally:
            self._live -= 1
            self._maybe_done()

    def _abandon(self, slot: int, sending: bool) -> None:
        if sending:
            self._turns.release()
        taken = self._current[slot]
        if taken is None:
            return
        self._current[slot] = None
        self._deliver(self._unknown(*taken))

    def _deliver(self, outcome: BulkOutcome[ReqT, ResT]) -> None:
        self._counts[outcome.status] += 1
        if self._closing:
            self._undelivered.append(outcome)
        else:  # (a row cancelled by someone else than `aclose` is still delivered)
            self._queue.put_nowait(outcome)

    def _unknown(self, index: int, row: Any, request: Any = None) -> BulkOutcome[ReqT, ResT]:
        """Return the outcome of a row cut off in flight (it may or may not have landed).

        ``request``: the one sent (a held row); else coerced from ``row``.
        """
        if request is None:
            with contextlib.suppress(IReferError):
                request = self._coerce(row)
        last = IReferError(f"{self._method}: cancelled while in flight", method=self._method)
        values = {} if request is None else attrs.asdict(request, recurse=False)
        params = {name: str(value) for name, value in values.items() if value is not None}
        error = WriteOutcomeUnknownError(
            method=self._method, params=params, last_error=last, reconcile_error=None
        )
        key = getattr(request, "key", None)
        return BulkOutcome(index, key, request, _UNKNOWN, None, error, row)

    def _crash(self, error: Exception) -> None:
        self._stopping = True
        self._queue.put_nowait(error)

    def _maybe_done(self) -> None:
        if self._live == 0 and not self._open and not self._closing:
            self._queue.put_nowait(_DONE)

    def _hold(self, held: HeldWrite) -> None:
        """Keep a row whose write failed ambiguously; a `_settle` task asks its verdict at once."""
        if held.index not in self._open:
            self._open[held.index] = held
            if self._released < self._max_released:  # waiting holds no credit (unordered)
                held.released = True
                self._released += 1
                self._credits.release()
        task = asyncio.create_task(self._settle(held))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, held: HeldWrite) -> None:
        """Decide a held row (the scans' verdict): its outcome, or a resend (turn first)."""
        client = self._client
        request = held.request
        status, error = _OK, None  # or the final error, below
        try:
            result = await client._bulk_settle(held)
            if result is None:  # proven not landed: resend it, ahead of new rows
                await self._turns.acquire(first=True)
                try:
                    result = await client._bulk_attempt(self._endpoint, request, held)
                finally:
                    self._turns.release()
        except HeldWrite as again:  # ambiguous again: held again, for its new failure
            held.failure, held.not_before = again.failure, again.not_before
            self._hold(held)
            return
        except IReferError as exc:
            status, result, error = _status_of(exc), None, exc
        except asyncio.CancelledError:
            if not self._closing:
                self._finish(held, self._unknown(held.index, held.row, held.request))
            raise
        except Exception as exc:  # a bug: end the run with it
            self._crash(exc)
            return
        self._finish(
            held, BulkOutcome(held.index, request.key, request, status, result, error, held.row)
        )

    def _finish(self, held: HeldWrite, outcome: BulkOutcome[ReqT, ResT]) -> None:
        """Put a held row's outcome, taking its credit back first (as a debt if none is free)."""
        del self._open[held.index]
        if held.released:
            self._released -= 1
            self._credits.free -= 1
        self._deliver(outcome)
        self._maybe_done()


def _status_of(error: IReferError) -> BulkStatus:
    if isinstance(error, InvalidRequestError):
        return BulkStatus.INVALID
    if isinstance(error, WriteOutcomeUnknownError):
        return _UNKNOWN
    return BulkStatus.FAILED


def _coercer(cls: type[Any], method: str) -> Callable[[Any], Any]:
    fields = frozenset(a.name for a in attrs.fields(cls))
    required = tuple(a.name for a in attrs.fields(cls) if a.default is attrs.NOTHING)

    def coerce(row: Any) -> Any:
        if row.__class__ is cls:
            return row
        if not isinstance(row, Mapping):
            raise InvalidRequestError(
                f"{method}: a row must be a {cls.__name__} or a mapping, not {type(row).__name__}",
                method=method,
            )
        if not fields.issuperset(row.keys()) or any(row.get(n) is None for n in required):
            unknown = ", ".join(sorted(str(k) for k in row if k not in fields))
            missing = ", ".join(name for name in required if row.get(name) is None)
            problem = f"unknown field(s) {unknown}" if unknown else f"{missing} is required"
            raise InvalidRequestError(f"{method}: {problem}", method=method)
        return cls(**row)

    return coerce


_COERCE = {
    "newSignup": _coercer(NewSignupRequest, "newSignup"),
    "newSpecificAction": _coercer(NewSpecificActionRequest, "newSpecificAction"),
}
