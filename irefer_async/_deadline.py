"""The call deadline: one budget per call, read by every layer that waits or sends.

A call's deadline is ``RetryConfig.deadline`` seconds from the moment the call starts
(``math.inf`` for none). It is carried in a context variable, so every layer of the call
(the throttle's queue, the HTTP exchange, a write's reconciling reads) reads the same
`Deadline` without threading it through every signature:

```python
with deadline_scope(Deadline.after(5.0)):
    ...  # current_deadline().remaining() in any layer below
```

Time is the event loop's clock (``loop.time()``), so tests on a virtual-time loop see
exact, instant deadlines. A task created inside the scope inherits it (asyncio copies
the context at task creation), which is what a shared request needs to be bounded by
the call that started it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from ._errors import DeadlineExceededError

__all__ = ["Deadline", "current_deadline", "deadline_scope", "within"]

T = TypeVar("T")
#: ``asyncio.timeout_at`` (3.11+) bounds an await with one timer; 3.10 falls back to wait_for.
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
        if math.isinf(seconds):
            return cls(math.inf, math.inf)
        return cls(asyncio.get_running_loop().time() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed, ``math.inf`` for no deadline)."""
        if math.isinf(self.at):
            return math.inf
        return self.at - asyncio.get_running_loop().time()

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.remaining() <= 0

    def __repr__(self) -> str:
        return f"Deadline(at={self.at!r}, budget={self.budget!r})"


_CURRENT: ContextVar[Deadline | None] = ContextVar("irefer_async_deadline", default=None)


def current_deadline() -> Deadline | None:
    """Return the deadline of the call running in this context (None outside any call)."""
    return _CURRENT.get()


@contextmanager
def deadline_scope(deadline: Deadline, *, detached: bool = False) -> Iterator[Deadline]:
    """Make ``deadline`` the current one for the code inside the ``with`` block.

    An enclosing deadline that ends earlier wins: a reconciling read started by a write
    never outlives the write's own deadline. ``detached=True`` ignores the enclosing one:
    for work shared by many calls (a shared reconciling scan runs in a task that inherited
    the context of whichever call started it, and must not end with that call's budget).
    """
    outer = None if detached else _CURRENT.get()
    effective = deadline if outer is None or deadline.at <= outer.at else outer
    token = _CURRENT.set(effective)
    try:
        yield effective
    finally:
        _CURRENT.reset(token)


async def within(deadline: Deadline, exchange: Callable[[], Awaitable[T]], method: str) -> T:
    """Run one HTTP exchange, cut when ``deadline`` passes (a trickling body included).

    Raises `DeadlineExceededError` with ``sent=False`` if the deadline had passed before the
    exchange started, ``sent=True`` if it passed during it.
    """
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceededError(
            f"{method}: the call's deadline ({deadline.budget:g}s) passed before sending",
            method=method,
            sent=False,
        )
    try:
        if _timeout_at is not None:
            async with _timeout_at(deadline.at):
                return await exchange()
        return await asyncio.wait_for(exchange(), remaining)
    except asyncio.TimeoutError:
        pass
    raise DeadlineExceededError(
        f"{method}: the call's deadline ({deadline.budget:g}s) passed during the exchange",
        method=method,
        sent=True,
    )
