"""A taskiq worker that submits signups to iRefer, with ONE client per worker process.

The client is opened when the worker process starts (``WORKER_STARTUP``) and closed when it
stops (``WORKER_SHUTDOWN``); tasks get it through a dependency. One client per process, not
per task: it owns the connection pool, the rate limiter and the concurrency cap, and it is
bound to the process's event loop.

Run a worker, then send tasks from anywhere (see README.md); a worker needs a real broker
(here Redis Streams: ``pip install taskiq-redis``), named by ``TASKIQ_BROKER_URL``::

    export IREFER_LICENSE_KEY=W4qL... IREFER_API_KEY=... IREFER_CAMPAIGN_ID=2605
    export TASKIQ_BROKER_URL=redis://127.0.0.1:6379/1
    taskiq worker examples.taskiq_signups.worker:broker
    python -m examples.taskiq_signups.send ann@example.com    # another shell, same variables

Without ``TASKIQ_BROKER_URL`` the broker is in-memory: ``send`` runs the tasks in its own
process (handy to try it out), and ``taskiq worker`` says it needs the variable.

The rate limit is per process: with N worker processes, give each ``rate / N`` (or share one
limit through Redis: see the ``taskiq_worker`` example and docs/redis-limiter.md).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from taskiq import AsyncBroker, InMemoryBroker, TaskiqDepends, TaskiqEvents, TaskiqState

from irefer_async import APIError, IReferClient, RateLimit

#: Worker processes sharing the campaign's budget.
WORKERS = int(os.environ.get("IREFER_WORKERS", "1"))
#: The campaign's budget in requests per second, split between the worker processes.
RATE = float(os.environ.get("IREFER_RATE", "5"))


class LocalBroker(InMemoryBroker):
    """The in-memory broker, saying what to do when `taskiq worker` is pointed at it."""

    def listen(self) -> Any:
        """Refuse: an in-memory broker runs tasks in the sending process only."""
        raise RuntimeError(
            "the in-memory broker runs tasks in the sending process; to run `taskiq worker`, "
            "set TASKIQ_BROKER_URL=redis://HOST:6379/1 (pip install taskiq-redis)"
        )


def build_broker() -> AsyncBroker:
    """Build the broker: Redis Streams when TASKIQ_BROKER_URL is set, else in-memory.

    The Redis one has a Redis result backend, so ``send`` gets the results; the in-memory
    one serves tests and trying it out. Any acknowledging taskiq broker works the same way.
    """
    url = os.environ.get("TASKIQ_BROKER_URL")
    if not url:
        return LocalBroker()
    from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker  # noqa: PLC0415

    return RedisStreamBroker(url).with_result_backend(RedisAsyncResultBackend(url))


broker = build_broker()


def make_client() -> IReferClient:
    """Build the worker's client; credentials and campaign come from the environment."""
    return IReferClient(
        campaign_id=os.environ.get("IREFER_CAMPAIGN_ID"),
        rate_limit=RateLimit(RATE / WORKERS),
        max_concurrency=8,
    )


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_client(state: TaskiqState) -> None:
    """Open this worker process's one client."""
    state.irefer = make_client()


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_client(state: TaskiqState) -> None:
    """Close it when the worker stops."""
    await state.irefer.aclose()


def irefer(state: Annotated[TaskiqState, TaskiqDepends()]) -> IReferClient:
    """Return the process's client (the dependency tasks declare)."""
    client: IReferClient = state.irefer
    return client


#: How a task asks for the client.
Irefer = Annotated[IReferClient, TaskiqDepends(irefer)]


@broker.task
async def submit_signup(
    email: str,
    name: str | None = None,
    referrer_code: str | None = None,
    client: IReferClient = TaskiqDepends(irefer),  # noqa: B008 - taskiq's dependency idiom
) -> dict[str, Any]:
    """Submit one signup; an address already registered is reported, not raised."""
    try:
        signup = await client.new_signup(email, name=name, referrer_code=referrer_code)
    except APIError as exc:
        # Not retryable: the input is refused (most often: already signed up).
        return {"email": email, "status": "refused", "error_code": exc.error_code}
    # Other IReferErrors propagate: let the broker's retry middleware redeliver the task.
    # (A WriteOutcomeUnknownError should go to a human or a reconciliation job, not a retry.)
    return {"email": signup.email, "status": "ok", "referral_link": signup.referral_link}


@broker.task
async def submit_signups(
    rows: list[dict[str, Any]],
    client: Irefer,  # the Annotated form of the same
) -> dict[str, Any]:
    """Submit a chunk of signups (tens to hundreds of rows per message) through the bulk API."""
    failed: list[dict[str, Any]] = []
    async with client.bulk_new_signups(rows) as run:
        async for outcome in run:
            if not outcome.ok:
                failed.append(
                    {"index": outcome.index, "status": str(outcome.status), "key": outcome.key}
                )
    return {"ok": run.summary.ok, "failed": failed}
