"""Distributed signups import: the task, its worker wiring, and the enqueuing side."""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import attrs
from taskiq import (
    AsyncBroker,
    AsyncTaskiqDecoratedTask,
    Context,
    TaskiqDepends,
    TaskiqEvents,
    TaskiqState,
)

from irefer_async import (
    APIError,
    ConfigurationError,
    InvalidRequestError,
    IReferClient,
    IReferError,
    RateLimit,
    WriteOutcomeUnknownError,
)

from ._ledger import DEFAULT_LEASE_SECONDS, Ledger

__all__ = [
    "EnqueueError",
    "ImportSettings",
    "RowsInFlight",
    "enqueue_rows",
    "install_signup_import",
    "read_csv_chunks",
    "submit_chunk",
    "submit_row",
]


class RowsInFlight(IReferError):
    """Rows of the chunk stayed leased by another worker past the wait: retry the job later."""


class EnqueueError(IReferError):
    """Enqueuing stopped before every chunk was sent (``sent`` chunks, ``rows`` rows were)."""

    def __init__(self, message: str, *, sent: int, rows: int) -> None:
        """Say what failed and how much was sent before it."""
        super().__init__(message)
        self.sent = sent
        self.rows = rows


@attrs.frozen
class ImportSettings:
    """How each worker process builds its client, limiter and ledger.

    `from_env` reads ``REDIS_URL``, ``IREFER_CAMPAIGN_ID``, ``IREFER_RATE``,
    ``IREFER_WORKERS``, ``IREFER_CONCURRENCY``, ``IREFER_LEDGER``, ``IREFER_LEASE_SECONDS``
    and ``IREFER_HEADROOM``; the client reads its keys (and ``IREFER_BASE_URL``) from the
    environment as usual.
    """

    #: Redis for the shared limiter and the ledger.
    redis_url: str
    #: The campaign the rows go to.
    campaign_id: int
    #: Requests per second shared by every worker process of every host.
    rate: float = 5.0
    #: Worker processes sharing the rate (only for the limiter's local fallback).
    workers: int = 1
    #: Requests in flight per worker process.
    concurrency: int = 8
    #: The ledger's key prefix (default: ``irefer:import:<campaign>``).
    ledger: str | None = None
    #: Seconds a row's lease outlives a dead worker.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: Fraction of *rate* left unused. The server counts requests by arrival, and network
    #: and scheduling delays bunch requests sent evenly: with 15% kept free, delays of up to
    #: about 0.18 s between requests keep every 1-second window at the server within
    #: ``rate + 1`` (measured at a limit of 200, 3 workers on a 2-core machine: 209 with no
    #: headroom; 189 with 10%, but 203 with 10% under heavy load; see docs/taskiq.md).
    headroom: float = 0.15

    def __attrs_post_init__(self) -> None:
        """Refuse impossible values before any worker starts."""
        if self.rate <= 0:
            raise ConfigurationError(f"rate must be > 0 requests/s, got {self.rate!r}")
        if self.workers < 1 or self.concurrency < 1:
            raise ConfigurationError("workers and concurrency must be >= 1")
        if not 0 <= self.headroom < 1:
            raise ConfigurationError(f"headroom is a fraction in [0, 1), got {self.headroom!r}")

    @property
    def limiter_rate(self) -> float:
        """The rate the shared limiter enforces: *rate* less the headroom."""
        return self.rate * (1 - self.headroom)

    @property
    def ledger_prefix(self) -> str:
        """The ledger's key prefix."""
        return self.ledger or f"irefer:import:{self.campaign_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ImportSettings:
        """Read the settings from *env* (default: ``os.environ``); names a missing one."""
        env = os.environ if env is None else env
        campaign = env.get("IREFER_CAMPAIGN_ID")
        if not campaign or not campaign.strip().isdigit():
            raise ConfigurationError("set IREFER_CAMPAIGN_ID to the campaign's numeric id")
        try:
            return cls(
                redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                campaign_id=int(campaign),
                rate=float(env.get("IREFER_RATE", "5")),
                workers=int(env.get("IREFER_WORKERS", "1")),
                concurrency=int(env.get("IREFER_CONCURRENCY", "8")),
                ledger=env.get("IREFER_LEDGER") or None,
                lease_seconds=float(env.get("IREFER_LEASE_SECONDS", str(DEFAULT_LEASE_SECONDS))),
                headroom=float(env.get("IREFER_HEADROOM", "0.15")),
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad import setting in the environment: {exc}") from None


async def _landed(client: IReferClient, email: str) -> bool:
    """Whether the campaign already has this participant (a read: safe to repeat)."""
    try:
        await client.referrer_stats(email)
    except APIError:
        return False
    return True


async def _lease(ledger: Ledger, email: str, patience: float) -> bool | None:
    """Take the row's lease (waiting out a live holder); None if it has an outcome already."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    delay = 0.05
    while True:
        if await ledger.outcome(email) is not None:
            return None
        first = await ledger.take(email)
        if first is not None:
            return first
        if loop.time() >= give_up:
            raise RowsInFlight(f"a row stayed leased by another worker for {patience:g} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, ledger.lease_seconds / 4)


async def submit_row(  # noqa: PLR0911 - one return per outcome
    client: IReferClient, ledger: Ledger, row: Mapping[str, str], *, max_wait: float | None = None
) -> str:
    """Send one signup row unless the ledger has its outcome; return what happened.

    ``skipped`` (an outcome was recorded earlier), ``sent``, ``reconciled`` (an earlier
    attempt landed), ``rejected`` (an API error, recorded), ``invalid`` (refused by the SDK's
    checks, never sent), ``unknown`` (the SDK could not tell whether the write landed:
    recorded as such, never resent). A row another worker holds is waited for (at most
    *max_wait*, default twice the lease), then `RowsInFlight`.
    Other errors leave the row without an outcome, marked started, and propagate.
    """
    email = row["email"].strip().lower()
    if not email:
        raise InvalidRequestError("a row has an empty email")
    first = await _lease(ledger, email, 2 * ledger.lease_seconds if max_wait is None else max_wait)
    if first is None:
        return "skipped"
    try:
        if await ledger.outcome(email) is not None:  # finished between our check and take
            await ledger.release(email)
            return "skipped"
        if not first and await _landed(client, email):
            await ledger.finish(email, {"status": "landed earlier"})
            return "reconciled"
        if not await ledger.renew(email):  # our lease ran out (Redis unreachable a while)
            raise RowsInFlight("the row's lease ran out before it was sent; not sending it")
        try:
            signup = await client.new_signup(
                email, name=row.get("name") or None, referrer_code=row.get("referrer_code") or None
            )
        except WriteOutcomeUnknownError as exc:
            await ledger.finish(email, {"status": "unknown", "error": type(exc).__name__})
            return "unknown"
        except InvalidRequestError as exc:  # refused by the SDK before anything was sent
            await ledger.finish(email, {"status": "invalid", "error": str(exc)})
            return "invalid"
        except APIError as exc:
            if await _landed(client, email):  # "already registered": an earlier attempt landed
                await ledger.finish(email, {"status": "landed earlier"})
                return "reconciled"
            await ledger.finish(email, {"status": "rejected", "error": exc.error})
            return "rejected"
        await ledger.finish(email, {"status": "sent", "referral_link": signup.referral_link})
        return "sent"
    except BaseException:
        # Transport errors after the client's retries, cancellation...: the row stays
        # "started", so the next delivery reads before it writes.
        await asyncio.shield(ledger.release(email))
        raise


async def submit_chunk(
    client: IReferClient, ledger: Ledger, rows: Iterable[Mapping[str, str]]
) -> dict[str, int]:
    """Send a chunk's rows concurrently (the client caps requests in flight); count outcomes.

    Raises (so the broker delivers the job again) when a row has no outcome yet; the rows
    that finished are in the ledger and are skipped on that delivery.
    """
    results = await asyncio.gather(
        *(submit_row(client, ledger, row) for row in rows), return_exceptions=True
    )
    counts: dict[str, int] = {}
    for result in results:
        name = result if isinstance(result, str) else "error"
        counts[name] = counts.get(name, 0) + 1
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        if not isinstance(failure, Exception):
            raise failure  # cancellation, exit
        raise RowsInFlight(f"{counts.get('error', 0)} rows without an outcome: {counts}") from (
            failure
        )
    return counts


def install_signup_import(
    broker: AsyncBroker,
    settings: ImportSettings,
    *,
    task_name: str = "irefer.submit_signups",
) -> AsyncTaskiqDecoratedTask[[list[dict[str, str]]], dict[str, int]]:
    """Register the worker's startup/shutdown hooks and the import task on *broker*.

    Each worker process opens one Redis client, one `irefer_async.redis.RedisRateLimiter`
    (the *settings*' rate shared by every process), one `irefer_async.IReferClient` and one
    `Ledger` at startup and closes them at shutdown. Returns the task: ``await
    task.kiq(rows)`` enqueues a chunk (a list of ``{"email", "name", "referrer_code"}``).
    A state that already has ``irefer_client`` (a test, an embedding application) is used
    as it is.
    """

    @broker.on_event(TaskiqEvents.WORKER_STARTUP)
    async def open_client(state: TaskiqState) -> None:
        if getattr(state, "irefer_client", None) is not None:
            return
        import redis.asyncio as aioredis  # noqa: PLC0415 - the taskiq extra brings it

        from irefer_async.redis import RedisRateLimiter  # noqa: PLC0415

        state.irefer_redis = aioredis.Redis.from_url(settings.redis_url)
        limiter = RedisRateLimiter(
            state.irefer_redis, RateLimit(settings.limiter_rate, burst=1),
            name=f"campaign-{settings.campaign_id}", fallback="local",
            instances=settings.workers,
        )  # fmt: skip
        state.irefer_client = IReferClient(
            campaign_id=settings.campaign_id, rate_limit=limiter,
            max_concurrency=settings.concurrency,
        )  # fmt: skip
        state.irefer_ledger = Ledger(
            state.irefer_redis, settings.ledger_prefix, lease_seconds=settings.lease_seconds
        )
        state.irefer_owned = True

    @broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
    async def close_client(state: TaskiqState) -> None:
        if getattr(state, "irefer_owned", False):
            await state.irefer_ledger.close()
            await state.irefer_client.aclose()
            await state.irefer_redis.aclose()

    async def submit_signups(
        rows: list[dict[str, str]],
        context: Context = TaskiqDepends(),  # noqa: B008 - taskiq's dependency injection
    ) -> dict[str, int]:
        state = context.state
        return await submit_chunk(state.irefer_client, state.irefer_ledger, rows)

    submit_signups.__doc__ = "Send a chunk of signup rows (see `submit_chunk`)."
    task: Any = broker.task(task_name=task_name, retry_on_error=True)(submit_signups)
    return cast("AsyncTaskiqDecoratedTask[[list[dict[str, str]]], dict[str, int]]", task)


def read_csv_chunks(path: str | os.PathLike[str], size: int) -> Iterator[list[dict[str, str]]]:
    """Yield the CSV's rows (``email``, ``name``, ``referrer_code``), *size* at a time."""
    if size < 1:
        raise InvalidRequestError(f"chunk size must be >= 1, got {size}")
    chunk: list[dict[str, str]] = []
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "email" not in reader.fieldnames:
            raise InvalidRequestError(f"{path}: the CSV needs a header with an 'email' column")
        for row in reader:
            if not (row.get("email") or "").strip():
                raise InvalidRequestError(
                    f"{path}, line {reader.line_num}: the row has no email (nothing enqueued "
                    "from here on; fix the file and enqueue again: finished rows are skipped)"
                )
            chunk.append({k: v for k, v in row.items() if k and v})
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def enqueue_rows(
    task: AsyncTaskiqDecoratedTask[[list[dict[str, str]]], dict[str, int]],
    chunks: Iterable[list[dict[str, str]]] | AsyncIterator[list[dict[str, str]]],
    *,
    timeout: float = 10.0,
) -> tuple[int, int]:
    """Enqueue each chunk as one job; return ``(jobs, rows)`` sent.

    The broker must be started. Each ``kiq`` is bounded by *timeout* seconds (Redis down or
    black-holed). Raises `EnqueueError` (with what was sent before) when a chunk could not
    be enqueued, when reading *chunks* failed (a bad row, an unreadable file), and when
    there was nothing to send.
    """
    jobs = rows = 0

    async def send(chunk: list[dict[str, str]]) -> None:
        nonlocal jobs, rows
        try:
            await asyncio.wait_for(task.kiq(chunk), timeout)
        except Exception as exc:  # whatever the broker raises ends the same way
            raise EnqueueError(
                f"could not enqueue chunk {jobs + 1} ({type(exc).__name__}: {exc}); "
                f"{jobs} jobs / {rows} rows were enqueued before it",
                sent=jobs, rows=rows,
            ) from exc  # fmt: skip
        jobs += 1
        rows += len(chunk)

    try:
        if isinstance(chunks, AsyncIterator):
            async for chunk in chunks:
                await send(chunk)
        else:
            for chunk in chunks:
                await send(chunk)
    except (IReferError, OSError, ValueError) as exc:
        if isinstance(exc, EnqueueError):
            raise
        raise EnqueueError(
            f"reading the input failed ({exc}); {jobs} jobs / {rows} rows were enqueued "
            "before it",
            sent=jobs, rows=rows,
        ) from exc  # fmt: skip
    if jobs == 0:
        raise EnqueueError("no row to enqueue (empty input)", sent=0, rows=0)
    return jobs, rows
