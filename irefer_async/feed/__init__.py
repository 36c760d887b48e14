"""The reward feed: campaign changes as signed, deduplicated events.

`RewardFeed` polls the list endpoints through a `FeedSource` (usually `ClientSource` over an
`irefer_async.IReferClient`), compares them with a `FeedStore` (`SQLiteFeedStore` on one host)
and yields `FeedEvent`s once each; `sign_payload`/`verify_signature` sign and verify what
`irefer watch --forward` posts (Standard Webhooks). A satellite of the core: it uses only
`irefer_async`'s public names.
"""

from __future__ import annotations

from ._events import (
    EVENT_TYPES,
    ActionRecorded,
    FeedEvent,
    ParticipantJoined,
    ParticipantUnlisted,
    ReferralCredited,
    RewardTriggered,
    event_from_json,
    event_id,
)
from ._feed import ClientSource, FeedSource, PollReport, RewardFeed
from ._signing import (
    DEFAULT_TOLERANCE,
    SECRET_PREFIX,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    SignatureError,
    check_secret,
    generate_secret,
    sign_payload,
    verify_signature,
)
from ._store import (
    DEFAULT_LOCK_TIMEOUT,
    FeedStore,
    KnownParticipant,
    ParticipantUpdate,
    Pending,
    PollCursor,
    SQLiteFeedStore,
    StoreLockedError,
)

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_TOLERANCE",
    "EVENT_TYPES",
    "SECRET_PREFIX",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "ActionRecorded",
    "ClientSource",
    "FeedEvent",
    "FeedSource",
    "FeedStore",
    "KnownParticipant",
    "ParticipantJoined",
    "ParticipantUnlisted",
    "ParticipantUpdate",
    "Pending",
    "PollCursor",
    "PollReport",
    "ReferralCredited",
    "RewardFeed",
    "RewardTriggered",
    "SQLiteFeedStore",
    "SignatureError",
    "StoreLockedError",
    "check_secret",
    "event_from_json",
    "event_id",
    "generate_secret",
    "sign_payload",
    "verify_signature",
]
