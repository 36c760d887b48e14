"""The results of the API: frozen attrs classes whose fields are named as the API names them.

Every model keeps its JSON object in ``raw``; every result (not the nested `Reward`) carries
``fetched_at``, when it was decoded (UTC). Both are excluded from equality and repr.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import attrs


class _OpenEnum(str, enum.Enum):
    """A string enum that keeps an unknown value: a member named ``"UNKNOWN"``, not ``.known``."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        """Whether this value is one the SDK knows (not a kept unknown value)."""
        return self._name_ != "UNKNOWN"

    def __str__(self) -> str:
        return str(self.value)


class LeadSource(_OpenEnum):
    """The network a signup came from (``source`` / ``source_network``)."""

    TWITTER = "t"
    FACEBOOK = "f"
    LINKEDIN = "l"
    WHATSAPP = "w"
    EMAIL = "e"


class RewardQuantity(_OpenEnum):
    """How many times a reward may be earned."""

    SINGLE = "SINGLE"
    MULTIPLE = "MULTIPLE"


class RewardDelivery(_OpenEnum):
    """When a reward is delivered: once at its threshold, or at every multiple of it."""

    ONCE = "ONCE"
    EACHTIME = "EACHTIME"


class RewardGoalType(_OpenEnum):
    """The reward's goal type (the guide shows only ``STANDARD``)."""

    STANDARD = "STANDARD"


class RewardTo(_OpenEnum):
    """Who receives a reward. The API spells the referrer ``"REFFERER"``."""

    REFERRER = "REFFERER"
    REFERRED = "REFERRED"
    BOTH = "BOTH"


def _arrived(value: dt.datetime | None) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) if value is None else value


@attrs.frozen(slots=True, repr=False)
class _Model:
    """Every model's ``raw``, and their shared ``__repr__`` in attrs' own format."""

    #: The JSON object this was decoded from.
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{a.name}={getattr(self, a.name)!r}"
            for a in attrs.fields(cast(Any, type(self)))
            if a.repr
        )
        return f"{type(self).__name__}({shown})"


@attrs.frozen(slots=True, repr=False)
class _Result(_Model):
    """A result of a call (not the nested `Reward`): it also carries ``fetched_at``."""

    #: When the answer arrived (UTC), also when it comes from the client's cache.
    fetched_at: dt.datetime | None = attrs.field(
        default=None, converter=_arrived, eq=False, repr=False, kw_only=True
    )


@attrs.frozen(slots=True, repr=False)
class Reward(_Model):
    """A reward offered (or earned) in a campaign: its threshold, heading and description."""

    #: Referred signups needed to reach this reward.
    signups_count: int
    #: The reward's name.
    reward_heading: str
    #: The reward's description, if any.
    reward_description: str | None = None


def referral_code_of(referral_link: str) -> str:
    """Return the code in a referral link: its ``iref`` parameter, else its last path segment.

    A bare code comes back as is, unparsed (settle scans call this for every row).
    """
    if "/" not in referral_link and "?" not in referral_link:
        return referral_link
    query = parse_qs(urlsplit(referral_link).query)
    for name in ("iref", "ref", "referrer_code", "code"):
        if query.get(name):
            return query[name][0]
    return referral_link.rstrip("/").rsplit("/", 1)[-1]


@attrs.frozen(slots=True, repr=False)
class ReferrerStats(_Result):
    """``referrerStats``: one participant's referrals and rewards."""

    campaign_name: str
    email: str
    #: Whether the participant confirmed their email (``"1"``/``"0"`` on the wire).
    confirmed: bool
    referral_link: str
    referrals_made: int
    #: Last reward earned, or None (``"None"`` on the wire).
    reward_last: str | None = None
    reward_last_description: str | None = None
    #: Next reward to earn, or None.
    reward_next: str | None = None
    reward_next_description: str | None = None
    reward_next_referrals_remaining: int | None = None
    rewards_earned: tuple[Reward, ...] = ()
    rewards_offered: tuple[Reward, ...] = ()

    @property
    def referral_code(self) -> str:
        """The participant's referral code (the ``iref`` of `referral_link`).

        Pass it as ``referrer_code=`` to credit this participant with a signup or action.
        """
        return referral_code_of(self.referral_link)


