"""The taskiq worker recipe (examples/taskiq_worker): chunks, the ledger, redelivery.

The worker runs on taskiq's InMemoryBroker with its client wired to the in-process emulator
and its limiter and ledger on the real redis-server.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("redis")
pytest.importorskip("taskiq")
import redis.asyncio as aioredis

from irefer_async import RateLimit
from irefer_async.redis import RedisRateLimiter
from irefer_async.testing import Emulator

#: Every test here needs a redis-server (started by tests/redis/conftest.py).
pytestmark = pytest.mark.system

APP = Path(__file__).parents[2] / "examples" / "taskiq_worker" / "app.py"


def load_app() -> ModuleType:
    """A fresh copy of the example's module (and so a fresh broker) per test."""
    spec = importlib.util.spec_from_file_location(f"taskiq_worker_app_{id(object())}", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # taskiq resolves the task's module by name
    spec.loader.exec_module(module)
    return module


def rows(n: int, prefix: str = "row") -> list[dict[str, str]]:
    return [{"email": f"{prefix}-{i}@example.com", "name": f"Row {i}"} for i in range(n)]


def signups(emulator: Emulator) -> list[str]:
    return [e.params["email"] for e in emulator.journal if e.method == "newSignup"]


@pytest.fixture
async def worker(
    redis_client: aioredis.Redis, key_name: str
) -> AsyncIterator[tuple[Any, Emulator]]:
    """The example app with its worker state wired to the emulator and the test Redis."""
    app = load_app()
    emulator = Emulator(seed=1)
    limiter = RedisRateLimiter(redis_client, RateLimit(200, burst=1), name=key_name)
    client = emulator.client(rate_limit=limiter, max_concurrency=16)
    state = app.broker.state
    state.client = client
    state.redis = redis_client
    state.ledger = app.Ledger(redis_client, f"test-ledger:{key_name}")
    await app.broker.startup()
    async with client:
        yield app, emulator
    await app.broker.shutdown()
    sys.modules.pop(app.__name__, None)


async def test_a_chunk_is_sent_once_and_a_redelivered_job_sends_nothing(
    worker: tuple[Any, Emulator],
) -> None:
    """Every row of a chunk is sent once; delivering the same job again skips them all."""
    app, emulator = worker
    chunk = rows(40)
    first = await (await app.submit_signups.kiq(chunk)).wait_result(timeout=30)
    assert not first.is_err, first.error
    assert first.return_value == {"sent": 40}
    assert sorted(signups(emulator)) == sorted(r["email"] for r in chunk)
    assert all(emulator.participant(r["email"]) is not None for r in chunk)

    again = await (await app.submit_signups.kiq(chunk)).wait_result(timeout=30)
    assert again.return_value == {"skipped": 40}
    assert len(signups(emulator)) == 40  # no second request for any row


async def test_a_row_started_but_never_recorded_is_read_before_it_is_sent(
    worker: tuple[Any, Emulator],
) -> None:
    """A worker died after sending: the next delivery finds the signup and does not resend."""
    app, emulator = worker
    ledger = app.broker.state.ledger
    chunk = rows(5, "crash")
    landed, lost = chunk[0]["email"], chunk[1]["email"]
    emulator.add_participant(landed)  # sent, answered, then the worker died
    for email in (landed, lost):  # both were started by the dead worker
        assert await ledger.take(email) is True
        await ledger.release(email)

    result = await (await app.submit_signups.kiq(chunk)).wait_result(timeout=30)
    assert result.return_value == {"reconciled": 1, "sent": 4}
    assert landed not in signups(emulator)
    assert (await ledger.outcome(landed)) == {"status": "landed earlier"}
    assert (await ledger.outcome(lost))["status"] == "sent"


async def test_a_row_leased_by_another_worker_fails_the_job_and_is_sent_on_redelivery(
    worker: tuple[Any, Emulator], redis_client: aioredis.Redis
) -> None:
    """A row another worker holds is left to it; the job is retried for that row only."""
    app, emulator = worker
    state = app.broker.state
    chunk = rows(6, "busy")
    held = chunk[2]["email"]
    await redis_client.set(f"{state.ledger.prefix}:lease:{held}", "1", ex=60)

    with pytest.raises(app.RowsInFlight):
        await app.submit_chunk(state.client, state.ledger, chunk)
    assert held not in signups(emulator) and len(signups(emulator)) == 5

    await redis_client.delete(f"{state.ledger.prefix}:lease:{held}")  # its holder died
    assert await app.submit_chunk(state.client, state.ledger, chunk) == {"skipped": 5, "sent": 1}
    assert signups(emulator).count(held) == 1


async def test_a_rejected_row_is_recorded_not_retried(worker: tuple[Any, Emulator]) -> None:
    """An API error (not a duplicate) is an answer: recorded in the ledger, never resent."""
    app, emulator = worker
    state = app.broker.state
    chunk = [{"email": "ok@example.com"}, {"email": "bad@example.com", "referrer_code": "nope"}]
    counts = await app.submit_chunk(state.client, state.ledger, chunk)
    assert counts == {"sent": 1, "rejected": 1}
    assert (await state.ledger.outcome("bad@example.com"))["status"] == "rejected"
    assert await app.submit_chunk(state.client, state.ledger, chunk) == {"skipped": 2}
    assert signups(emulator).count("bad@example.com") == 1
