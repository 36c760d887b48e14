"""Redis for several processes: a shared rate limit and a shared feed store.

`RedisRateLimiter` is a `irefer_async.Limiter` whose budget several processes share (GCRA in
one Lua script); `RedisFeedStore` is a `irefer_async.feed.FeedStore` several watchers share.
Needs the `redis` extra (`pip install 'irefer-async[redis]'`). A satellite of the core: it
uses only `irefer_async`'s public names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._feed_store import PollLockLostError, RedisFeedStore  # redis itself is imported on first use

if TYPE_CHECKING:  # imported on first use, see __getattr__: redis is an optional extra
    from ._limiter import DEFAULT_KEY_PREFIX as DEFAULT_KEY_PREFIX
    from ._limiter import DEFAULT_MAX_RESERVE as DEFAULT_MAX_RESERVE
    from ._limiter import GCRA_SCRIPT as GCRA_SCRIPT
    from ._limiter import RedisRateLimiter

# The limiter's constants (DEFAULT_KEY_PREFIX, DEFAULT_MAX_RESERVE, GCRA_SCRIPT) are attributes
# too, left out of __all__ so that a star import works without redis.
__all__ = ["PollLockLostError", "RedisFeedStore", "RedisRateLimiter"]


_REDIS_HINT = "RedisRateLimiter needs redis: pip install 'irefer-async[redis]'"
_LIMITER_NAMES = ("DEFAULT_KEY_PREFIX", "DEFAULT_MAX_RESERVE", "GCRA_SCRIPT", "RedisRateLimiter")


def __getattr__(name: str) -> Any:
    """Import the limiter, and so `redis`, only when one of its names is first used.

    Without the `redis` extra `RedisRateLimiter` still resolves (so `hasattr` and star imports
    work) to a stand-in whose construction raises `ImportError` naming the extra.
    """
    if name not in _LIMITER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from . import _limiter  # noqa: PLC0415 - redis is optional
    except ImportError as exc:
        if name != "RedisRateLimiter":
            raise
        value: Any = _redis_missing(exc)
    else:
        value = getattr(_limiter, name)
    globals()[name] = value
    return value


def _redis_missing(cause: ImportError) -> type:
    """Return the stand-in for `RedisRateLimiter` when `redis` cannot be imported."""
    reason = str(cause)

    class RedisRateLimiter:
        """A rate limit shared through Redis: needs `pip install 'irefer-async[redis]'`."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            raise ImportError(f"{_REDIS_HINT} ({reason})")

    RedisRateLimiter.__module__ = __name__
    return RedisRateLimiter
