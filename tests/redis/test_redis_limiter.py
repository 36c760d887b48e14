"""RedisRateLimiter against a real redis-server: window bound, rate, sharing, failures.

Correctness is measured on timestamps, never by sleeping and counting: the granted slots on
the Redis server's clock (what the algorithm bounds: at most ``rate + burst`` in any
half-open 1-second window, steady rate within 1%), and the times ``acquire()`` returned
(the rate, more loosely: how promptly a loaded test machine wakes a task is not ours to
promise; benchmarks/bench_redis_limiter.py checks the window bound on request times).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from share_worker import RecordingLimiter

redis = pytest.importorskip("redis")
import redis.asyncio as aioredis  # noqa: E402

from irefer_async import ConfigurationError, Limiter, RateLimit  # noqa: E402
from irefer_async.redis._limiter import _SCRIPT_SHA, RedisRateLimiter  # noqa: E402

#: Every test here needs a redis-server (started by tests/redis/conftest.py).
pytestmark = pytest.mark.system


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + window)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + window - 1e-9) - i for i, t in enumerate(times))


def steady_rate(times: list[float], skip: int = 0) -> float:
    times = sorted(times)[skip:]
    return (len(times) - 1) / (times[-1] - times[0])


async def acquire_for(
    limiters: list[RedisRateLimiter], tasks_each: int, seconds: float
) -> list[float]:
    """Acquire from every limiter with ``tasks_each`` tasks for ``seconds``; the grant times."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    stop = loop.time() + seconds

    async def worker(limiter: RedisRateLimiter) -> None:
        while True:
            await limiter.acquire()
            now = loop.time()
            if now >= stop:
                return
            times.append(now)

    await asyncio.gather(*(worker(lim) for lim in limiters for _ in range(tasks_each)))
    return sorted(times)


@pytest.mark.parametrize(("rate", "burst"), [(200, 1), (100, 3)])
async def test_window_bound_and_steady_rate_from_many_tasks(
    redis_client: aioredis.Redis, key_name: str, rate: int, burst: int
) -> None:
    """64 tasks on one limiter: no window above rate + burst, steady rate exact."""
    limiter = RecordingLimiter(redis_client, RateLimit(rate, burst=burst), name=key_name)
    times = await acquire_for([limiter], 64, 1.5)
    assert max_in_window(limiter.slots) <= rate + burst
    assert steady_rate(limiter.slots, skip=burst) == pytest.approx(rate, rel=0.01)
    assert steady_rate(times, skip=burst) == pytest.approx(rate, rel=0.03)


async def test_burst_after_idle_then_one_slot_per_interval(
    redis_client: aioredis.Redis, key_name: str
) -> None:
    """After idle, ``burst`` slots at once; the next ones exactly 1/rate apart."""
    rate, burst = 20, 5
    limiter = RecordingLimiter(redis_client, RateLimit(rate, burst=burst), name=key_name)
    loop = asyncio.get_running_loop()
    start = loop.time()
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(loop.time() - start)

    await asyncio.gather(*(one() for _ in range(burst + 3)))
    slots = sorted(limiter.slots)
    offsets = [round(s - slots[0], 6) for s in slots]
    # The burst's slots are "now" at each call; the next ones count from the first.
    assert all(o < 0.05 for o in offsets[:burst])
    assert offsets[burst:] == [0.05, 0.1, 0.15]
    assert sorted(times)[burst - 1] < 0.1  # the burst does not wait


async def test_burst_zero_spaces_every_slot(redis_client: aioredis.Redis, key_name: str) -> None:
    """``burst=0``: no two slots closer than 1/rate, even after idle."""
    limiter = RecordingLimiter(redis_client, RateLimit(50, burst=0), name=key_name)
    await asyncio.gather(*(limiter.acquire() for _ in range(6)))
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sorted(limiter.slots))]
    assert gaps == [0.02] * 5


async def test_limiters_sharing_one_key_share_one_rate(
    redis_server: RedisServer, key_name: str
) -> None:
    """Four limiters (four connection pools) on one name: one aggregate rate."""
    limiters = [
        RecordingLimiter(redis_server.url, RateLimit(200, burst=1), name=key_name) for _ in range(4)
    ]
    try:
        times = await acquire_for(limiters, 16, 1.5)
    finally:
        for limiter in limiters:
            await limiter.aclose()
    slots = [s for limiter in limiters for s in limiter.slots]
    assert all(len(limiter.slots) > 50 for limiter in limiters)
    assert max_in_window(slots) <= 201
    assert steady_rate(slots) == pytest.approx(200, rel=0.01)
    # Wake-ups follow the OS scheduler, not the limiter: on a loaded 2-core machine they lag
    # by tens of ms. The limit itself is pinned exactly by the slots above (server clock).
    assert steady_rate(times) == pytest.approx(200, rel=0.25)


