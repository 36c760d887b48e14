"""irefer-async: the asyncio SDK for the iRefer referral-campaign API.

For example:

```python
from irefer_async import IReferClient

async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
    stats = await client.referrer_stats("ann@example.com")
```

This package is the core: the client, its models, errors and configuration. The endpoint
table is `irefer_async.endpoints`, the decoder `irefer_async.decoding`, every model and its
field enums `irefer_async.models`, event hooks `irefer_async.hooks`. Satellites built on
the core's public names are subpackages, imported only when used: `irefer_async.feed` (the
reward feed), `irefer_async.doctor` (readiness checks, schema drift), `irefer_async.redis`
(a shared rate limit and feed store), `irefer_async.testing` (the emulator and pytest
fixture) and `irefer_async.cli` (the ``irefer`` command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._client import IReferClient
from ._errors import (
    APIError,
    ClientStateError,
    ConfigurationError,
    ConnectError,
    DeadlineExceededError,
    DuplicateSignupError,
    EmptyResponseError,
    HTTPStatusError,
    InvalidRequestError,
    IReferError,
    MalformedResponseError,
    QueueFullError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseError,
    ServerError,
    StreamInterruptedError,
    TransportError,
    WriteOutcomeUnknownError,
)
from ._limits import Limiter, LocalRateLimiter, RateLimit
from ._observability import correlation_scope
from ._redact import Redactor
from ._retry import RetryConfig
from ._version import __version__ as __version__

if TYPE_CHECKING:
    from ._bulk import (
        BulkOutcome,
        BulkRun,
        BulkStatus,
        BulkSummary,
        NewSignupRequest,
        NewSpecificActionRequest,
    )
    from ._cache import CacheConfig
    from ._models import (
        CampaignStats,
        LeadSource,
        NewSignup,
        NewSpecificAction,
        Referrer,
        ReferrerStats,
        Reward,
        SpecificActionSignup,
        TriggeredReward,
    )
    from ._stream import ListStream

#: Names imported on first use, not with the package: the bulk engine, the list streams, the
#: read cache and, for every other name of `__all__` not imported above, the result models.
_LAZY = {
    "BulkOutcome": "_bulk",
    "BulkRun": "_bulk",
    "BulkStatus": "_bulk",
    "BulkSummary": "_bulk",
    "NewSignupRequest": "_bulk",
    "NewSpecificActionRequest": "_bulk",
    "ListStream": "_stream",
    "CacheConfig": "_cache",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'irefer_async' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    module = importlib.import_module(f".{_LAZY.get(name, '_models')}", __name__)
    globals()[name] = value = getattr(module, name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "APIError",
    "BulkOutcome",
    "BulkRun",
    "BulkStatus",
    "BulkSummary",
    "CacheConfig",
    "CampaignStats",
    "ClientStateError",
    "ConfigurationError",
    "ConnectError",
    "DeadlineExceededError",
    "DuplicateSignupError",
    "EmptyResponseError",
    "HTTPStatusError",
    "IReferClient",
    "IReferError",
    "InvalidRequestError",
    "LeadSource",
    "Limiter",
    "ListStream",
    "LocalRateLimiter",
    "MalformedResponseError",
    "NewSignup",
    "NewSignupRequest",
    "NewSpecificAction",
    "NewSpecificActionRequest",
    "QueueFullError",
    "RateLimit",
    "RateLimitedError",
    "Redactor",
    "Referrer",
    "ReferrerStats",
    "RequestTimeoutError",
    "ResponseError",
    "RetryConfig",
    "Reward",
    "ServerError",
    "SpecificActionSignup",
    "StreamInterruptedError",
    "TransportError",
    "TriggeredReward",
    "WriteOutcomeUnknownError",
    "correlation_scope",
]