@attrs.frozen(slots=True, repr=False)
class CampaignStats(_Result):
    """``campaignStats``: views, signups, conversion and referrals by network."""

    campaign_name: str
    total_views: int
    signups_total: int
    signups_today: int
    #: signups_total / total_views in percent (``"21.4%"`` on the wire gives ``21.4``).
    conversion: float | None
    referrals: int
    facebook_referrals: int = 0
    whatsapp_referrals: int = 0
    twitter_referrals: int = 0
    linkedin_referrals: int = 0
    email_referrals: int = 0
    rewards_offered: tuple[Reward, ...] = ()


@attrs.frozen(slots=True, repr=False)
class NewSignup(_Result):
    """``newSignup``: the participant just added.

    ``reconciled``: the response was lost and a read confirmed the signup (``raw`` is that
    read's JSON). ``age_unknown`` (with ``reconciled``): it exists, credited as sent, but
    whether this call created it is unknown (docs/reliability.md); never an SDK duplicate.
    """

    campaign_name: str
    email: str
    confirmed: bool
    referral_link: str
    #: Email of the referrer credited, if any.
    referrer: str | None = None
    reward_next: str | None = None
    reward_next_description: str | None = None
    reward_next_referrals_required: int | None = None
    rewards_offered: tuple[Reward, ...] = ()
    reconciled: bool = attrs.field(default=False, kw_only=True)
    #: Reconciled, but whether this call or an earlier signup created it is unknown.
    age_unknown: bool = attrs.field(default=False, kw_only=True)

    @property
    def referral_code(self) -> str:
        """The new participant's referral code (the ``iref`` of `referral_link`).

        Pass it as ``referrer_code=`` to credit this participant with a signup or action.
        """
        return referral_code_of(self.referral_link)


@attrs.frozen(slots=True, repr=False)
class NewSpecificAction(_Result):
    """``newSpecificAction``: the action just recorded.

    ``reconciled``: the response was lost and the action was found in
    ``specificActionSignups``.
    """

    campaign_name: str | None
    external_id: str
    reconciled: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen(slots=True, repr=False)
class Referrer(_Result):
    """One item of ``referrers``: a participant of the campaign.

    Here the API's ``referral_link`` holds the bare code (``"jZA3MbP0"``), not a link.
    """

    id: int
    campaign_id: int
    #: The participant's referral code, despite the name (the API's field, kept as sent).
    referral_link: str
    referrer_email: str | None
    name: str | None
    email: str
    phone: str | None = None
    info_1: str | None = None
    info_2: str | None = None
    info_3: str | None = None
    info_4: str | None = None
    info_5: str | None = None
    created_at: dt.datetime | None = None
    ip: str | None = None
    #: The network the participant came from, or None (``""`` on the wire).
    source_network: LeadSource | None = None
    referrals_count: int = 0

    @property
    def referral_code(self) -> str:
        """The participant's referral code (what the API sends as ``referral_link``)."""
        return referral_code_of(self.referral_link)


@attrs.frozen(slots=True, repr=False)
class TriggeredReward(_Result):
    """One item of ``rewards``: a reward triggered for a participant."""

    id: int
    campaign_id: int
    triggered_at: dt.datetime | None
    recipient_id: int
    recipient_email: str
    recipient_name: str | None
    recipient_referral_code: str | None
    referrals_made: int
    reward_id: int
    reward_heading: str
    reward_description: str | None
    reward_signups_count: int
    reward_quantity: RewardQuantity | None = None
    reward_delivery: RewardDelivery | None = None
    reward_goal_type: RewardGoalType | None = None
    reward_to: RewardTo | None = None


@attrs.frozen(slots=True, repr=False)
class SpecificActionSignup(_Result):
    """One item of ``specificActionSignups``: a specific action credited to a referrer."""

    id: int
    campaign_id: int
    referrer_email: str | None
    #: The external id (usually an email) of the referred person who did the action.
    referred_person: str
    specific_action: str
    created_at: dt.datetime | None = None
    ip: str | None = None
