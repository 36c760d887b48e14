"""irefer-async: the asyncio SDK for the iRefer referral-campaign API.

For example:

```python
from irefer_async import IReferClient

async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
    stats = await client.referrer_stats("ann@example.com")
```

The emulator and pytest fixture live in `irefer_async.testing`.
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
from ._cache import CacheConfig
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
from ._stream import ListStream
from .doctor._drift import DriftEntry, DriftKind, DriftRecorder
from .doctor._probe import CheckStatus, ProbeCheck, ProbeReport
from .feed._events import (
    ActionRecorded,
    FeedEvent,
    ParticipantJoined,
    ParticipantUnlisted,
    ReferralCredited,
    RewardTriggered,
    event_from_json,
)
from .feed._feed import ClientSource, FeedSource, PollReport, RewardFeed
from .feed._signing import SignatureError, sign_payload, verify_signature
from .feed._store import FeedStore, SQLiteFeedStore, StoreLockedError
from .redis._feed_store import RedisFeedStore  # redis itself is imported on first use

if TYPE_CHECKING:  # imported on first use, see __getattr__: redis is an optional extra
    from .redis._limiter import RedisRateLimiter

try:
    __version__ = version("irefer-async")
except PackageNotFoundError:  # running from a checkout that was never installed
    from ._version import __version__

__all__ = [
    "APIError",
    "ActionOutcome",
    "ActionRecorded",
    "BulkOutcome",
    "BulkRun",
    "BulkStatus",
    "BulkSummary",
    "CacheConfig",
    "CallEvent",
    "CampaignStats",
    "CheckStatus",
    "ClientSource",
    "ClientStateError",
    "ConfigurationError",
    "ConnectError",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DeadlineExceededError",
    "DriftEntry",
    "DriftKind",
    "DriftRecorder",
    "DuplicateSignupError",
    "EmptyResponseError",
    "EventHook",
    "EventHooks",
    "FeedEvent",
    "FeedSource",
    "FeedStore",
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
    "ParticipantJoined",
    "ParticipantUnlisted",
    "PollReport",
    "ProbeCheck",
    "ProbeReport",
    "QueueFullError",
    "RateLimit",
    "RateLimitedError",
    "RedisFeedStore",
    "RedisRateLimiter",
    "ReferralCredited",
    "Referrer",
    "ReferrerStats",
    "RequestTimeoutError",
    "ResponseError",
    "RetryConfig",
    "Reward",
    "RewardDelivery",
    "RewardFeed",
    "RewardGoalType",
    "RewardQuantity",
    "RewardTo",
    "RewardTriggered",
    "SQLiteFeedStore",
    "ServerError",
    "SignatureError",
    "SignupOutcome",
    "SpecificActionSignup",
    "StoreLockedError",
    "StreamInterruptedError",
    "TransportError",
    "TriggeredReward",
    "WriteOutcomeUnknownError",
    "__version__",
    "correlation_scope",
    "event_from_json",
    "sign_payload",
    "verify_signature",
]


def __getattr__(name: str) -> Any:
    """Import `RedisRateLimiter`, and so `redis`, only when it is first used.

    Without the `redis` extra the name still resolves (see `irefer_async.redis`) to a stand-in
    whose construction raises `ImportError` naming the extra.
    """
    if name == "RedisRateLimiter":
        from .redis import RedisRateLimiter  # noqa: PLC0415 - redis is optional

        globals()[name] = RedisRateLimiter
        return RedisRateLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
