"""A Redis Streams broker for taskiq whose messages outlive the workers that took them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage
from taskiq.middlewares import SimpleRetryMiddleware
from taskiq_redis import RedisStreamBroker

__all__ = ["DEFAULT_IDLE_TIMEOUT", "ImportBroker"]

#: Seconds a message may stay unacknowledged with one worker before another takes it over.
DEFAULT_IDLE_TIMEOUT = 60.0


class ImportBroker(RedisStreamBroker):
    """`taskiq_redis.RedisStreamBroker`, reclaiming a dead worker's messages even when idle.

    Messages are read with ``XREADGROUP`` and acknowledged (``XACK``) after the task ran;
    a message left unacknowledged by a worker that died is taken over by another worker
    once it has been idle *idle_timeout* seconds (``XAUTOCLAIM`` on every turn of the
    listening loop, also when no new message arrived, and without taskiq-redis's autoclaim
    lock, which a worker killed while holding it would keep forever). Each worker reads
    one message at a time, so a killed worker strands as few jobs as its concurrency.

    *idle_timeout* must exceed the longest time a live worker holds a job (its queue wait
    included); a job taken over while its first worker still runs is harmless (the ledger
    lets one of them send each row) but wasted. A job that raised is sent again up to
    *retries* times (taskiq's ``SimpleRetryMiddleware``).
    """

    def __init__(
        self,
        url: str,
        *,
        queue_name: str = "irefer-import",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        xread_block: float = 1.0,
        retries: int = 10,
        **kwargs: Any,
    ) -> None:
        """Use the stream *queue_name* on the Redis at *url* (consumer group ``taskiq``)."""
        super().__init__(
            url,
            queue_name=queue_name,
            idle_timeout=int(idle_timeout * 1000),
            xread_block=int(xread_block * 1000),
            xread_count=1,
            **kwargs,
        )
        self.add_middlewares(SimpleRetryMiddleware(default_retry_count=retries))

    def _acker(self, stream: str, msg_id: Any) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xack(stream, self.consumer_group_name, msg_id)

        return ack

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield new messages, then those idle past the timeout with a dead worker.

        Cancelling the task that awaits the next message always ends the generator with
        `asyncio.CancelledError`, also when redis-py loses the cancellation (on Python
        3.11 its ``asyncio.wait_for`` around a socket write swallows a cancel that lands as
        the write completes): a cancel requested and not delivered is raised after each
        Redis command, so a worker's shutdown cannot leave this loop polling forever.
        """
        async with Redis(connection_pool=self.connection_pool) as connection:
            redis: Any = connection  # redis-py's asyncio types are partial
            while True:
                _raise_if_cancel_was_lost()
                fetched = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
                _raise_if_cancel_was_lost()
                for stream, entries in fetched or ():
                    name = stream.decode() if isinstance(stream, bytes) else str(stream)
                    for msg_id, fields in entries:
                        yield AckableMessage(data=fields[b"data"], ack=self._acker(name, msg_id))
                claimed = await redis.xautoclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    start_id="0-0",
                    count=self.count,
                )
                _raise_if_cancel_was_lost()
                for msg_id, fields in claimed[1]:
                    if fields:  # an entry deleted while pending has no fields
                        yield AckableMessage(
                            data=fields[b"data"], ack=self._acker(self.queue_name, msg_id)
                        )


def _raise_if_cancel_was_lost() -> None:
    """Raise `asyncio.CancelledError` if this task was cancelled and is still running.

    Between two awaits, a task with a pending cancel request (``Task.cancelling()``, Python
    3.11+) can only be running because something awaited swallowed the `CancelledError`
    (CPython gh-86296: ``asyncio.wait_for`` returns the inner result when the cancel and
    the result arrive together; fixed in 3.12). An ``asyncio.timeout`` around the read
    still turns this into its `TimeoutError`, as it counts the cancel it requested.
    """
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.10's tasks have none
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError
