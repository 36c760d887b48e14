"""The read cache (`_cache.ReadCache`) and the throttle's edges, on the virtual-time loop."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import attrs
import pytest

from irefer_async import CacheConfig, ConfigurationError, DeadlineExceededError, QueueFullError
from irefer_async._cache import MISS, ReadCache, read_key
from irefer_async._deadline import Deadline, deadline_scope
from irefer_async._limits import Throttle


@attrs.frozen
class Stats:
    referral_link: str


def stats_key(email: str, campaign: str = "1") -> Any:
    return read_key("referrerStats", {"campaign_id": campaign, "email": email})


CAMPAIGN = read_key("campaignStats", {"campaign_id": "1"})


def test_config_rejects_what_it_cannot_use() -> None:
    """Infinite TTLs, a per_method that is not a mapping, max_entries < 1: ConfigurationError."""
    with pytest.raises(ConfigurationError, match="finite"):
        CacheConfig(ttl=math.inf)
    with pytest.raises(ConfigurationError, match="map"):
        CacheConfig(per_method=[("referrers", 1.0)])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_entries"):
        CacheConfig(max_entries=0)
    assert CacheConfig(per_method={"referrerStats": 0}).ttl_for("referrerStats") == 0


@pytest.mark.virtual_time
async def test_an_answer_expires_after_its_ttl() -> None:
    """Stored at t, answered until t + ttl, a miss (and dropped) after."""

    async def main() -> list[object]:
        cache = ReadCache(CacheConfig(ttl=2.0))
        cache.put(CAMPAIGN, "answer", cache.generation("1"))
        seen = [cache.get(CAMPAIGN)]
        await asyncio.sleep(1.9)
        seen.append(cache.get(CAMPAIGN))
        await asyncio.sleep(0.2)
        seen += [cache.get(CAMPAIGN), len(cache)]
        return seen

    assert await main() == ["answer", "answer", MISS, 0]


@pytest.mark.virtual_time
async def test_an_answer_read_across_a_write_is_not_stored() -> None:
    """A read that began before a write of its campaign ended: its answer is dropped."""

    async def main() -> tuple[object, object]:
        cache = ReadCache(CacheConfig(ttl=5.0))
        began = cache.generation("1")
        cache.after_write("1", email=None, referrer_code=None, referrer_email=None)
        cache.put(CAMPAIGN, "stale", began)
        other = read_key("campaignStats", {"campaign_id": "2"})
        cache.put(other, "fine", cache.generation("2"))
        return cache.get(CAMPAIGN), cache.get(other)

    assert await main() == (MISS, "fine")


@pytest.mark.virtual_time
async def test_a_referrer_evicted_from_the_cache_is_no_longer_known_by_its_code() -> None:
    """Once Ann's entry is gone, a signup with her code drops every referrerStats instead."""

    async def main() -> list[object]:
        cache = ReadCache(CacheConfig(ttl=60.0, max_entries=2))
        gen = cache.generation("1")
        cache.put(stats_key("ann@x.io"), Stats("http://l/?iref=ANN"), gen)
        cache.put(stats_key("bob@x.io"), Stats("http://l/?iref=BOB&x=1"), gen)
        cache.put(stats_key("bob@x.io"), Stats("http://l/?iref=BOB"), gen)  # replaced in place
        cache.put(stats_key("cy@x.io"), Stats("no code here"), gen)  # evicts ann
        cache.after_write("1", email="new@x.io", referrer_code="ANN", referrer_email=None)
        return [cache.get(stats_key(e)) for e in ("ann@x.io", "bob@x.io", "cy@x.io")]

    assert await main() == [MISS, MISS, MISS]


@pytest.mark.virtual_time
async def test_a_known_code_drops_only_that_referrers_stats_case_insensitively() -> None:
    """The code maps to Ann's entry; her stats go (whatever the email's case), Bob's stay."""

    async def main() -> list[bool]:
        cache = ReadCache(CacheConfig(ttl=60.0))
        gen = cache.generation("1")
        cache.put(stats_key("Ann@X.io"), Stats("http://l/?iref=ANN"), gen)
        cache.put(stats_key("bob@x.io"), Stats("http://l/?iref=BOB"), gen)
        cache.after_write("1", email="NEW@x.io", referrer_code="ANN", referrer_email=None)
        return [cache.get(stats_key(e)) is MISS for e in ("Ann@X.io", "bob@x.io")]

    assert await main() == [True, False]


