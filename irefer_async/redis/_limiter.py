"""A rate limit shared by every process and host: GCRA in a Lua script on one Redis key.

Install with ``pip install 'irefer-async[redis]'``. Each call of `RedisRateLimiter.acquire`
runs one short Lua script (EVALSHA, EVAL on NOSCRIPT) that *reserves* the next free slot and
returns how long to sleep until it; the caller sleeps, then sends. The state is one key per
limiter name holding the theoretical arrival time (TAT) in microseconds of the Redis server's
clock (``TIME``), so clocks of the hosts running workers never enter the computation.

Guarantees (for slot times; see docs/redis-limiter.md for the proofs and failure modes):

* steady rate: slots ``1/rate`` apart, so demand above the rate gets exactly ``rate``;
* any 1-second window holds at most ``rate + burst`` requests (for ``burst >= 1``), the
  same bound as the in-process `LocalRateLimiter`. Reservations make
  the steady rate exact without the local limiter's extra slot, so that slot is kept to
  absorb timer jitter: after an idle spell ``burst`` requests start at once (not
  ``burst + 1``), and the bound holds for the times requests *start*, not only for slots;
* slots are reserved at most ``max_reserve`` seconds ahead; further waiters poll (one per
  limiter instance) when the horizon opens. That bound is what makes a Redis restart safe:
  a key missing on a server younger than the horizon starts *after* every slot that may
  still be held, instead of at "now".

When Redis is unreachable, ``acquire`` never raises: by default it waits (backoff with
jitter, one prober per instance) until Redis answers again; with ``fallback="local"`` it
first waits out the reservation horizon, then paces itself locally at ``rate / instances``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from irefer_async import ConfigurationError, LocalRateLimiter, RateLimit

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_MAX_RESERVE",
    "GCRA_SCRIPT",
    "RedisRateLimiter",
]

log = logging.getLogger("irefer_async.redis_limiter")

#: Every limiter key is ``<prefix><name>``.
DEFAULT_KEY_PREFIX: Final = "irefer:ratelimit:"
#: How far ahead (seconds) a slot may be reserved; also the longest wait after a restart.
DEFAULT_MAX_RESERVE: Final = 0.5
#: First and largest pause (seconds) between attempts to reach an unreachable Redis.
DEFAULT_BACKOFF: Final = (0.05, 1.0)
#: Seconds between attempts to reach Redis while the local fallback hands out slots.
FALLBACK_PROBE_INTERVAL: Final = 0.25
_SOCKET_TIMEOUT: Final = 2.0
_OFFSET_SAMPLES: Final = 32

#: The GCRA reservation, run atomically by Redis.
#:
#: KEYS[1] the limiter key; ARGV: emission interval T, tolerance tau (= (burst - 1) * T),
#: horizon H, fence F, all in integer microseconds. Returns ``{granted, wait_us, now_us}``:
#: ``{1, w, now}`` a slot is reserved w microseconds after the server's ``now``; ``{0, w, now}``
#: the next slot is beyond the horizon, ask again in w microseconds (nothing was reserved).
GCRA_SCRIPT: Final = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local fence = tonumber(ARGV[4])
local stored = redis.call('GET', KEYS[1])
local tat
local dirty = false
if stored then
  tat = tonumber(stored)
else
  tat = now
  -- No key on a server started less than a horizon ago: the key may have been lost with
  -- the restart while slots up to `horizon` ahead are still held by sleeping clients.
  local info = redis.call('INFO', 'server')
  local uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)'))
  if uptime and uptime * 1000000 <= horizon + tolerance + interval + 1000000 then
    tat = now + horizon + tolerance + interval
    dirty = true
  end
end
if tat < now then tat = now end
if fence > 0 and tat < now + fence then
  tat = now + fence
  dirty = true
end
local slot = tat - tolerance
if slot < now then slot = now end
local granted = 1
if slot - now > horizon then
  granted = 0
else
  tat = tat + interval
  dirty = true
end
if dirty then
  redis.call('SET', KEYS[1], string.format('%.0f', tat),
             'PX', math.ceil((tat - now) / 1000) + 1000)
end
if granted == 1 then return {1, slot - now, now} end
return {0, slot - horizon - now, now}
"""

_SCRIPT_SHA: Final = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis' script id)

# Errors that mean "Redis is not reachable right now": wait and try again. Authentication
# and permission errors are ConnectionError subclasses too, but no amount of waiting fixes them.
_UNREACHABLE: Final = (rexc.ConnectionError, rexc.TimeoutError, rexc.ReadOnlyError, OSError)
_FATAL: Final = (rexc.AuthenticationError, rexc.AuthorizationError)


def _rate_limit(value: RateLimit | float) -> RateLimit:
    if isinstance(value, RateLimit):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return RateLimit(float(value))
    raise ConfigurationError(f"rate_limit must be a RateLimit or a number, got {value!r}")


