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
        `asyncio.CancelledError`, also when redis-py loses the cancellation (``asyncio.wait_for``
        around its socket write returns the result when a cancel lands as the write completes,
        CPython gh-86296, Python 3.10 and 3.11): each Redis command runs in a task of its own,
        so the cancel is raised here, never inside redis-py.
        """
        async with Redis(connection_pool=self.connection_pool) as connection:
            redis: Any = connection  # redis-py's asyncio types are partial
            while True:
                fetched = await _cancellable(
                    redis.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=self.block,
                        count=self.count,
                    )
                )
                for stream, entries in fetched or ():
                    name = stream.decode() if isinstance(stream, bytes) else str(stream)
                    for msg_id, fields in entries:
                        yield AckableMessage(data=fields[b"data"], ack=self._acker(name, msg_id))
                claimed = await _cancellable(
                    redis.xautoclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        start_id="0-0",
                        count=self.count,
                    )
                )
                for msg_id, fields in claimed[1]:
                    if fields:  # an entry deleted while pending has no fields
                        yield AckableMessage(
                            data=fields[b"data"], ack=self._acker(self.queue_name, msg_id)
                        )


async def _cancellable(command: Awaitable[Any]) -> Any:
    """Await *command* in a task of its own: a cancel of the caller is raised here.

    The command's task is cancelled and awaited to its end before the `CancelledError`
    propagates (redis-py then returns or drops the connection), whatever it does with
    the cancel.
    """
    task = asyncio.ensure_future(command)
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task})
        raise
    return task.result()
