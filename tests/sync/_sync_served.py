"""Async servers run from a background thread, for tests of code that blocks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import TypeVar

from irefer_async.testing import Emulator

T = TypeVar("T")


@contextmanager
def in_thread(manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
    """Enter the async context ``manager`` on a loop in a thread of its own; yield its value."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    entered: list[T] = []
    stop = asyncio.Event()

    async def main() -> None:
        async with manager as value:
            entered.append(value)
            ready.set()
            await stop.wait()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:  # handlers still holding a request end here, not at garbage collection
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the server did not start")
    try:
        yield entered[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


def served(emulator: Emulator) -> AbstractAsyncContextManager[str]:
    """Serve ``emulator`` on 127.0.0.1 (enter it with `in_thread`); yields its base URL."""
    return emulator.serve()
