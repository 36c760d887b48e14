"""A feed store in Redis, shared by several workers (redis-py's asyncio client, Redis >= 6.2).

Keys, under ``irefer:feed:<name>:``:

==================  =======================================================================
``meta``            hash: ``generation``, ``baselined``
``parts``           hash: participant id -> ``"<referrals>|<unlisted times>"``
``raw``             hash: participant id -> last stored row (for ``participant.unlisted``)
``listed``          sorted set: listed participant ids, scored by the poll that last saw them
``seen:<source>``   set: ids of ``rewards`` / ``specificActionSignups`` rows seen
``events``          stream: the outbox; consumer group ``workers``
``lock``            the poller's token (``SET NX PX``): one worker polls at a time
==================  =======================================================================

Every snapshot write and the events it produces go in one ``MULTI``/``EXEC`` that ``WATCH``es
the poll lock and first checks it still holds this worker's token, so a poller whose lock
expired cannot write (no event is enqueued twice by two pollers). Workers take events with
``XREADGROUP``; an event handed to a worker that died is taken over by another after the lease
(``XAUTOCLAIM``); acknowledging is ``XACK`` + ``XDEL`` in one ``MULTI``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from irefer_async import ConfigurationError, IReferError
from irefer_async.feed import KnownParticipant, ParticipantUpdate, Pending, PollCursor

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisFeedStore"]

_GROUP = "workers"


class PollLockLostError(IReferError):
    """The poll lock of this worker expired and another worker took it; the poll is abandoned."""


class RedisFeedStore:
    """A feed's state in Redis, so several workers share one feed (each event to one worker).

    >>> store = RedisFeedStore(redis.asyncio.Redis(), name="rewards")   # doctest: +SKIP

    *poll_lock* (seconds) bounds how long a worker may hold the poll between two batches.
    *consumer* names this worker in the stream's group (default: host, pid and a random
    suffix). The ``redis`` client is lent, not owned: `close` does not close it.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        name: str = "default",
        poll_lock: float = 60.0,
        consumer: str | None = None,
    ) -> None:
        """Keep the feed *name* in *redis*."""
        if not name or any(c.isspace() for c in name):
            raise ConfigurationError(f"feed name must be non-empty, without spaces: {name!r}")
        if poll_lock <= 0:
            raise ConfigurationError(f"poll_lock must be > 0 seconds, got {poll_lock!r}")
        self.redis: Any = redis  # redis-py's asyncio types are partial
        self.name = name
        self.poll_lock = poll_lock
        #: One event per claim: a worker never sits on events another one could deliver.
        self.prefetch = 1
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._prefix = f"irefer:feed:{name}:"
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"<RedisFeedStore name={self.name!r} consumer={self.consumer!r}>"

    def _key(self, suffix: str) -> str:
        return self._prefix + suffix

    async def open(self) -> None:
        """Create the stream's consumer group if it is missing."""
        from redis.exceptions import ResponseError  # noqa: PLC0415 - redis is optional

        try:
            await self.redis.xgroup_create(self._key("events"), _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        """Give up the poll lock if this worker holds it (the Redis client stays open)."""
        if self._token is not None:
            await self._release()

    async def _release(self) -> None:
        token, self._token = self._token, None
        lock = self._key("lock")
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(lock)
            if _text(await pipe.get(lock)) == token:
                pipe.multi()
                pipe.delete(lock)
                await pipe.execute()
            else:
                await pipe.unwatch()

    async def begin_poll(self) -> PollCursor | None:
        """Take the poll lock and a new generation; None when another worker polls."""
        token = uuid.uuid4().hex
        ms = int(self.poll_lock * 1000)
        if not await self.redis.set(self._key("lock"), token, nx=True, px=ms):
            return None
        self._token = token
        generation = int(await self.redis.hincrby(self._key("meta"), "generation", 1))
        baselined = await self.redis.hget(self._key("meta"), "baselined")
        return PollCursor(generation, baselined is not None)

    async def known_participants(self, ids: Sequence[int]) -> Mapping[int, KnownParticipant]:
        """Return the snapshot's entry for each of *ids* that it has."""
        if not ids:
            return {}
        values = await self.redis.hmget(self._key("parts"), [str(i) for i in ids])
        scores = await self.redis.zmscore(self._key("listed"), [str(i) for i in ids])
        found: dict[int, KnownParticipant] = {}
        for pid, value, score in zip(ids, values, scores, strict=True):
            if value is None:
                continue
            referrals, _, times = _text(value).partition("|")
            found[pid] = KnownParticipant(int(referrals), score is not None, int(times))
        return found

    async def known_ids(self, source: str, ids: Sequence[int]) -> set[int]:
        """Which of *ids* of *source* were seen before."""
        if not ids:
            return set()
        flags = await self.redis.smismember(self._key(f"seen:{source}"), [str(i) for i in ids])
        return {pid for pid, flag in zip(ids, flags, strict=True) if flag}

    async def _fenced(self, write: Any) -> None:
        """Run *write(pipe)* in a MULTI that aborts unless this worker still holds the lock."""
        from redis.exceptions import WatchError  # noqa: PLC0415

        lock = self._key("lock")
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(lock)
            if self._token is None or _text(await pipe.get(lock)) != self._token:
                await pipe.unwatch()
                raise PollLockLostError("the poll lock expired; another worker polls now")
            pipe.multi()
            write(pipe)
            pipe.pexpire(lock, int(self.poll_lock * 1000))
            try:
                await pipe.execute()
            except WatchError:
                raise PollLockLostError("the poll lock changed hands during a write") from None

    def _enqueue(self, pipe: Any, events: Sequence[tuple[str, str]]) -> None:
        for eid, body in events:
            pipe.xadd(self._key("events"), {"id": eid, "body": body})

    async def commit_batch(
        self,
        generation: int,
        participants: Sequence[ParticipantUpdate],
        seen: Mapping[str, Sequence[int]],
        events: Sequence[tuple[str, str]],
    ) -> None:
        """Record the batch and enqueue its events in one fenced transaction."""

        def write(pipe: Any) -> None:
            if participants:
                pipe.hset(self._key("parts"), mapping={
                    str(p.id): f"{p.referrals}|{p.unlisted_times}" for p in participants
                })  # fmt: skip
                raws = {str(p.id): p.raw for p in participants if p.raw}
                if raws:
                    pipe.hset(self._key("raw"), mapping=raws)
                pipe.zadd(self._key("listed"), {str(p.id): generation for p in participants})
            for source, ids in seen.items():
                if ids:
                    pipe.sadd(self._key(f"seen:{source}"), *[str(i) for i in ids])
            self._enqueue(pipe, events)

        await self._fenced(write)

    async def unlisted_candidates(self, generation: int, limit: int) -> list[tuple[int, int, str]]:
        """Return the listed participants the poll *generation* did not see."""
        ids = await self.redis.zrangebyscore(
            self._key("listed"), "-inf", f"({generation}", start=0, num=limit
        )
        if not ids:
            return []
        parts = await self.redis.hmget(self._key("parts"), ids)
        raws = await self.redis.hmget(self._key("raw"), ids)
        out = []
        for pid, part, raw in zip(ids, parts, raws, strict=True):
            times = int(_text(part).partition("|")[2]) if part is not None else 0
            out.append((int(_text(pid)), times, _text(raw) if raw is not None else "{}"))
        return out

    async def commit_unlisted(self, ids: Sequence[int], events: Sequence[tuple[str, str]]) -> None:
        """Mark *ids* unlisted and enqueue *events* in one fenced transaction."""
        known = await self.known_participants(ids)

        def write(pipe: Any) -> None:
            pipe.zrem(self._key("listed"), *[str(i) for i in ids])
            pipe.hset(self._key("parts"), mapping={
                str(pid): f"{k.referrals}|{k.unlisted_times + 1}" for pid, k in known.items()
            })  # fmt: skip
            self._enqueue(pipe, events)

        await self._fenced(write)

    async def finish_poll(self, generation: int) -> None:
        """Record the baseline and give up the poll lock."""
        await self._fenced(lambda pipe: pipe.hset(self._key("meta"), "baselined", 1))
        await self._release()

    async def abort_poll(self) -> None:
        """Give up the poll lock at once, so another worker can poll without waiting it out."""
        if self._token is not None:
            await self._release()

    async def claim(self, limit: int, lease: float) -> list[Pending]:
        """Events whose consumer died (idle past *lease*) first, then new ones."""
        stream = self._key("events")
        reclaimed = await self.redis.xautoclaim(
            stream, _GROUP, self.consumer, min_idle_time=int(lease * 1000),
            start_id="0-0", count=limit,
        )  # fmt: skip
        entries = list(reclaimed[1])
        if len(entries) < limit:
            fresh = await self.redis.xreadgroup(
                _GROUP, self.consumer, {stream: ">"}, count=limit - len(entries)
            )
            for _, items in fresh or ():
                entries.extend(items)
        out = []
        for entry_id, fields in entries:
            if not fields:  # deleted while pending
                continue
            body = fields.get(b"body", fields.get("body"))
            eid = fields.get(b"id", fields.get("id"))
            out.append(Pending(_text(eid), _text(body), _text(entry_id)))
        return out

    async def ack(self, pending: Pending) -> None:
        """XACK and XDEL the event in one MULTI."""
        stream = self._key("events")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, _GROUP, pending.handle)
            pipe.xdel(stream, pending.handle)
            await pipe.execute()

    async def outbox_size(self) -> int:
        """Events not yet acknowledged."""
        return int(await self.redis.xlen(self._key("events")))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
