"""The import ledger in Redis: one outcome per row, one sender per row at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from irefer_async import InvalidRequestError

__all__ = ["DEFAULT_LEASE_SECONDS", "Ledger"]

#: Seconds a row's lease outlives a worker that died holding it.
DEFAULT_LEASE_SECONDS = 30.0

# KEYS[1] lease key; ARGV[1] token, ARGV[2] ms. Extend the lease only if it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] done hash, KEYS[2] started hash, KEYS[3] lease key; ARGV[1] row key,
# ARGV[2] outcome JSON, ARGV[3] token. Record the first outcome only; free the lease if ours.
_FINISH = """
local recorded = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[3] then
    redis.call('DEL', KEYS[3])
end
return recorded
"""

# KEYS[1] lease key; ARGV[1] token. Free the lease if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class Ledger:
    """Finished and started rows of one import, in Redis under *prefix*.

    * ``<prefix>:done``: hash, row key -> JSON outcome. Written with ``HSETNX``: a row's
      first recorded outcome is its only one.
    * ``<prefix>:started``: hash of rows a worker began to send; the next delivery of such a
      row reads (``referrer_stats``) before it writes.
    * ``<prefix>:lease:<row key>``: a token held while one worker handles the row. The worker
      renews it every ``lease_seconds / 3`` while it holds it, so it expires only
      ``lease_seconds`` after that worker died (or stalled that long).

    *redis* is a ``redis.asyncio.Redis`` (lent: `close` stops the renewals, not the client).
    """

    def __init__(
        self, redis: Any, prefix: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        """Keep the ledger under *prefix* on *redis*."""
        if not prefix or any(c.isspace() for c in prefix):
            raise InvalidRequestError(f"ledger prefix must be non-empty, no spaces: {prefix!r}")
        if lease_seconds <= 0:
            raise InvalidRequestError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        self.redis = redis
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self._held: dict[str, str] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"<Ledger prefix={self.prefix!r} held={len(self._held)}>"

    def _lease_key(self, key: str) -> str:
        return f"{self.prefix}:lease:{key}"

    @property
    def _ms(self) -> int:
        return int(self.lease_seconds * 1000)

    async def outcome(self, key: str) -> dict[str, Any] | None:
        """Return the recorded outcome of a finished row, or None."""
        raw = await self.redis.hget(f"{self.prefix}:done", key)
        return None if raw is None else dict(json.loads(raw))

    async def outcomes(self) -> dict[str, dict[str, Any]]:
        """Every recorded outcome (row key -> outcome); for summaries and tests."""
        found: dict[str, dict[str, Any]] = {}
        async for key, raw in self.redis.hscan_iter(f"{self.prefix}:done"):
            text = key.decode() if isinstance(key, bytes) else str(key)
            found[text] = dict(json.loads(raw))
        return found

    async def take(self, key: str) -> bool | None:
        """Lease the row for this worker.

        Returns True on the first attempt at the row, False if an earlier attempt may have
        sent it (read before writing), None if another worker holds it right now.
        """
        token = uuid.uuid4().hex
        if not await self.redis.set(self._lease_key(key), token, nx=True, px=self._ms):
            return None
        self._held[key] = token
        self._start_renewing()
        # The "started" mark outlives the lease: it tells the next delivery to check first.
        return bool(await self.redis.hsetnx(f"{self.prefix}:started", key, "1"))

    async def renew(self, key: str) -> bool:
        """Extend the row's lease if this worker still holds it; False if it does not."""
        token = self._held.get(key)
        if token is None:
            return False
        return bool(await self._renew(keys=[self._lease_key(key)], args=[token, self._ms]))

    async def finish(self, key: str, outcome: Mapping[str, Any]) -> bool:
        """Record the row's outcome (unless one is recorded) and give its lease up.

        Returns False when the row already had an outcome (this one is dropped).
        """
        token = self._held.pop(key, "")
        keys = [f"{self.prefix}:done", f"{self.prefix}:started", self._lease_key(key)]
        recorded = await self._finish(keys=keys, args=[key, json.dumps(dict(outcome)), token])
        return bool(recorded)

    async def release(self, key: str) -> None:
        """Give the row back, outcome unknown: the next delivery reads before it writes."""
        token = self._held.pop(key, None)
        if token is not None:
            await self._release(keys=[self._lease_key(key)], args=[token])

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            for key, token in list(self._held.items()):
                with contextlib.suppress(Exception):  # Redis down: the lease may run out
                    await self._renew(keys=[self._lease_key(key)], args=[token, self._ms])

    async def close(self) -> None:
        """Stop renewing leases (rows still held expire after ``lease_seconds``)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
