"""Plain iterators over the async client's streams: a list stream and a bulk run."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from irefer_async import BulkOutcome, BulkRun, BulkSummary, ListStream

__all__ = ["Step", "SyncBulkRun", "SyncListStream"]

T = TypeVar("T")
V = TypeVar("V")


class Step(Protocol):
    """Run one coroutine on the client's loop, blocking, counted as a call in flight."""

    def __call__(self, coro: Coroutine[Any, Any, V], /) -> V: ...


ReqT = TypeVar("ReqT")
ResT = TypeVar("ResT")

if TYPE_CHECKING:
    from ._runner import LoopThread


async def _next(stream: AsyncIterator[T]) -> tuple[T] | None:
    """Return the stream's next item (boxed), or None at its end."""
    try:
        return (await anext(stream),)
    except StopAsyncIteration:
        return None


async def _call_sync(function: Callable[[], T]) -> T:
    return function()


def _close_later(runner: LoopThread, aclose: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Close an abandoned stream on its loop, without waiting (garbage collection)."""
    runner.defer(aclose())


def _finalizer(
    owner: object, runner: LoopThread, aclose: Callable[[], Any]
) -> weakref.finalize[Any, Any]:
    finalizer = weakref.finalize(owner, _close_later, runner, aclose)
    finalizer.atexit = False
    return finalizer


class SyncListStream(Generic[T]):
    """A `ListStream` as a plain iterator: ``for referrer in client.iter_referrers():``.

    The same contract as the async stream (bounded memory, the request sent on the first
    ``next()``, `StreamInterruptedError` after a break, never restarted silently). Use it as a
    context manager (or call `close`) to release the connection early; a stream dropped
    unfinished is closed when collected.
    """

    __slots__ = ("__weakref__", "_finalizer", "_loop", "_run", "_stream")

    def __init__(self, stream: ListStream[T], runner: LoopThread, step: Step) -> None:
        self._stream = stream
        self._run = step
        self._loop = runner
        self._finalizer = _finalizer(self, runner, stream.aclose)

    def __repr__(self) -> str:
        return f"<SyncListStream {self._stream.method} delivered={self._stream.delivered}>"

    @property
    def method(self) -> str:
        """The API method (``"referrers"``...)."""
        return self._stream.method

    @property
    def delivered(self) -> int:
        """Items yielded so far."""
        return self._stream.delivered

    @property
    def bytes_read(self) -> int:
        """Body bytes received so far."""
        return self._stream.bytes_read

    def __iter__(self) -> SyncListStream[T]:
        return self

    def __next__(self) -> T:
        item = self._run(_next(self._stream))
        if item is None:
            raise StopIteration
        return item[0]

    def close(self) -> None:
        """Stop reading and release the connection and the concurrency slot (idempotent).

        After the client's `close` (which ended the stream already) it does nothing.
        """
        self._finalizer.detach()
        if self._loop.running:
            self._run(self._stream.aclose())

    def __enter__(self) -> SyncListStream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncBulkRun(Generic[ReqT, ResT]):
    """A `BulkRun` as a plain iterator of outcomes, one per row.

    ```python
    with client.bulk_new_signups(rows) as run:
        for outcome in run:
            if not outcome.ok:
                print(outcome.index, outcome.status, outcome.error)
    print(run.summary)
    ```

    Workers run on the client's loop, started on ``with`` or on the first ``next()``; rows
    (a plain iterable) are read there, lazily. Leaving the block (or `close`) stops the
    workers, and rows in flight go to `undelivered` with status unknown, as for the async run.
    """

    __slots__ = ("__weakref__", "_finalizer", "_loop", "_run", "_runner")

    def __init__(self, run: BulkRun[ReqT, ResT], runner: LoopThread, step: Step) -> None:
        self._run = run
        self._runner = step
        self._loop = runner
        self._finalizer = _finalizer(self, runner, run.aclose)

    def _read(self, read: Callable[[], T]) -> T:
        """Read the run's state on its loop while it runs; directly once the loop is gone."""
        if not self._loop.running:
            return read()
        return self._runner(_call_sync(read))

    def __repr__(self) -> str:
        run = self._run
        return f"<SyncBulkRun concurrency={run.concurrency} ordered={run.ordered}>"

    @property
    def concurrency(self) -> int:
        """Worker tasks (rows in flight at most)."""
        return self._run.concurrency

    @property
    def ordered(self) -> bool:
        """Whether outcomes are yielded in input order."""
        return self._run.ordered

    @property
    def summary(self) -> BulkSummary:
        """Counts by status, elapsed time and achieved rate (final once the run has ended)."""
        return self._read(lambda: self._run.summary)

    @property
    def undelivered(self) -> tuple[BulkOutcome[ReqT, ResT], ...]:
        """Outcomes produced but never yielded, by index: filled in by `close`."""
        return self._read(lambda: self._run.undelivered)

    @property
    def in_flight(self) -> tuple[int, ...]:
        """Indexes of the rows being sent right now."""
        return self._read(lambda: self._run.in_flight)

    def stop(self) -> None:
        """Take no new row; rows in flight finish and are still yielded, then iteration ends."""
        self._runner(_call_sync(self._run.stop))

    def close(self) -> None:
        """Stop now: cancel in-flight calls, keep undelivered outcomes (idempotent).

        After the client's `close` (which closed the run already) it does nothing.
        """
        self._finalizer.detach()
        if self._loop.running:
            self._runner(self._run.aclose())

    def __enter__(self) -> SyncBulkRun[ReqT, ResT]:
        self._runner(self._run.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[BulkOutcome[ReqT, ResT]]:
        return self

    def __next__(self) -> BulkOutcome[ReqT, ResT]:
        outcome = self._runner(_next(self._run))
        if outcome is None:
            raise StopIteration
        return outcome[0]
