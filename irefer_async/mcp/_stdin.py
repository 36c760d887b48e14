"""Serve stdio so that a cancellation (Ctrl-C, SIGTERM) stops the server at once.

The MCP SDK reads stdin with a blocking ``readline`` in a worker thread that a cancellation
waits for, so ``irefer mcp`` ran on, signalled, until stdin closed. `serve_stdio` puts a pipe
of its own on file descriptor 0 (which the SDK then reads) and copies the real stdin into it
from a daemon thread that also watches a stop pipe: on cancellation the copy stops and closes
the pipe, the SDK's reader sees end of file and the cancellation completes. The real stdin is
put back on descriptor 0 afterwards. Only public SDK calls are used (``run_stdio_async``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import threading
from collections.abc import Awaitable, Callable

__all__ = ["serve_stdio"]

_CHUNK = 65536


def _copy(src: int, dst: int, stop: int) -> None:
    """Copy ``src`` to ``dst`` until end of file or a byte on ``stop``; then close ``dst``."""
    try:
        while True:
            ready, _, _ = select.select([src, stop], [], [])
            if stop in ready:
                return
            data = os.read(src, _CHUNK)
            if not data:
                return
            view = memoryview(data)
            while view:  # dst is non-blocking: a full pipe waits here, stop still heard
                stopping, _, _ = select.select([stop], [dst], [])
                if stopping:
                    return
                with contextlib.suppress(BlockingIOError):
                    view = view[os.write(dst, view) :]
    except OSError:  # the reader went away (EPIPE) or stdin broke: end of file for the SDK
        return
    finally:
        os.close(dst)


def _stdin_is_fd_0() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.fileno() == 0
    except (AttributeError, OSError, ValueError):
        return False


async def serve_stdio(run: Callable[[], Awaitable[None]]) -> None:
    """Await ``run()`` (the SDK's stdio server) with stdin relayed as the module says.

    Where ``select`` cannot wait on stdin (Windows), or there is no stdin on descriptor 0,
    ``run()`` is awaited as it is.
    """
    if sys.platform == "win32" or not _stdin_is_fd_0():  # pragma: no cover - see below
        # Windows: select() takes sockets only. No stdin (fd 0 closed at start: fd 0 may
        # then be the event loop's own): nothing to relay; the SDK handles it as it does.
        await run()
        return
    real = os.dup(0)
    read_end, write_end = os.pipe()
    stop_read, stop_write = os.pipe()
    os.set_blocking(write_end, False)
    os.dup2(read_end, 0, inheritable=True)
    os.close(read_end)
    copier = threading.Thread(
        target=_copy, args=(real, write_end, stop_read), name="irefer-mcp-stdin", daemon=True
    )
    copier.start()
    server = asyncio.ensure_future(run())
    try:
        await asyncio.wait({server})  # a cancellation lands here, not in the SDK's thread
    finally:
        os.write(stop_write, b"x")  # the copy stops and closes the pipe: EOF for the SDK
        copier.join()  # prompt: every wait in it also watches the stop pipe
        server.cancel()  # a no-op once it ended
        try:
            await asyncio.wait({server})  # ends now that its reader sees end of file
        finally:
            os.dup2(real, 0)
            for fd in (real, stop_read, stop_write):
                os.close(fd)
    server.result()  # its error, if it failed on its own