def test_two_processes_share_one_rate(redis_server: RedisServer, key_name: str) -> None:
    """Two worker processes x 32 tasks on one name: one aggregate rate."""
    script = Path(__file__).with_name("share_worker.py")
    args = [redis_server.url, key_name, "200", "1", "32", "1.5"]
    command = [sys.executable, str(script), *args]
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(command, **pipes) for _ in range(2)]
    for p in procs:  # both interpreters up and connected: then one common start
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start_at = time.monotonic() + 0.05
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start_at!r}\n")
        p.stdin.flush()
    per_process = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert all(len(r["slots"]) > 30 for r in per_process)  # both processes got a share
    slots = per_process[0]["slots"] + per_process[1]["slots"]
    assert max_in_window(slots) <= 201
    assert steady_rate(slots) == pytest.approx(200, rel=0.01)
    times = per_process[0]["times"] + per_process[1]["times"]
    # Wake-ups follow the OS scheduler, not the limiter: on a loaded 2-core machine they lag
    # by tens of ms. The limit itself is pinned exactly by the slots above (server clock).
    assert steady_rate(times) == pytest.approx(200, rel=0.25)


def test_host_clock_skew_does_not_matter(redis_server: RedisServer, key_name: str) -> None:
    """Two event loops whose clocks disagree by two days still share one rate."""

    class SkewedLoop(asyncio.SelectorEventLoop):
        def __init__(self, skew: float) -> None:
            super().__init__()
            self.skew = skew

        def time(self) -> float:
            return super().time() + self.skew

    results: list[list[float]] = []

    def run(skew: float) -> None:
        async def main() -> list[float]:
            limiter = RecordingLimiter(redis_server.url, RateLimit(200, burst=1), name=key_name)
            async with limiter:
                await acquire_for([limiter], 16, 1.5)
            return limiter.slots

        loop = SkewedLoop(skew)
        try:
            results.append(loop.run_until_complete(main()))
        finally:
            loop.close()

    threads = [threading.Thread(target=run, args=(skew,)) for skew in (86400.0, -86400.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(len(r) > 50 for r in results)
    slots = results[0] + results[1]
    assert max_in_window(slots) <= 201
    # A skew bug shows as a rate off by orders of magnitude; 3% absorbs two threads
    # that cannot keep the limiter saturated on a loaded 2-core machine.
    assert steady_rate(slots) == pytest.approx(200, rel=0.03)


async def test_state_is_one_key_in_server_microseconds_with_a_ttl(
    redis_client: aioredis.Redis, key_name: str
) -> None:
    """The key holds the TAT on the server's clock and expires once idle."""
    limiter = RedisRateLimiter(redis_client, RateLimit(10, burst=1), name=key_name)
    await limiter.acquire()
    assert limiter.key == f"irefer:ratelimit:{key_name}"
    seconds, micros = await redis_client.time()
    tat = int(await redis_client.get(limiter.key))
    assert 0 <= tat - (seconds * 1_000_000 + micros) <= 100_000
    assert 0 < await redis_client.pttl(limiter.key) <= 1200


async def test_script_is_reloaded_after_script_flush(
    redis_client: aioredis.Redis, key_name: str
) -> None:
    """NOSCRIPT from EVALSHA falls back to EVAL, which reloads the script."""
    limiter = RedisRateLimiter(redis_client, RateLimit(1000, burst=1), name=key_name)
    await limiter.acquire()
    assert await redis_client.script_exists(_SCRIPT_SHA) == [True]
    await redis_client.script_flush()
    assert await redis_client.script_exists(_SCRIPT_SHA) == [False]
    await limiter.acquire()
    assert await redis_client.script_exists(_SCRIPT_SHA) == [True]


async def test_redis_restart_during_acquire(own_redis_server: RedisServer, key_name: str) -> None:
    """Redis crashes and comes back mid-run: no error, no window above the bound, slots resume."""
    rate = 200
    limiter = RecordingLimiter(
        own_redis_server.url, RateLimit(rate, burst=1), name=key_name, max_reserve=0.2
    )
    loop = asyncio.get_running_loop()
    marks: dict[str, float] = {}

    async def restart() -> None:
        await asyncio.sleep(0.6)
        marks["down"] = loop.time()
        await asyncio.to_thread(own_redis_server.restart, 0.4, crash=True)
        marks["up"] = loop.time()

    async with limiter:
        times, _ = await asyncio.gather(acquire_for([limiter], 32, 2.5), restart())
    assert max_in_window(limiter.slots) <= rate + 1  # across the restart (one host clock)
    during = [t for t in times if marks["down"] + 0.4 < t < marks["up"]]
    assert during == []  # past the reservation horizon, nothing is granted while down
    after = [t for t in times if t > marks["up"]]
    assert len(after) > rate * 0.5  # back to the full rate within a fraction of a second
    assert steady_rate(after, skip=1) == pytest.approx(rate, rel=0.03)


async def test_restart_fence_keeps_slots_reserved_before_the_crash(
    own_redis_server: RedisServer, key_name: str
) -> None:
    """A key lost with a restart restarts after the horizon, not at 'now'."""
    client = aioredis.Redis.from_url(own_redis_server.url)
    limiter = RedisRateLimiter(client, RateLimit(100, burst=1), name=key_name, max_reserve=0.3)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(limiter.acquire() for _ in range(10)))  # TAT ~0.1 s ahead
    await asyncio.to_thread(own_redis_server.restart, 0.0, crash=True)
    before = loop.time()
    await limiter.acquire()
    assert loop.time() - before >= 0.3  # horizon + one interval, from the fresh server
    await client.aclose()


async def test_fallback_local_keeps_going_at_the_instance_share(
    own_redis_server: RedisServer, key_name: str
) -> None:
    """fallback='local': a window after the horizon, N instances pace themselves at rate/N."""
    rate = 100
    limiters = [
        RedisRateLimiter(
            own_redis_server.url,
            RateLimit(rate, burst=1),
            name=key_name,
            max_reserve=0.2,
            fallback="local",
            instances=2,
        )
        for _ in range(2)
    ]
    loop = asyncio.get_running_loop()
    marks: dict[str, float] = {}

    async def outage() -> None:
        await asyncio.sleep(0.5)
        marks["down"] = loop.time()
        await asyncio.to_thread(own_redis_server.stop, crash=True)
        await asyncio.sleep(2.5)
        await asyncio.to_thread(own_redis_server.start)
        marks["up"] = loop.time()

    times, _ = await asyncio.gather(acquire_for(limiters, 16, 5.0), outage())
    for limiter in limiters:
        await limiter.aclose()
    # The local fallback starts horizon + 1 s (1.21 s) into the outage.
    assert not [t for t in times if marks["down"] + 0.4 < t < marks["down"] + 1.2]
    local = [t for t in times if marks["down"] + 1.25 < t < marks["up"]]
    # 2 x floor(101 / 2): never above the rate. The local limiter paces on the loop's clock,
    # so on a loaded machine late wake-ups lose slots (81/s seen with one core for three
    # processes): below, only "keeps going" is ours to promise, as for the other wake-up rates.
    assert max_in_window(local) <= rate
    assert rate * 0.75 <= steady_rate(local) <= rate * 1.02
    assert [t for t in times if t > marks["up"] + 1.5]  # back on Redis


async def test_fatal_redis_errors_raise(redis_server: RedisServer, key_name: str) -> None:
    """Bad credentials are not an outage: acquire raises instead of waiting forever."""
    url = redis_server.url.replace("redis://", "redis://nobody:wrong@")
    async with RedisRateLimiter(url, 10, name=key_name) as limiter:
        with pytest.raises(redis.exceptions.RedisError):
            await asyncio.wait_for(limiter.acquire(), 5)


def test_is_a_limiter_and_validates_its_options() -> None:
    """The Limiter protocol, the repr and the configuration checks."""
    client = aioredis.Redis()
    limiter = RedisRateLimiter(client, 5, name="x")
    assert isinstance(limiter, Limiter)
    assert limiter.rate_limit == RateLimit(5.0)
    assert "RedisRateLimiter(RateLimit(rate=5.0, burst=1), key='irefer:ratelimit:x'" in repr(
        limiter
    )
    bad: list[dict[str, Any]] = [
        {"max_reserve": 0},
        {"fallback": "crash"},
        {"instances": 0},
        {"backoff": (1.0, 0.5)},
        {"name": ""},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigurationError):
            RedisRateLimiter(client, 5, **kwargs)
    with pytest.raises(ConfigurationError):
        RedisRateLimiter(object(), 5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        RedisRateLimiter(client, "fast")  # type: ignore[arg-type]


def test_importing_the_sdk_does_not_import_redis() -> None:
    """redis is an optional extra: ``import irefer_async`` must not need it."""
    code = "import sys, irefer_async; assert 'redis' not in sys.modules, 'redis imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exported_lazily_from_the_package() -> None:
    """``irefer_async.redis.RedisRateLimiter`` is the class (imported on first access)."""
    import irefer_async.redis

    assert "RedisRateLimiter" in irefer_async.redis.__all__
    assert irefer_async.redis.RedisRateLimiter is RedisRateLimiter
