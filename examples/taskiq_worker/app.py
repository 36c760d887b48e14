"""A taskiq worker that submits signups to iRefer under one rate limit shared by all workers.

The recipe (docs/redis-limiter.md explains each choice):

* one :class:`IReferClient` per worker process, opened at worker startup, closed at shutdown;
  its ``rate_limit`` is a :class:`RedisRateLimiter`, so every process of every host draws
  from one budget;
* a job carries a *chunk* of rows (tens to hundreds), not one row: fewer messages, and the
  client's concurrency cap keeps the chunk's requests overlapping;
* a *ledger* in Redis, keyed by the row's key (the email), records finished rows, so a job
  delivered twice (a worker died before acking it, a visibility timeout ran out) does not
  send a finished row again; a row that was started but never recorded is checked with a
  read (``referrer_stats``) before it is sent again.

Run a worker with ``taskiq worker app:broker`` (see README.md); enqueue with enqueue.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends, TaskiqEvents, TaskiqState
from taskiq.middlewares import SimpleRetryMiddleware

from irefer_async import APIError, IReferClient, RateLimit
from irefer_async.redis import RedisRateLimiter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CAMPAIGN_ID = int(os.environ.get("IREFER_CAMPAIGN_ID", "2605"))
#: The campaign's budget, shared by every worker process (requests per second).
RATE = float(os.environ.get("IREFER_RATE", "5"))
#: Worker processes sharing the budget (only for the limiter's local fallback).
WORKERS = int(os.environ.get("IREFER_WORKERS", "1"))
#: Requests in flight per worker process.
CONCURRENCY = int(os.environ.get("IREFER_CONCURRENCY", "8"))
#: A row left "started" longer than this is presumed abandoned by a dead worker.
LEASE_SECONDS = 120


def build_broker() -> AsyncBroker:
    """Redis Streams (acknowledged, redelivered) when TASKIQ_BROKER_URL is set, else in-memory."""
    url = os.environ.get("TASKIQ_BROKER_URL")
    if url:
        # Optional: only this deployment needs taskiq-redis (pip install taskiq-redis).
        from taskiq_redis import RedisStreamBroker  # noqa: PLC0415

        broker: AsyncBroker = RedisStreamBroker(url)
    else:
        broker = InMemoryBroker()
    # A job that raises is delivered again; the ledger makes that harmless.
    return broker.with_middlewares(SimpleRetryMiddleware(default_retry_count=5))


broker = build_broker()


class Ledger:
    """Finished and started rows of one campaign, in two Redis keys.

    ``<prefix>:done`` is a hash: row key -> JSON outcome. ``<prefix>:lease:<row key>`` is a
    short-lived key held while a worker submits the row; it outlives a crash by at most
    ``lease_seconds`` and then lets another delivery take the row over.
    """

    def __init__(
        self, redis: aioredis.Redis, prefix: str, lease_seconds: int = LEASE_SECONDS
    ) -> None:
        """Keep the ledger of campaign keys under ``prefix`` on ``redis``."""
        self.redis = redis
        self.prefix = prefix
        self.lease_seconds = lease_seconds

    async def outcome(self, key: str) -> dict[str, Any] | None:
        """Return the recorded outcome of a finished row, or None."""
        raw = await self.redis.hget(f"{self.prefix}:done", key)
        return None if raw is None else dict(json.loads(raw))

    async def take(self, key: str) -> bool | None:
        """Lease the row for this delivery.

        Returns True on the first attempt, False if an earlier attempt may have sent the
        row, None if another worker holds it right now.
        """
        lease = f"{self.prefix}:lease:{key}"
        if not await self.redis.set(lease, "1", nx=True, ex=self.lease_seconds):
            return None
        # The "started" mark survives the lease: it tells the next delivery to check first.
        return bool(await self.redis.hsetnx(f"{self.prefix}:started", key, "1"))

    async def finish(self, key: str, outcome: Mapping[str, Any]) -> None:
        """Record the row's outcome and release its lease."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{self.prefix}:done", key, json.dumps(dict(outcome)))
            pipe.hdel(f"{self.prefix}:started", key)
            pipe.delete(f"{self.prefix}:lease:{key}")
            await pipe.execute()

    async def release(self, key: str) -> None:
        """Give the row back (its outcome is unknown): another delivery will check it."""
        await self.redis.delete(f"{self.prefix}:lease:{key}")


