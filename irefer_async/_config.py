"""Client configuration: the defaults, and the normalisers that check each option once.

Every ``IReferClient(...)`` argument passes through one function here, which returns the value
the client keeps or raises :class:`~irefer_async.ConfigurationError` naming the problem
(environment variables are read here too). Nothing here sends a request.
"""

from __future__ import annotations

import math
import os
from typing import Final

import httpx

from . import _endpoints as ep
from ._cache import CacheConfig, ReadCache
from ._errors import ConfigurationError, InvalidRequestError
from ._limits import RateLimit
from ._retry import RetryConfig

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "LICENSE_PREFIX",
    "api_key",
    "base_url",
    "check_http_client",
    "concurrency",
    "default_campaign",
    "deadline",
    "license_key",
    "max_waiting",
    "named_transport",
    "read_cache",
    "retry",
    "share_reads",
    "timeout",
]

#: The API root; the guide mixes ``/v1/`` and ``/v1.0/``, its sample URLs use ``/v1.0/``.
DEFAULT_BASE_URL: Final = "https://api.irefer.io/v1.0/"
#: 10 s per read/write/pool wait, 5 s to connect.
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
#: 4 attempts, 0.5 s doubling to at most 8 s with jitter, 30 s in all.
DEFAULT_RETRY: Final = RetryConfig()
#: iRefer publishes no limits: 5 requests per second, conservatively.
DEFAULT_RATE_LIMIT: Final = RateLimit(5.0)
#: At most 4 requests in flight per client.
DEFAULT_MAX_CONCURRENCY: Final = 4

LICENSE_PREFIX = "W4qL"
_LICENSE_LENGTH = 32


def license_key(value: str | None) -> str:
    """Return the license key (given, or ``$IREFER_LICENSE_KEY``), checked for shape."""
    value = value if value is not None else os.environ.get("IREFER_LICENSE_KEY")
    if not value:
        raise ConfigurationError(
            "license_key is missing: pass license_key= or set IREFER_LICENSE_KEY"
        )
    if not isinstance(value, str):
        raise ConfigurationError(f"license_key must be a string, not {type(value).__name__}")
    if not value.startswith(LICENSE_PREFIX) or len(value) != _LICENSE_LENGTH:
        raise ConfigurationError(
            f"license_key must be {LICENSE_PREFIX!r} followed by 28 more characters "
            f"(32 in all); the value given has {len(value)} characters"
            + (
                ""
                if value.startswith(LICENSE_PREFIX)
                else f" and does not start with {LICENSE_PREFIX!r}"
            )
        )
    if not value.isascii() or not value.isalnum():
        raise ConfigurationError("license_key must contain only letters and digits")
    return value


def api_key(value: str | None) -> str:
    """Return the API key (given, or ``$IREFER_API_KEY``)."""
    value = value if value is not None else os.environ.get("IREFER_API_KEY")
    if not value:
        raise ConfigurationError("api_key is missing: pass api_key= or set IREFER_API_KEY")
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key must be a string, not {type(value).__name__}")
    return value


def base_url(value: str | None) -> str:
    """Return the API root (given, ``$IREFER_BASE_URL`` or the default), ending in ``/``."""
    value = value or os.environ.get("IREFER_BASE_URL") or DEFAULT_BASE_URL
    if not isinstance(value, str):
        raise ConfigurationError(f"base_url must be a string, not {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    """Return ``timeout=`` as an ``httpx.Timeout`` (seconds, a Timeout, or None for none)."""
    if isinstance(value, httpx.Timeout):
        return value
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        return httpx.Timeout(value)
    raise ConfigurationError(
        f"timeout must be positive seconds, an httpx.Timeout or None, got {value!r}"
    )


def default_campaign(value: int | str) -> str:
    """Return the client's default campaign id as its wire string."""
    try:
        return ep.check_campaign_id(value)
    except InvalidRequestError as exc:
        message = exc.message
    raise ConfigurationError(message)


def named_transport(name: str, pool: int) -> httpx.AsyncBaseTransport:
    """Build the transport named by ``transport=`` (only ``"aiohttp"``)."""
    if name != "aiohttp":
        raise ConfigurationError(f'transport must be an httpx transport or "aiohttp", got {name!r}')
    try:
        from ._aiohttp import AiohttpTransport  # noqa: PLC0415 - an optional extra
    except ImportError as exc:
        missing = exc.name
    else:
        return AiohttpTransport(
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        )
    raise ConfigurationError(
        f'transport="aiohttp" needs the aiohttp extra ({missing} is not installed): '
        "pip install 'irefer-async[aiohttp]'"
    )


def concurrency(value: int | None) -> int | None:
    """Check ``max_concurrency=``: an integer >= 1, or None for no cap."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_concurrency must be an integer >= 1 or None, got {value!r}")
    return value


def retry(value: RetryConfig | None) -> RetryConfig | None:
    """Check ``retry=``: a :class:`RetryConfig`, or None for one attempt per call."""
    if value is not None and not isinstance(value, RetryConfig):
        raise ConfigurationError(f"retry must be a RetryConfig or None, not {type(value).__name__}")
    return value


def check_http_client(http_client: object, transport: object) -> None:
    """Check ``http_client=`` (an ``httpx.AsyncClient``, not with ``transport=``)."""
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both")
    if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
        raise ConfigurationError("http_client must be an httpx.AsyncClient")


def deadline(value: RetryConfig | None) -> float:
    """Seconds a call may take, from its start (``retry.deadline``; no retry: no deadline)."""
    return value.deadline if value is not None else math.inf


def max_waiting(value: int | None) -> int | None:
    """Check ``max_waiting=``: calls allowed to wait for a slot at once (None: unbounded)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"max_waiting must be an integer >= 0 or None, got {value!r}")
    return value


def share_reads(value: bool) -> bool:
    """Check ``share_reads=``."""
    if not isinstance(value, bool):
        raise ConfigurationError("share_reads must be True or False")
    return value


def read_cache(value: CacheConfig | None) -> ReadCache | None:
    """Build the read cache from ``cache=`` (None: no cache)."""
    if value is None:
        return None
    if not isinstance(value, CacheConfig):
        raise ConfigurationError(f"cache must be a CacheConfig or None, not {type(value).__name__}")
    return ReadCache(value)
