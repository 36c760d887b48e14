"""One private event loop in a background thread: what a sync client runs its calls on.

`LoopThread` owns the loop; `LoopThread.run` submits a coroutine from any thread and blocks
until it ends, carrying the caller's context variables (``correlation_scope``) into the task.
A fork is handled by the client (`irefer_async.sync._client`): the child never uses this
object again, it builds a new one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from irefer_async import ClientStateError

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread until `stop`."""

    __slots__ = ("loop", "pid", "thread")

    def __init__(self, name: str = "irefer-sync") -> None:
        #: The process that started the loop: a forked child never touches it.
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            # Finalised on their own thread, as asyncio.run does (never in a caller's loop).
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    @property
    def running(self) -> bool:
        """Whether the loop still takes work."""
        return self.thread.is_alive() and not self.loop.is_closed()

    def on_loop_thread(self) -> bool:
        """Whether the calling thread is the loop's own (where blocking would deadlock)."""
        return threading.get_ident() == self.thread.ident

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its error) in the caller.

        The task runs in a copy of the caller's context. If the caller is interrupted
        (``KeyboardInterrupt``), the task is cancelled before the interruption propagates.
        """
        if self.pid != os.getpid():
            coro.close()
            raise ClientStateError("this event loop belongs to the parent process")
        if self.on_loop_thread():
            coro.close()
            raise ClientStateError(
                "a sync IReferClient was called from its own event loop (an event hook?); "
                "use the async client there"
            )
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        context = contextvars.copy_context()
        task_box: list[asyncio.Task[T]] = []

        def start() -> None:
            if not done.set_running_or_notify_cancel():
                coro.close()
                return
            task = context.run(self.loop.create_task, coro)
            task_box.append(task)
            task.add_done_callback(_copy_outcome(done))

        try:
            self.loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop was closed meanwhile
            coro.close()
            raise ClientStateError("this sync IReferClient is closed; create a new one") from None
        try:
            return done.result()
        except BaseException:
            if not done.done():
                self.loop.call_soon_threadsafe(_cancel, task_box, done)
            raise

    def defer(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` on the loop without waiting (a finaliser's cleanup); never raises.

        Does nothing (but close ``coro``) in a forked child or once the loop is closed.
        """
        if self.pid != os.getpid() or self.loop.is_closed():
            coro.close()
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.create_task, coro)
        except RuntimeError:  # closed meanwhile
            coro.close()

    def stop(self) -> None:
        """Stop the loop, wait for its thread, close it (idempotent; not from the loop)."""
        if self.loop.is_closed() or self.pid != os.getpid():
            return
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()


def _copy_outcome(done: concurrent.futures.Future[T]) -> Any:
    def copy(task: asyncio.Task[T]) -> None:
        if done.done():
            return
        if task.cancelled():
            done.cancel()
            return
        error = task.exception()
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(task.result())

    return copy


def _cancel(task_box: list[asyncio.Task[Any]], done: concurrent.futures.Future[Any]) -> None:
    if task_box:
        task_box[0].cancel()
    else:
        done.cancel()
