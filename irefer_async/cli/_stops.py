"""What stops a command from outside: SIGTERM, and a disk that fills up under its files.

* `terminable` runs a command's coroutine so that SIGTERM (what systemd, Docker and Kubernetes
  send) cancels it exactly as Ctrl-C does: the command's own clean-up runs (an import prints its
  summary and keeps its ledger resumable), then `Terminated` is raised for the caller to print
  the resume line and exit with `EXIT_TERMINATED` (143, 128 + SIGTERM, as a shell reports it).
* `writing` turns "no space left" (``OSError`` ``ENOSPC``/``EDQUOT``/``EFBIG``, SQLite's
  ``database or disk is full``) raised while writing a file into `StorageFullError`, which
  names the file; the caller prints it in one line and exits with `EXIT_STORAGE_FULL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import sqlite3
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "EXIT_STORAGE_FULL",
    "EXIT_TERMINATED",
    "StorageFullError",
    "Terminated",
    "is_full",
    "terminable",
    "writing",
]

T = TypeVar("T")

#: Exit status after SIGTERM: 128 + 15, what a shell shows for a process the signal ended.
EXIT_TERMINATED = 128 + signal.SIGTERM
#: Exit status when a file could not be written for lack of space (``EX_IOERR``).
EXIT_STORAGE_FULL = 74

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL (a module constant from Python 3.11 on)


class Terminated(Exception):
    """The command was stopped by SIGTERM (after its clean-up ran)."""


class StorageFullError(Exception):
    """A file could not be written: the disk (or the file's size limit) is full.

    ``path`` names the file, ``detail`` is the system's words; the message adds ``hint``
    (what to do once there is space again).
    """

    def __init__(self, path: Path | str, detail: str, hint: str = "") -> None:
        """Name the file, the system's words and what to do next."""
        self.path = Path(path)
        self.detail = detail
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line: the file, why, and the hint."""
        text = f"no space left to write {self.path} ({self.detail})"
        return f"{text}; {self.hint}" if self.hint else text

    def __str__(self) -> str:
        return self.message


def is_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a write failed for lack of space."""
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        return code == _SQLITE_FULL if code is not None else "full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


@contextlib.contextmanager
def writing(path: Path | str, hint: str = "") -> Iterator[None]:
    """Raise `StorageFullError` naming ``path`` for a "no space" failure inside the block.

    ``hint`` (what to do next) is added to the message, also to a `StorageFullError` raised
    inside without one.
    """
    try:
        yield
    except StorageFullError as exc:
        exc.hint = exc.hint or hint
        raise
    except (sqlite3.OperationalError, OSError) as exc:
        if not is_full(exc):
            raise
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StorageFullError(path, detail, hint) from exc


async def terminable(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``; SIGTERM cancels it as Ctrl-C would, then `Terminated` is raised.

    Ctrl-C cancels it too where ``asyncio.run`` does not (Python 3.10 lets Python's default
    handler raise ``KeyboardInterrupt`` wherever the loop is, e.g. in uvicorn's selector, and
    then cancels every task at once: uvicorn logs a traceback); ``KeyboardInterrupt`` is raised
    after the clean-up, as 3.11+'s ``asyncio.run`` does, and a second Ctrl-C raises it at once.
    Where signals cannot be handled (Windows, a thread other than the main one) ``coro`` runs
    as it is.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals: list[int] = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # no asyncio.run handler
        signals.append(signal.SIGINT)
    stopped_by: int | None = None

    def on_signal(signum: int) -> None:
        nonlocal stopped_by
        if stopped_by == signal.SIGINT and signum == signal.SIGINT:
            stopped_by = 0  # asyncio.run then cancels the task: let that end it quietly
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, clean-up or not
        stopped_by = stopped_by or signum
        if task is not None:
            task.cancel()

    added: list[int] = []
    try:
        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)
            added.append(signum)
    except (NotImplementedError, RuntimeError, ValueError):
        for signum in added:
            loop.remove_signal_handler(signum)
        return await coro
    try:
        return await coro
    except asyncio.CancelledError:
        if stopped_by == signal.SIGTERM:
            raise Terminated("terminated") from None
        if stopped_by == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise
    finally:
        for signum in added:
            loop.remove_signal_handler(signum)
