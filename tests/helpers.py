"""Test helpers: fake credentials, a client factory and a virtual-time event loop."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

from irefer_async import IReferClient

LICENSE_KEY = "W4qL69dbdc0ed0520530bede3c1fc574"
API_KEY = "s3cr3t-api-key"
BASE = f"https://api.irefer.io/v1.0/{LICENSE_KEY}.js/"

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking for ``timeout``, advances the loop's clock."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[Any]:
        if self.loop.in_executor:
            # A thread is working (e.g. the SQLite feed store): time stands still until it
            # is done, as it would for a call that takes no time; wait for it for real.
            return super().select(0.01 if timeout is None else min(timeout, 0.01))
        events = super().select(0)
        if not events and timeout is not None:
            # Jump to the next timer; and like a real clock, never stand still (a timer
            # computed to fire "now" by float rounding must not spin forever).
            self.loop.now += max(timeout, 1e-7)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer when nothing else can run.

    asyncio.sleep, aiolimiter and tenacity all run on ``loop.time()``, so retry and rate
    tests see exact, instant time; respx mocks do no real I/O. Work handed to a thread
    (``run_in_executor``) takes no virtual time: the clock waits for it.
    """

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self.now = 1000.0
        #: Calls running in an executor's thread right now.
        self.in_executor = 0

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        future = super().run_in_executor(executor, func, *args)
        self.in_executor += 1

        def done(_: object) -> None:
            self.in_executor -= 1

        future.add_done_callback(done)
        return future

    def time(self) -> float:
        return self.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh virtual-time loop.

    Then finalises the async generators left open, as ``asyncio.run`` does (a body's byte
    iterator dropped without being exhausted is closed by the loop, not at garbage collection).
    """
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def make_client(**kwargs: Any) -> IReferClient:
    """A client with the fake credentials and no rate limit unless told otherwise."""
    kwargs.setdefault("campaign_id", 2605)
    kwargs.setdefault("rate_limit", None)
    kwargs.setdefault("max_concurrency", None)
    return IReferClient(LICENSE_KEY, API_KEY, **kwargs)