class RowsInFlight(Exception):
    """Some rows of the chunk were leased by another worker: deliver the job again later."""


async def submit_row(client: IReferClient, ledger: Ledger, row: Mapping[str, str]) -> str:
    """Submit one signup row unless the ledger says it is done; return what happened."""
    email = row["email"].strip().lower()
    if await ledger.outcome(email) is not None:
        return "skipped"
    first_attempt = await ledger.take(email)
    if first_attempt is None:
        return "busy"
    try:
        if not first_attempt and await landed(client, email):
            await ledger.finish(email, {"status": "landed earlier"})
            return "reconciled"
        try:
            signup = await client.new_signup(
                email, name=row.get("name") or None, referrer_code=row.get("referrer_code") or None
            )
        except APIError as exc:
            if await landed(client, email):  # "already registered": an earlier attempt landed
                await ledger.finish(email, {"status": "landed earlier"})
                return "reconciled"
            await ledger.finish(email, {"status": "rejected", "error": exc.error})
            return "rejected"
        await ledger.finish(email, {"status": "sent", "referral_link": signup.referral_link})
        return "sent"
    except BaseException:
        # Transport errors after the client's retries, WriteOutcomeUnknownError...: the row
        # stays "started", so the next delivery reads before it writes.
        await ledger.release(email)
        raise


async def landed(client: IReferClient, email: str) -> bool:
    """Whether the campaign already has this participant (a read: safe to repeat)."""
    try:
        await client.referrer_stats(email)
    except APIError:
        return False
    return True


async def submit_chunk(
    client: IReferClient, ledger: Ledger, rows: list[dict[str, str]]
) -> dict[str, int]:
    """Submit a chunk concurrently (the client caps requests in flight); count the outcomes."""
    results = await asyncio.gather(
        *(submit_row(client, ledger, row) for row in rows), return_exceptions=True
    )
    counts: dict[str, int] = {}
    for result in results:
        name = result if isinstance(result, str) else "error"
        counts[name] = counts.get(name, 0) + 1
    if counts.get("error") or counts.get("busy"):
        # Finished rows are in the ledger: raising makes the broker deliver the job again,
        # and only the unfinished rows are sent on that delivery.
        cause = next((r for r in results if isinstance(r, BaseException)), None)
        raise RowsInFlight(counts) from cause
    return counts


# -- the worker's lifecycle and the task --------------------------------------------------------


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_client(state: TaskiqState) -> None:
    """One Redis pool, one limiter and one IReferClient per worker process."""
    if getattr(state, "client", None) is not None:
        return  # already wired (a test, or an embedding application)
    state.redis = aioredis.Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(
        state.redis, RateLimit(RATE, burst=1), name=f"campaign-{CAMPAIGN_ID}",
        fallback="local", instances=WORKERS,
    )  # fmt: skip
    # License and API keys come from IREFER_LICENSE_KEY and IREFER_API_KEY.
    state.client = IReferClient(
        campaign_id=CAMPAIGN_ID, rate_limit=limiter, max_concurrency=CONCURRENCY
    )
    state.ledger = Ledger(state.redis, f"irefer:ledger:{CAMPAIGN_ID}")
    state.owns_client = True


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_client(state: TaskiqState) -> None:
    """Close what open_client opened."""
    if getattr(state, "owns_client", False):
        await state.client.aclose()
        await state.redis.aclose()


@broker.task(retry_on_error=True)
async def submit_signups(
    rows: list[dict[str, str]],
    context: Context = TaskiqDepends(),  # noqa: B008 (taskiq's dependency injection)
) -> dict[str, int]:
    """Submit a chunk of rows: dicts with ``email`` and optional ``name``, ``referrer_code``."""
    state = context.state
    return await submit_chunk(state.client, state.ledger, rows)
