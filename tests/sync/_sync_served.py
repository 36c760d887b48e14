"""An emulator served on loopback from a background thread (for code that blocks)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from irefer_async.testing import Emulator


@contextmanager
def served(emulator: Emulator) -> Iterator[str]:
    """Serve ``emulator`` on 127.0.0.1 in a thread of its own; yield its base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    url: list[str] = []
    stop = asyncio.Event()

    async def main() -> None:
        async with emulator.serve() as base:
            url.append(base)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the emulator did not start")
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