@pytest.mark.virtual_time
async def test_a_known_code_drops_every_entry_of_that_referrers_email() -> None:
    """Ann's code was learned from one of her entries: her others (any case) go with it."""

    async def main() -> list[bool]:
        cache = ReadCache(CacheConfig(ttl=60.0))
        gen = cache.generation("1")
        cache.put(stats_key("ann@x.io"), Stats("http://l/?iref=ANN"), gen)
        cache.put(stats_key("ANN@x.io"), Stats("no link in this answer"), gen)
        cache.put(stats_key("bob@x.io"), Stats("http://l/?iref=BOB"), gen)
        cache.after_write("1", email="new@x.io", referrer_code="ANN", referrer_email=None)
        return [cache.get(stats_key(e)) is MISS for e in ("ann@x.io", "ANN@x.io", "bob@x.io")]

    assert await main() == [True, True, False]


# -- the throttle's edges ------------------------------------------------------------------


class SlowLimiter:
    """A Limiter that gives no forecast (like Redis): a slot every 10 s."""

    def __init__(self) -> None:
        self.granted = 0

    async def acquire(self) -> None:
        await asyncio.sleep(10.0)
        self.granted += 1


@pytest.mark.virtual_time
async def test_a_limiter_without_forecast_waits_until_the_deadline_not_past_it() -> None:
    """No rate to forecast with: the call waits, and gives up exactly at its deadline."""

    async def main() -> tuple[float, DeadlineExceededError, int]:
        limiter = SlowLimiter()
        throttle = Throttle(limiter, None)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with deadline_scope(Deadline.after(3.0)), pytest.raises(DeadlineExceededError) as info:
            await throttle.acquire("referrerStats")
        waited = loop.time() - start
        await asyncio.sleep(20)
        return waited, info.value, limiter.granted

    waited, error, granted = await main()
    assert waited == pytest.approx(3.0)
    assert error.waiting_for == "rate limit" and not error.sent
    assert granted == 0  # the abandoned acquire was cancelled, no slot taken


@pytest.mark.virtual_time
async def test_a_deadline_already_passed_is_refused_without_waiting() -> None:
    """A call whose deadline passed before it reached the throttle is refused at once."""

    async def main() -> DeadlineExceededError:
        throttle = Throttle(SlowLimiter(), None)
        with deadline_scope(Deadline.after(0.0)), pytest.raises(DeadlineExceededError) as info:
            await throttle.acquire("referrerStats")
        return info.value

    assert (await main()).waiting_for == "rate limit"


@pytest.mark.virtual_time
async def test_max_waiting_zero_refuses_any_call_that_would_wait() -> None:
    """max_waiting=0: a free slot is taken, a call that would wait is refused."""

    async def main() -> int:
        throttle = Throttle(None, 1, max_waiting=0)
        assert await throttle.acquire("campaignStats") == 0.0
        with pytest.raises(QueueFullError) as info:
            await throttle.acquire("campaignStats")
        throttle.release()
        assert await throttle.acquire("campaignStats") == 0.0
        return info.value.waiting

    assert await main() == 0


@pytest.mark.virtual_time
async def test_cancelled_waiters_leave_the_queue_and_release_nothing_they_did_not_take() -> None:
    """Cancel calls waiting for the concurrency slot: the count drops, the slot stays owned."""

    async def main() -> tuple[int, int]:
        throttle = Throttle(None, 1)
        await throttle.acquire("a")
        waiters = [asyncio.create_task(throttle.acquire("a")) for _ in range(3)]
        await asyncio.sleep(0)
        queued = throttle.waiting
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        throttle.release()
        await asyncio.wait_for(throttle.acquire("a"), 1)  # the slot is free again
        return queued, throttle.waiting

    assert await main() == (3, 0)


@pytest.mark.virtual_time
async def test_fetched_at_is_not_a_wire_field_to_the_drift_recorder() -> None:
    """Stamped by the client, never in the JSON: the drift recorder never reports it."""
    from irefer_async.doctor import DriftRecorder
    from irefer_async.testing import Emulator

    async def main() -> list[str]:
        emulator = Emulator()
        emulator.add_participant("ann@example.com")
        async with emulator.client(decode_observer=DriftRecorder()) as client:
            stats = await client.referrer_stats("ann@example.com")
            assert stats.fetched_at is not None
            drift = client.decode_observer
            assert isinstance(drift, DriftRecorder)
            return [entry.path for entry in drift.entries()]

    assert not [path for path in await main() if "fetched_at" in path]
