"""The reward feed: campaign changes as signed, deduplicated events.

`RewardFeed` polls the list endpoints through a `FeedSource` (usually `ClientSource` over an
`irefer_async.IReferClient`), compares them with a `FeedStore` (`SQLiteFeedStore` on one host)
and yields `FeedEvent`s once each; `sign_payload`/`verify_signature` sign what `irefer watch
--forward` posts. A satellite of the core: it uses only `irefer_async`'s public names.
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
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    sign_payload,
    verify_signature,
)
from ._store import (
    FeedStore,
    KnownParticipant,
    ParticipantUpdate,
    Pending,
    PollCursor,
    SQLiteFeedStore,
    StoreLockedError,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
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
    "event_from_json",
    "event_id",
    "sign_payload",
    "verify_signature",
]
