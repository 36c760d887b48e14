"""The call deadline: ``RetryConfig.deadline`` seconds from the call's start, on the loop's clock.

The request loop bounds each exchange with `Deadline.bound`; code waiting for many calls (the
throttle's queue, shared scans) reads it from a context variable (`deadline_scope`,
`current_deadline`; why: docs/ARCHITECTURE.md, "What stays contextual").
"""

from __future__ import annotations

import asyncio
import math
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from ._errors import DeadlineExceededError

__all__ = ["Deadline", "current_deadline", "deadline_scope"]

#: ``asyncio.timeout_at`` (3.11+) bounds an await with one timer; on 3.10 the task is cancelled.
_timeout_at: Any = getattr(asyncio, "timeout_at", None)


class Deadline:
    """When one call must be over, as an instant of the event loop's clock."""

    __slots__ = ("at", "budget")

    def __init__(self, at: float, budget: float) -> None:
        #: The loop time (``loop.time()``) at which the call must be over.
        self.at = at
        #: The budget in seconds this deadline was made from.
        self.budget = budget

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """Return a deadline ``seconds`` from now (``math.inf``: never)."""
        return cls(asyncio.get_running_loop().time() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed, ``math.inf`` for no deadline)."""
        return self.at - asyncio.get_running_loop().time()

    def __repr__(self) -> str:
        return f"Deadline(at={self.at!r}, budget={self.budget!r})"

    def bound(self, method: str, wire: Any = None) -> _Bound:
        """``async with deadline.bound(method):`` cuts the block at the deadline.

        For one HTTP exchange, a body trickling in included: entered past the deadline it
        raises `DeadlineExceededError` (``sent=False``) at once; cut inside, it raises
        `DeadlineExceededError` (``sent=True``: the request may have left), unless ``wire``
        (`irefer_async._transport.Wire`) shows it was cut while its connection was opening:
        then ``sent=False``, never sent.
        """
        return _Bound(self, method, wire)


class _Bound:
    """The async context manager of `Deadline.bound` (no frame of its own in the block)."""

    __slots__ = ("_deadline", "_fired", "_handle", "_method", "_scope", "_wire")

    def __init__(self, deadline: Deadline, method: str, wire: Any) -> None:
        self._deadline = deadline
        self._method = method
        self._wire = wire
        self._scope: Any = None
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    async def __aenter__(self) -> None:
        deadline = self._deadline
        if math.isinf(deadline.at):
            return
        if deadline.remaining() <= 0:
            raise DeadlineExceededError(
                f"{self._method}: the call's deadline ({deadline.budget:g}s) passed before sending",
                method=self._method,
                sent=False,
            )
        if _timeout_at is not None:
            self._scope = _timeout_at(deadline.at)
            await self._scope.__aenter__()
            return
        task = asyncio.current_task()  # Python 3.10: cancel the task at the deadline
        assert task is not None
        self._handle = asyncio.get_running_loop().call_at(deadline.at, self._fire, task)

    def _fire(self, task: asyncio.Task[Any]) -> None:
        self._fired = True
        task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        timed_out = False
        if self._scope is not None:
            try:
                await self._scope.__aexit__(exc_type, exc, tb)
            except TimeoutError:
                timed_out = True
        elif self._handle is not None:
            self._handle.cancel()
            timed_out = self._fired and exc_type is asyncio.CancelledError
        if not timed_out:
            return
        never_sent = self._wire is not None and self._wire.never_sent
        opening = "while the connection was being opened; never sent"
        raise DeadlineExceededError(
            f"{self._method}: the call's deadline ({self._deadline.budget:g}s) passed "
            + (opening if never_sent else "during the exchange"),
            method=self._method,
            sent=not never_sent,
        ) from None


_CURRENT: ContextVar[Deadline | None] = ContextVar("irefer_async_deadline", default=None)


def current_deadline() -> Deadline | None:
    """Return the deadline of the call running in this context (None outside any call)."""
    return _CURRENT.get()


class deadline_scope:  # a class, used as a function: cheaper than a generator
    """Make ``deadline`` the current one for the code inside the ``with`` block.

    An enclosing deadline that ends earlier wins: a reconciling read started by a write
    never outlives the write's own deadline. ``detached=True`` ignores the enclosing one:
    for work shared by many calls (a shared reconciling scan runs in a task that inherited
    the context of whichever call started it, and must not end with that call's budget).
    """

    __slots__ = ("_deadline", "_detached", "_token")
    _token: Token[Deadline | None]

    def __init__(self, deadline: Deadline, *, detached: bool = False) -> None:
        self._deadline = deadline
        self._detached = detached

    def __enter__(self) -> Deadline:
        deadline = self._deadline
        outer = None if self._detached else _CURRENT.get()
        effective = deadline if outer is None or deadline.at <= outer.at else outer
        self._token = _CURRENT.set(effective)
        return effective

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.reset(self._token)
