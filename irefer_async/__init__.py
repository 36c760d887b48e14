"""irefer-async: the asyncio SDK for the iRefer referral-campaign API.

Example::

    from irefer_async import IReferClient

    async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
        stats = await client.referrer_stats("ann@example.com")

The emulator and pytest fixture live in :mod:`irefer_async.testing`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._bulk import (
    ActionOutcome,
    BulkOutcome,
    BulkRun,
    BulkStatus,
    BulkSummary,
    NewSignupRequest,
    NewSpecificActionRequest,
    SignupOutcome,
)
from ._client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    IReferClient,
)
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
    RateLimitedError,
    RequestTimeoutError,
    ResponseError,
    ServerError,
    TransportError,
    WriteOutcomeUnknownError,
)
from ._limits import Limiter, LocalRateLimiter, RateLimit
from ._models import (
    CampaignStats,
    LeadSource,
    NewSignup,
    NewSpecificAction,
    Referrer,
    ReferrerStats,
    Reward,
    RewardDelivery,
    RewardGoalType,
    RewardQuantity,
    RewardTo,
    SpecificActionSignup,
    TriggeredReward,
)
from ._observability import CallEvent, EventHook, EventHooks, correlation_scope
from ._retry import RetryConfig

if TYPE_CHECKING:  # imported on first use, see __getattr__: redis is an optional extra
    from ._redis_limiter import RedisRateLimiter

try:
    __version__ = version("irefer-async")
except PackageNotFoundError:  # running from a checkout that was never installed
    from ._version import __version__

__all__ = [
    "APIError",
    "ActionOutcome",
    "BulkOutcome",
    "BulkRun",
    "BulkStatus",
    "BulkSummary",
    "CallEvent",
    "CampaignStats",
    "ClientStateError",
    "ConfigurationError",
    "ConnectError",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DeadlineExceededError",
    "DuplicateSignupError",
    "EmptyResponseError",
    "EventHook",
    "EventHooks",
    "HTTPStatusError",
    "IReferClient",
    "IReferError",
    "InvalidRequestError",
    "LeadSource",
    "Limiter",
    "LocalRateLimiter",
    "MalformedResponseError",
    "NewSignup",
    "NewSignupRequest",
    "NewSpecificAction",
    "NewSpecificActionRequest",
    "RateLimit",
    "RateLimitedError",
    "RedisRateLimiter",
    "Referrer",
    "ReferrerStats",
    "RequestTimeoutError",
    "ResponseError",
    "RetryConfig",
    "Reward",
    "RewardDelivery",
    "RewardGoalType",
    "RewardQuantity",
    "RewardTo",
    "ServerError",
    "SignupOutcome",
    "SpecificActionSignup",
    "TransportError",
    "TriggeredReward",
    "WriteOutcomeUnknownError",
    "__version__",
    "correlation_scope",
]


def __getattr__(name: str) -> Any:
    """Import :class:`RedisRateLimiter`, and so ``redis``, only when it is first used."""
    if name == "RedisRateLimiter":
        try:
            from ._redis_limiter import RedisRateLimiter  # noqa: PLC0415 - redis is optional
        except ImportError as exc:
            raise ImportError(
                "RedisRateLimiter needs redis: pip install 'irefer-async[redis]'"
            ) from exc
        globals()[name] = RedisRateLimiter
        return RedisRateLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
