"""Seed types: what a campaign looks like before anyone signs up.

These are the emulator's equivalent of the campaign settings page on app.irefer.io. They are
frozen so one spec can seed many emulators (and survive `Emulator.reset`) unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from irefer_async.models import RewardDelivery, RewardQuantity

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CAMPAIGN",
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_LICENSE_KEY",
    "ActionMatch",
    "ActionRule",
    "CampaignSpec",
    "RewardDelivery",
    "RewardQuantity",
    "RewardSpec",
]

LICENSE_KEY_PREFIX = "W4qL"
LICENSE_KEY_LENGTH = 32


class ActionMatch(str, enum.Enum):
    """How a specific-action rule compares the ``action`` parameter with its page."""

    EXACT = "exact"
    CONTAINS = "contains"


@attrs.frozen
class RewardSpec:
    """A reward offered by a campaign, triggered by a referrer's referral count.

    ``signups_count`` is the threshold; with `RewardDelivery.EACHTIME` the reward fires again
    at every multiple of it.
    """

    #: Referrals needed to earn the reward.
    signups_count: int = attrs.field(validator=attrs.validators.gt(0))
    #: The reward's name (``reward_heading`` on the wire).
    heading: str
    #: The reward's description; ``""`` when none.
    description: str = ""
    #: ``reward_quantity`` on the wire.
    quantity: RewardQuantity = attrs.field(default=RewardQuantity.SINGLE, converter=RewardQuantity)
    #: ``reward_delivery`` on the wire.
    delivery: RewardDelivery = attrs.field(default=RewardDelivery.ONCE, converter=RewardDelivery)
    #: ``reward_goal_type`` on the wire.
    goal_type: str = "STANDARD"
    #: ``reward_to`` on the wire; the API spells it ``REFFERER``.
    reward_to: str = "REFFERER"


@attrs.frozen
class ActionRule:
    """A specific-action page that ``newSpecificAction`` accepts.

    >>> ActionRule("/dashboard").matches("/dashboard")
    True
    >>> ActionRule("thanks", match="contains").matches("/shop/thanks/")
    True
    """

    #: The page name or URL part, e.g. ``"/dashboard"``.
    page: str
    #: Exact comparison, or substring.
    match: ActionMatch = attrs.field(default=ActionMatch.EXACT, converter=ActionMatch)

    def matches(self, action: str) -> bool:
        """Whether *action* satisfies this rule."""
        if self.match is ActionMatch.EXACT:
            return action == self.page
        return self.page in action


def _rewards(value: Iterable[RewardSpec]) -> tuple[RewardSpec, ...]:
    return tuple(value)


def _actions(value: Iterable[ActionRule]) -> tuple[ActionRule, ...]:
    return tuple(value)


def _check_license_key(_: object, __: object, value: str) -> None:
    if not (value.startswith(LICENSE_KEY_PREFIX) and len(value) == LICENSE_KEY_LENGTH):
        raise ValueError(
            f"license keys start with {LICENSE_KEY_PREFIX!r} and are {LICENSE_KEY_LENGTH} chars"
        )


@attrs.frozen
class CampaignSpec:
    """A campaign's settings: identity, keys, rewards offered and specific-action rules.

    The keys are hidden from ``repr`` so a failing test never prints them.
    """

    #: ``campaign_id``.
    id: int
    #: ``campaign_name``.
    name: str
    #: The license key in the URL path (``W4qL`` + 28 characters).
    license_key: str = attrs.field(repr=False, validator=_check_license_key)
    #: The ``api_key`` query parameter.
    api_key: str = attrs.field(repr=False)
    #: Rewards offered, in the order the API lists them.
    rewards: tuple[RewardSpec, ...] = attrs.field(default=(), converter=_rewards)
    #: Pages accepted by ``newSpecificAction``.
    actions: tuple[ActionRule, ...] = attrs.field(default=(), converter=_actions)
    #: The referral landing page; a participant's link is ``{landing_url}?iref={code}``.
    landing_url: str = "http://getirefer.com/"
    #: Whether new participants start unconfirmed (``"confirmed": "0"``).
    requires_confirmation: bool = False


#: The demo license key (not a secret: it only unlocks emulators).
DEFAULT_LICENSE_KEY = "W4qLemulatordemo0000000000000000"
#: The demo api key (not a secret: it only unlocks emulators).
DEFAULT_API_KEY = "irefer-emulator-api-key"
#: The campaign id of the guide's samples.
DEFAULT_CAMPAIGN_ID = 2605

#: The campaign of the guide's samples: two ONCE rewards at 1 and 5 referrals, ``/dashboard``.
DEFAULT_CAMPAIGN = CampaignSpec(
    id=DEFAULT_CAMPAIGN_ID,
    name="My referral campaign",
    license_key=DEFAULT_LICENSE_KEY,
    api_key=DEFAULT_API_KEY,
    rewards=(
        RewardSpec(
            1,
            "Get a $10 Coupon!",
            "Refer 1 of your friends and we will send you a $10 coupon to redeem at our website.",
        ),
        RewardSpec(
            5,
            "Get a $50 Coupon!",
            "Refer 5 of your friends and we will send you a $50 coupon to redeem at our website.",
        ),
    ),
    actions=(ActionRule("/dashboard"),),
)