class RedisRateLimiter:
    """One rate limit shared through Redis by every limiter with the same ``name``.

    Implements the `Limiter` protocol: pass it as ``rate_limit=`` to
    `IReferClient`. Create one per worker process (it holds a Redis
    connection pool bound to the event loop) and give all of them the same ``name`` and
    `RateLimit`.

    For example:

    ```python
    limiter = RedisRateLimiter("redis://localhost:6379/0", RateLimit(50, burst=1),
                               name="campaign-2605")
    async with limiter, IReferClient(..., rate_limit=limiter) as client:
        ...
    ```

    Args:
        redis: a ``redis.asyncio.Redis`` (never closed by the limiter) or a URL (the limiter
            builds the client and closes it in `aclose`).
        rate_limit: a `RateLimit` or requests per second (burst 1).
        name: the shared limit's name; the key is ``key_prefix + name``.
        key_prefix: prefix of the Redis key.
        max_reserve: how far ahead, in seconds, a slot may be reserved. Larger means fewer
            Redis calls when many tasks wait; it is also the longest pause after a restart.
        fallback: ``"wait"`` (default) blocks while Redis is unreachable; ``"local"`` paces
            locally at ``rate / instances`` after the horizon has passed.
        instances: how many limiter instances share the name (used by ``fallback="local"``).
        backoff: first and largest pause, in seconds, between attempts to reach Redis.
        sleep: the coroutine used to wait (injectable for tests).

    """

    __slots__ = (
        "_backoff",
        "_down_since",
        "_fence_next",
        "_last_probe",
        "_local",
        "_lock",
        "_offsets",
        "_owns_redis",
        "_redis",
        "_sleep",
        "fallback",
        "instances",
        "key",
        "max_reserve",
        "rate_limit",
    )

    def __init__(
        self,
        redis: aioredis.Redis | str,
        rate_limit: RateLimit | float,
        *,
        name: str = "irefer",
        key_prefix: str = DEFAULT_KEY_PREFIX,
        max_reserve: float = DEFAULT_MAX_RESERVE,
        fallback: Literal["wait", "local"] = "wait",
        instances: int = 1,
        backoff: tuple[float, float] = DEFAULT_BACKOFF,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if isinstance(redis, str):
            # One immediate reconnect (a pooled connection is stale after a restart), then
            # our own backoff; timeouts so a black-holed host cannot hang acquire().
            self._redis = aioredis.Redis.from_url(
                redis,
                retry=Retry(NoBackoff(), 1),
                socket_connect_timeout=_SOCKET_TIMEOUT,
                socket_timeout=_SOCKET_TIMEOUT,
            )
            self._owns_redis = True
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._owns_redis = False
        else:
            raise ConfigurationError(
                f"redis must be a redis.asyncio.Redis or a URL, not {type(redis).__name__}"
            )
        if not name or not isinstance(name, str):
            raise ConfigurationError("name must be a non-empty string")
        if not (isinstance(max_reserve, int | float) and 0 < max_reserve < math.inf):
            raise ConfigurationError(f"max_reserve must be positive seconds, got {max_reserve!r}")
        if fallback not in ("wait", "local"):
            raise ConfigurationError(f"fallback must be 'wait' or 'local', got {fallback!r}")
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
            raise ConfigurationError(f"instances must be an integer >= 1, got {instances!r}")
        first, cap = backoff
        if not 0 < first <= cap:
            raise ConfigurationError(
                f"backoff must be (first, cap) with 0 < first <= cap, got {backoff!r}"
            )
        #: The rate shared by every limiter of this name.
        self.rate_limit = _rate_limit(rate_limit)
        #: The Redis key holding the shared state.
        self.key = key_prefix + name
        #: Seconds a slot may be reserved ahead.
        self.max_reserve = float(max_reserve)
        #: What ``acquire`` does while Redis is unreachable: ``"wait"`` or ``"local"``.
        self.fallback = fallback
        #: Limiter instances sharing the name (the local fallback runs at rate / instances).
        self.instances = instances
        self._backoff = (float(first), float(cap))
        self._sleep = sleep
        self._lock: asyncio.Lock | None = None
        self._local: LocalRateLimiter | None = None
        self._down_since: float | None = None  # loop time of the first failure of an outage
        self._last_probe = 0.0  # loop time of the last attempt to reach Redis
        # (round trip, server clock - loop clock) of recent calls: see _to_loop_time.
        self._offsets: deque[tuple[float, float]] = deque(maxlen=_OFFSET_SAMPLES)
        self._fence_next = False  # local slots were handed out: fence the next shared call

    # -- the Limiter protocol -----------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for, and take, one slot of the shared rate limit.

        Never raises because Redis is unreachable (see ``fallback``); raises the Redis error
        for anything waiting cannot fix (bad credentials, a script error).
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        # One reservation in flight per instance: waiters beyond the horizon then poll one at
        # a time instead of as a herd, and the reservations of one process stay in FIFO order.
        async with self._lock:
            deadline = await self._reserve_slot()
        wait = deadline - asyncio.get_running_loop().time()
        if wait > 0:
            await self._sleep(wait)

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the Redis client if the limiter built it from a URL."""
        if self._owns_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisRateLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter({self.rate_limit!r}, key={self.key!r}, "
            f"max_reserve={self.max_reserve}, fallback={self.fallback!r})"
        )

    # -- internals ----------------------------------------------------------------------

    async def _reserve_slot(self) -> float:
        """Return the loop time of this caller's slot (called under the instance lock)."""
        attempt = 0
        while True:
            if self._fence_next and not self._probe_due():
                return await self._local_slot()
            try:
                granted, wait, slot = await self._run_script()  # slot: server clock
            except _FATAL:
                raise
            except _UNREACHABLE as exc:
                attempt += 1
                if await self._while_down(exc, attempt):
                    return await self._local_slot()
                continue
            attempt = 0
            if granted:
                return slot - self._offset
            await self._sleep(wait)  # beyond the horizon: ask again when it opens

    async def _run_script(self) -> tuple[bool, float, float]:
        """One reservation: (granted, seconds to wait, the slot on the server's clock)."""
        loop = asyncio.get_running_loop()
        rate = self.rate_limit.rate
        interval = math.ceil(1e6 / rate)  # rounding up never exceeds the rate
        fence = 0
        if self._fence_next:
            # Local fallback slots were handed out up to now: keep the shared slots one
            # window plus the burst away from them.
            fence = 1_000_000 + self._tolerance_slots * interval
        tolerance = self._tolerance_slots * interval
        args = (interval, tolerance, round(self.max_reserve * 1e6), fence)
        try:
            # Any-typed: redis-py's stubs type the async client's return as a union or as
            # Awaitable[Any] depending on the version.
            sent = self._last_probe = loop.time()
            pending: Any = self._redis.evalsha(_SCRIPT_SHA, 1, self.key, *args)
            reply = await pending
        except rexc.NoScriptError:
            # Script cache empty (restart, SCRIPT FLUSH, failover): EVAL also reloads it.
            sent = loop.time()
            pending = self._redis.eval(GCRA_SCRIPT, 1, self.key, *args)
            reply = await pending
        if self._down_since is not None:
            log.warning("Redis reachable again for rate limit %r", self.key)
        self._down_since = None
        self._fence_next = False
        granted, wait_us, now_us = (int(x) for x in reply)
        wait = max(wait_us, 0) / 1e6
        self._measure_offset(now_us / 1e6, sent, loop.time())
        return granted == 1, wait, now_us / 1e6 + wait

    def _measure_offset(self, server_now: float, sent: float, received: float) -> None:
        """Add a sample for `_offset`.

        The script read the server's clock somewhere between ``sent`` and ``received``; of
        the recent calls, the one with the shortest round trip pins the offset best (NTP's
        rule), so neither a connection being set up nor a busy loop reading a reply late
        moves a slot. Only the loop's monotonic clock is used, never the host's wall clock.
        """
        self._offsets.append((received - sent, server_now - (sent + received) / 2))

    @property
    def _offset(self) -> float:
        """(server clock - loop clock) in seconds, from the best recent sample."""
        return min(self._offsets)[1]

    async def _while_down(self, exc: BaseException, attempt: int) -> bool:
        """Redis failed: pause before the next attempt; True when a local slot should be used."""
        now = asyncio.get_running_loop().time()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis unreachable for rate limit %r (%s: %s); %s", self.key,
                type(exc).__name__, exc,
                "waiting for it" if self.fallback == "wait" else "will fall back to a local limit",
            )  # fmt: skip
        if self.fallback == "wait":
            await self._sleep(self._pause(attempt))
            return False
        # Slots reserved before the outage may come due up to a horizon after it began: the
        # local fallback starts a whole window after they have all passed, so that no
        # 1-second window holds both shared slots and local ones.
        remaining = self._horizon + 1.0 - (now - self._down_since)
        if remaining <= 0:
            return True
        await self._sleep(min(remaining, self._pause(attempt)))
        return False

    async def _local_slot(self) -> float:
        if self._local is None:
            # Each instance's local limiter lets ceil(share) requests into a 1-second window,
            # so a whole share keeps the sum within rate + burst.
            limit = self.rate_limit
            share: float = math.floor((limit.rate + limit.burst) / self.instances)
            if share < 1:  # rate + burst < instances: no whole share (see the docs)
                share = limit.rate / self.instances
            self._local = LocalRateLimiter(RateLimit(share, burst=0))
        self._fence_next = True
        await self._local.acquire()
        return asyncio.get_running_loop().time()

    def _probe_due(self) -> bool:
        return asyncio.get_running_loop().time() - self._last_probe >= FALLBACK_PROBE_INTERVAL

    @property
    def _horizon(self) -> float:
        """Seconds after which every slot reserved before now has come due."""
        return self.max_reserve + (self._tolerance_slots + 1) / self.rate_limit.rate

    @property
    def _tolerance_slots(self) -> int:
        """Slots granted at once after idle, beyond the first: ``burst - 1`` (see module doc)."""
        return max(self.rate_limit.burst - 1, 0)

    def _pause(self, attempt: int) -> float:
        first, cap = self._backoff
        ceiling = min(cap, first * 2 ** min(attempt - 1, 30))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not crypto)
