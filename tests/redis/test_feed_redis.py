"""RedisFeedStore: several workers share one feed; each event to one worker; dead workers' events move."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from irefer_async.feed import FeedEvent, RewardFeed
from irefer_async.redis import PollLockLostError, RedisFeedStore
from irefer_async.testing import Emulator

#: Every test here needs a redis-server (started by tests/redis/conftest.py).
pytestmark = pytest.mark.system


def _worker(emulator: Emulator, redis: Any, name: str, **kw: Any) -> RewardFeed:
    return RewardFeed(emulator.client(), store=RedisFeedStore(redis, name=name), **kw)


async def _drain(feed: RewardFeed) -> list[FeedEvent[Any]]:
    got = []
    while (event := await feed.next_event(poll=False)) is not None:
        got.append(event)
        await feed.ack(event)
    return got


async def test_baseline_then_events_like_the_sqlite_store(redis_client: Any, key_name: str) -> None:
    """First poll is the baseline; a referral afterwards: joined, credited and the reward."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    async with _worker(emulator, redis_client, key_name) as feed:
        assert (await feed.poll()).baseline
        assert await _drain(feed) == []
        emulator.add_participant("bob@example.com", referrer_code=ann.code)
        await feed.poll()
        events = await _drain(feed)
        emulator.hide_participants(["bob@example.com"])
        await feed.poll()
        gone = await _drain(feed)
        assert await feed.store.outbox_size() == 0
    assert sorted(e.type for e in events) == [
        "participant.joined", "referral.credited", "reward.triggered"
    ]  # fmt: skip
    assert [e.type for e in gone] == ["participant.unlisted"]


async def test_two_workers_share_the_events_each_to_one(redis_client: Any, key_name: str) -> None:
    """Two workers on one feed: together they get every event, no event goes to both."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    one = _worker(emulator, redis_client, key_name)
    two = _worker(emulator, redis_client, key_name)
    async with one, two:
        await one.poll()
        for i in range(40):
            emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
        reports = await asyncio.gather(one.poll(), two.poll())
        assert sorted(r.skipped for r in reports) == [False, True]  # one poller at a time
        got_one: list[FeedEvent[Any]] = []
        got_two: list[FeedEvent[Any]] = []

        async def take(feed: RewardFeed, into: list[FeedEvent[Any]]) -> None:
            while (event := await feed.next_event(poll=False)) is not None:
                into.append(event)
                await asyncio.sleep(0)  # let the other worker take some
                await feed.ack(event)

        await asyncio.gather(take(one, got_one), take(two, got_two))
    ids_one = {e.id for e in got_one}
    ids_two = {e.id for e in got_two}
    assert not ids_one & ids_two
    produced = next(r for r in reports if not r.skipped).total_events
    assert len(ids_one | ids_two) == len(got_one) + len(got_two) == produced >= 80


async def test_a_dead_workers_event_goes_to_another_after_the_lease(
    redis_client: Any, key_name: str
) -> None:
    """A worker takes an event and dies unacknowledged: another gets it, same id, after the lease."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    dead = _worker(emulator, redis_client, key_name, lease=0.2)
    alive = _worker(emulator, redis_client, key_name, lease=0.2)
    async with alive:
        await dead.open()
        await dead.poll()
        emulator.add_participant("bob@example.com", referrer_code=ann.code)
        await dead.poll()
        taken = await dead.next_event(poll=False)
        assert taken is not None
        dead._buffer.clear()
        started = time.monotonic()
        again: list[FeedEvent[Any]] = []
        while taken.id not in {e.id for e in again}:
            assert time.monotonic() - started < 10
            again += await _drain(alive)
            await asyncio.sleep(0.05)
    assert time.monotonic() - started >= 0.2 * 0.9
    redelivered = next(e for e in again if e.id == taken.id)
    assert redelivered.to_json() == taken.to_json()
    assert len(again) == 3  # its whole unacknowledged batch moved: joined, credited, reward
    await dead.close()


async def test_a_poller_whose_lock_expired_cannot_write(redis_client: Any, key_name: str) -> None:
    """The poll lock fences writes: after it passes to another worker, the old poller's commit fails."""
    store = RedisFeedStore(redis_client, name=key_name, poll_lock=5)
    other = RedisFeedStore(redis_client, name=key_name, poll_lock=5)
    await store.open()
    cursor = await store.begin_poll()
    assert cursor is not None
    assert await other.begin_poll() is None  # held
    await redis_client.delete(f"irefer:feed:{key_name}:lock")  # as if it expired
    assert await other.begin_poll() is not None
    with pytest.raises(PollLockLostError):
        await store.commit_batch(cursor.generation, (), {}, [("evt_x", "{}")])
    assert await store.outbox_size() == 0


async def test_a_failed_poll_gives_the_lock_up_at_once(redis_client: Any, key_name: str) -> None:
    """The API failing mid-poll: the lock is released, another worker polls right away."""
    emulator = Emulator()
    emulator.add_participant("ann@example.com")
    emulator.inject_fault("http_5xx_before", method="rewards", times=None)
    one = _worker(emulator, redis_client, key_name)
    two = _worker(emulator, redis_client, key_name)
    async with one, two:
        with pytest.raises(Exception, match="rewards"):
            await one.poll()
        emulator.clear_faults()
        report = await two.poll()
    assert not report.skipped and report.rows["referrers"] == 1


def test_bad_redis_store_options_are_refused(redis_client: Any) -> None:
    """An empty or spaced name, a non-positive poll lock: ConfigurationError before any I/O."""
    from irefer_async import ConfigurationError

    for kwargs in ({"name": ""}, {"name": "a b"}, {"poll_lock": 0}):
        with pytest.raises(ConfigurationError):
            RedisFeedStore(redis_client, **kwargs)
    store = RedisFeedStore(redis_client, name="x", consumer="worker-1")
    assert repr(store) == "<RedisFeedStore name='x' consumer='worker-1'>"
