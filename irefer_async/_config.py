"""Client configuration: the defaults, and one normaliser per ``IReferClient(...)`` option.

Each returns the value the client keeps (environment variables read here) or raises
`ConfigurationError` naming the problem.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, TypeVar

import httpx

from ._errors import ConfigurationError, InvalidRequestError
from ._limits import RateLimit
from ._retry import RetryConfig
from ._transport import HTTP_STACKS, proxy_for, stack_of
from ._version import __version__

if TYPE_CHECKING:
    from ._cache import CacheConfig, ReadCache

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

T = TypeVar("T")

LICENSE_PREFIX = "W4qL"


def _required(name: str, value: object, variable: str) -> str:
    """Return a required string option, given or from the environment ``variable``."""
    value = value if value is not None else os.environ.get(variable)
    if not value:
        raise ConfigurationError(f"{name} is missing: pass {name}= or set {variable}")
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}")
    return value


def license_key(value: str | None) -> str:
    """Return the license key (given, or ``$IREFER_LICENSE_KEY``), checked for shape."""
    value = _required("license_key", value, "IREFER_LICENSE_KEY")
    prefixed = value.startswith(LICENSE_PREFIX)
    if not prefixed or len(value) != 32:
        raise ConfigurationError(
            f"license_key must be {LICENSE_PREFIX!r} followed by 28 more characters "
            f"(32 in all); the value given has {len(value)} characters"
            + ("" if prefixed else f" and does not start with {LICENSE_PREFIX!r}")
        )
    if not value.isascii() or not value.isalnum():
        raise ConfigurationError("license_key must contain only letters and digits")
    return value


def api_key(value: str | None) -> str:
    """Return the API key (given, or ``$IREFER_API_KEY``)."""
    return _required("api_key", value, "IREFER_API_KEY")


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


def timeout(value: object) -> Any:
    """Return ``timeout=`` as a Timeout of either stack (seconds, a Timeout, or None for none)."""
    httpx2 = sys.modules.get("httpx2")
    if isinstance(value, httpx.Timeout) or (httpx2 and isinstance(value, httpx2.Timeout)):
        return value
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        return httpx.Timeout(value)
    raise ConfigurationError(
        f"timeout must be positive seconds, an httpx.Timeout or None, got {value!r}"
    )


def default_campaign(value: int | str | None) -> str | None:
    """Return the default campaign id (given, or ``$IREFER_CAMPAIGN_ID``), or None."""
    source = ""
    if value is None:
        value = os.environ.get("IREFER_CAMPAIGN_ID") or None
        if value is None:
            return None
        source = " (from IREFER_CAMPAIGN_ID)"
    from ._endpoints import check_campaign_id  # noqa: PLC0415 - loaded with the first client

    try:
        return check_campaign_id(value)
    except InvalidRequestError as exc:
        raise ConfigurationError(exc.message + source) from None


def http_stack(name: object, http_client: object, transport: object) -> ModuleType:
    """Check ``http_stack=``, ``http_client=`` and ``transport=`` together; return the stack.

    An injected client or transport decides the stack; a disagreeing ``http_stack`` is an error.
    """
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass http_client or transport, not both")
    found = None if http_client is None else stack_of(http_client)
    if http_client is not None and found is None:
        raise ConfigurationError("http_client must be an httpx.AsyncClient or httpx2.AsyncClient")
    if name is not None and name not in HTTP_STACKS:
        raise ConfigurationError(f'http_stack must be "httpx" or "httpx2", got {name!r}')
    if transport is not None and not isinstance(transport, str):
        stacks = [sys.modules.get(stack) for stack in HTTP_STACKS]
        found = next((m for m in stacks if m and isinstance(transport, m.AsyncBaseTransport)), None)
        if found is None:
            raise ConfigurationError(
                'transport must be an httpx (or httpx2) AsyncBaseTransport or "aiohttp", '
                f"got {type(transport).__name__}"
            )
    if found is not None:
        if name not in (None, found.__name__):
            what = "http_client" if http_client is not None else "transport"
            raise ConfigurationError(
                f'http_stack="{name}" but the {what} given is {found.__name__}\'s'
            )
        return found
    chosen = name or "httpx"
    try:
        return importlib.import_module(chosen)
    except ImportError:
        raise ConfigurationError(
            f'http_stack="{chosen}" needs the {chosen} extra: pip install "irefer-async[{chosen}]"'
        ) from None


#: The headers of every request the SDK's own client sends.
_HEADERS = {"User-Agent": f"irefer-async/{__version__}", "Accept": "application/json"}


def build_http_client(
    stack: ModuleType, timeout: Any, concurrency: int | None, transport: Any, base_url: str = ""
) -> Any:
    """Build the SDK's own ``AsyncClient`` on ``stack``, or the sender ``transport=`` names.

    Keep-alive limit = pool size (``concurrency``), so the pool never closes and reopens.
    """
    pool = concurrency or 100
    if not isinstance(timeout, stack.Timeout):
        timeout = stack.Timeout(**timeout.as_dict())
    if not isinstance(transport, str):
        return stack.AsyncClient(
            timeout=timeout,
            limits=stack.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers=_HEADERS,
            transport=transport,
        )
    if transport != "aiohttp":
        raise ConfigurationError(
            f'transport must be an httpx transport or "aiohttp", got {transport!r}'
        )
    if stack.__name__ != "httpx":
        raise ConfigurationError(
            'transport="aiohttp" is the httpx stack\'s alternative (same errors, same timeouts); '
            f'drop http_stack="{stack.__name__}" or the transport'
        )
    try:
        from ._aiohttp import AiohttpSender  # noqa: PLC0415 - an optional extra
    except ImportError as exc:
        raise ConfigurationError(
            f'transport="aiohttp" needs the aiohttp extra ({exc.name} is not installed): '
            "pip install 'irefer-async[aiohttp]'"
        ) from None
    proxy = proxy_for(base_url, credentials=True)
    return AiohttpSender(pool=pool, timeout=timeout, headers=_HEADERS, proxy=proxy)


def count(name: str, value: int | None, low: int) -> int | None:
    """Check an integer option (``max_concurrency``, ``max_waiting``): ``>= low``, or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise ConfigurationError(f"{name} must be an integer >= {low} or None, got {value!r}")
    return value


def instance(name: str, value: T, kind: type, *, none: bool = True) -> T:
    """Check an option that must be a ``kind`` (``retry=``, ``share_reads=``...), or None."""
    if not isinstance(value, kind) and (value is not None or not none):
        also = " or None" if none else ""
        raise ConfigurationError(
            f"{name} must be a {kind.__name__}{also}, not {type(value).__name__}"
        )
    return value


def deadline(value: RetryConfig | None) -> float:
    """Seconds a call may take, from its start (``retry.deadline``; no retry: no deadline)."""
    return value.deadline if value is not None else math.inf


def read_cache(value: CacheConfig | None) -> ReadCache | None:
    """Build the read cache from ``cache=`` (None: no cache; the module loads only for one)."""
    if value is None:
        return None
    from ._cache import CacheConfig, ReadCache  # noqa: PLC0415

    return ReadCache(instance("cache", value, CacheConfig))
