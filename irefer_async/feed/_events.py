"""The feed's events: what changed in a campaign between two polls, typed and serialisable.

Five types, named as a handler or a receiver writes them:

==========================  =====================================  ==========================
``type``                    when                                   ``row``
==========================  =====================================  ==========================
``reward.triggered``        a new ``rewards`` row (``EACHTIME``    `TriggeredReward`
                            rewards fire at every multiple)
``participant.joined``      a new ``referrers`` row                `Referrer`
``referral.credited``       a participant's ``referrals_count``    `Referrer`
                            rose: one event per unit, ``data``
                            ``{"referrals_count": n}``
``action.recorded``         a new ``specificActionSignups`` row    `SpecificActionSignup`
``participant.unlisted``    a ``referrers`` row disappeared        `Referrer` (last seen)
                            (e.g. a plan limit hides sign-ups);
                            ``data`` ``{"times": n}``
==========================  =====================================  ==========================

Each event's ``id`` is derived from the campaign, the type and the row's identity only
(`event_id`), so the same change gets the same id after a restart and on another machine.
The JSON form (`FeedEvent.to_json`) is one object with ``id``, ``type``, ``campaign``,
``observed_at``, ``row`` (the API's row exactly as it came) and ``data`` at the top.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Generic, TypeVar

import attrs

from irefer_async import InvalidRequestError, Referrer, SpecificActionSignup, TriggeredReward
from irefer_async.decoding import decode

__all__ = [
    "EVENT_TYPES",
    "ActionRecorded",
    "FeedEvent",
    "ParticipantJoined",
    "ParticipantUnlisted",
    "ReferralCredited",
    "RewardTriggered",
    "event_from_json",
    "event_id",
]

R = TypeVar("R")


def event_id(campaign: int, type: str, *identity: object) -> str:
    """Return the deterministic id of an event: ``evt_`` and 24 hex digits of a SHA-256.

    >>> event_id(2605, "reward.triggered", 301)
    'evt_...'
    """
    text = ":".join(str(part) for part in (campaign, type, *identity))
    return "evt_" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@attrs.frozen(slots=True)
class FeedEvent(Generic[R]):
    """Base class of the feed's events: one change observed in a campaign."""

    #: The event's type name (``"reward.triggered"``...), a class constant.
    type: ClassVar[str] = ""
    #: The list endpoint whose rows this event carries.
    source: ClassVar[str] = ""

    #: Deterministic id: the same change has the same id everywhere (see `event_id`).
    id: str
    #: The campaign id.
    campaign: int
    #: When the poll that saw the change ran (UTC); kept on redelivery.
    observed_at: dt.datetime
    #: The API's row as it came (``row`` in the JSON form).
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    #: Type-specific details (``{"referrals_count": n}`` for ``referral.credited``).
    data: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def row(self) -> R:
        """The row, decoded into the SDK's model for its endpoint."""
        model = _MODELS[self.source]
        return decode(self.raw, model, method=self.source)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form as a dict (``id``, ``type``, ``campaign``, ``observed_at``...)."""
        return {
            "id": self.id,
            "type": self.type,
            "campaign": self.campaign,
            "observed_at": _utc(self.observed_at),
            "row": dict(self.raw),
            "data": dict(self.data),
        }

    def to_json(self) -> str:
        """Return the JSON form on one line (what ``irefer watch`` pipes to ``--exec``, POSTs)."""
        return json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False)


@attrs.frozen(slots=True)
class RewardTriggered(FeedEvent[TriggeredReward]):
    """``reward.triggered``: a reward fired for a participant (a new ``rewards`` row)."""

    type: ClassVar[str] = "reward.triggered"
    source: ClassVar[str] = "rewards"


@attrs.frozen(slots=True)
class ParticipantJoined(FeedEvent[Referrer]):
    """``participant.joined``: a new participant (see ``row.referrer_email``)."""

    type: ClassVar[str] = "participant.joined"
    source: ClassVar[str] = "referrers"


@attrs.frozen(slots=True)
class ReferralCredited(FeedEvent[Referrer]):
    """``referral.credited``: the participant's referral count reached ``referrals_count``."""

    type: ClassVar[str] = "referral.credited"
    source: ClassVar[str] = "referrers"

    @property
    def referrals_count(self) -> int:
        """The count this credit brought the participant to (one event per unit)."""
        return int(self.data["referrals_count"])


@attrs.frozen(slots=True)
class ActionRecorded(FeedEvent[SpecificActionSignup]):
    """``action.recorded``: a specific action credited to a referrer."""

    type: ClassVar[str] = "action.recorded"
    source: ClassVar[str] = "specificActionSignups"


@attrs.frozen(slots=True)
class ParticipantUnlisted(FeedEvent[Referrer]):
    """``participant.unlisted``: a participant no longer listed (``row`` is the last seen)."""

    type: ClassVar[str] = "participant.unlisted"
    source: ClassVar[str] = "referrers"


_MODELS: Final[dict[str, type[Any]]] = {
    "rewards": TriggeredReward,
    "referrers": Referrer,
    "specificActionSignups": SpecificActionSignup,
}

_CLASSES: Final[dict[str, type[FeedEvent[Any]]]] = {
    cls.type: cls
    for cls in (RewardTriggered, ParticipantJoined, ReferralCredited, ActionRecorded,
                ParticipantUnlisted)
}  # fmt: skip

#: Every event type name, in the order the table above lists them.
EVENT_TYPES: Final[tuple[str, ...]] = tuple(_CLASSES)


def event_class(type_name: str) -> type[FeedEvent[Any]]:
    """Return the event class for *type_name*, or a typed error naming the known types."""
    try:
        return _CLASSES[type_name]
    except KeyError:
        raise InvalidRequestError(
            f"unknown event type {type_name!r}; known: {', '.join(EVENT_TYPES)}"
        ) from None


def event_from_json(text: str | bytes | Mapping[str, Any]) -> FeedEvent[Any]:
    """Rebuild a typed event from its JSON form (a receiver's or an ``--exec`` command's input).

    >>> event = event_from_json(line)          # doctest: +SKIP
    >>> if event.type == "reward.triggered": ...
    """
    data = json.loads(text) if isinstance(text, (str, bytes)) else text
    if not isinstance(data, Mapping):
        raise InvalidRequestError("an event's JSON form is an object")
    cls = event_class(str(data.get("type")))
    try:
        observed = dt.datetime.fromisoformat(str(data["observed_at"]).replace("Z", "+00:00"))
        return cls(
            id=str(data["id"]),
            campaign=int(data["campaign"]),
            observed_at=observed,
            raw=dict(data["row"]),
            data=dict(data.get("data") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequestError(f"not an event's JSON form: {type(exc).__name__}") from None
