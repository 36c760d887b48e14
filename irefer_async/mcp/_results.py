"""What the tools return: compact Pydantic models (their schemas are the tools' output schemas).

Every result fits in `MAX_RESULT_BYTES` of JSON (indented, as in the text the model reads):
`fit` drops items from the end of a list until it does, and says so in ``truncated`` and
``note`` (with how to ask for more). Free text from the campaign (names, reward headings) is
cut to `MAX_TEXT` characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel, Field

__all__ = [
    "MAX_RESULT_BYTES",
    "MAX_TEXT",
    "ActionRow",
    "ActionSignupsResult",
    "CampaignStatsResult",
    "FindParticipantsResult",
    "NewSignupResult",
    "NewSpecificActionResult",
    "Participant",
    "RecentRewardsResult",
    "ReferrerStatsResult",
    "RewardRow",
    "RewardSummary",
    "SentRequest",
    "TopReferrersResult",
    "fit",
    "iso",
    "short",
]

#: The most JSON a tool result may carry (an agent's context is not a dump).
MAX_RESULT_BYTES = 8000
#: The most characters kept of a free-text field.
MAX_TEXT = 200

M = TypeVar("M", bound=BaseModel)


def short(text: str | None) -> str | None:
    """Cut free text to `MAX_TEXT` characters (an ellipsis marks the cut)."""
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1] + "…"


def iso(moment: dt.datetime | None) -> str | None:
    """Return a timestamp as ISO 8601 text, or None."""
    return None if moment is None else moment.isoformat()


def _size(result: BaseModel) -> int:
    # As the model reads it: the MCP SDK sends the result as indented JSON text.
    return len(result.model_dump_json(indent=2).encode())


def fit(result: M, items: str, more: Callable[[int, int], str]) -> M:
    """Return *result* with its list field *items* cut until its JSON fits `MAX_RESULT_BYTES`.

    When items are dropped, ``truncated`` becomes True and ``note`` says ``more(kept, had)``
    (how to ask for the rest).
    """
    rows: Sequence[object] = getattr(result, items)
    if _size(result) <= MAX_RESULT_BYTES:
        return result
    had = len(rows)
    keep = had
    while keep > 0:
        keep = keep * 3 // 4 if keep > 8 else keep - 1
        cut = result.model_copy(
            update={items: list(rows[:keep]), "truncated": True, "note": more(keep, had)}
        )
        if _size(cut) <= MAX_RESULT_BYTES:
            return cut
    return result.model_copy(update={items: [], "truncated": True, "note": more(0, had)})


class _Listing(BaseModel):
    truncated: bool = Field(
        default=False, description="True when the answer was cut (to the limit or to about 8 KB)."
    )
    note: str | None = Field(default=None, description="What was left out and how to ask for more.")


class RewardSummary(BaseModel):
    """A reward of the campaign: its heading and the signups it takes."""

    heading: str | None
    signups_count: int


class ReferrerStatsResult(_Listing):
    """One participant's referrals and rewards."""

    email: str
    confirmed: bool
    referral_code: str | None
    referral_link: str
    referrals_made: int
    reward_last: str | None = None
    reward_next: str | None = None
    reward_next_referrals_remaining: int | None = None
    rewards_earned: list[RewardSummary] = Field(default_factory=list)
    rewards_offered: list[RewardSummary] = Field(default_factory=list)


class CampaignStatsResult(_Listing):
    """The campaign's totals."""

    campaign_name: str | None
    total_views: int
    signups_total: int
    signups_today: int
    conversion_percent: float | None
    referrals: int
    referrals_by_network: dict[str, int]
    rewards_offered: list[RewardSummary] = Field(default_factory=list)


class Participant(BaseModel):
    """A participant as listed by ``referrers``."""

    email: str
    name: str | None
    referral_code: str | None
    referrals: int
    joined: str | None = Field(default=None, description="When they signed up (ISO 8601).")
    referred_by: str | None = Field(default=None, description="The email of who referred them.")


class TopReferrersResult(_Listing):
    """The participants with the most referrals (or the newest), best first."""

    by: str
    scanned: int = Field(description="Participants read to answer.")
    items: list[Participant]


class FindParticipantsResult(_Listing):
    """Participants whose email or name contains the query (case-insensitive)."""

    query: str
    scanned: int = Field(description="Participants read to answer.")
    more: bool = Field(description="True when more participants matched than were returned.")
    items: list[Participant]


class RewardRow(BaseModel):
    """A reward triggered for a participant."""

    recipient_email: str
    recipient_name: str | None
    reward_heading: str | None
    referrals_made: int
    triggered_at: str | None


class RecentRewardsResult(_Listing):
    """The most recently triggered rewards, newest first."""

    since: str | None
    matched: int = Field(description="Rewards triggered in the period (all of them counted).")
    items: list[RewardRow]


class ActionRow(BaseModel):
    """A specific action credited to a referrer."""

    referred_person: str
    specific_action: str
    referrer_email: str | None
    created_at: str | None


class ActionSignupsResult(_Listing):
    """The most recent specific actions, newest first, with counts per action."""

    action: str | None
    matched: int = Field(description="Actions matching the filter (all of them counted).")
    by_action: dict[str, int] = Field(
        description="How many rows each action has (the 50 most common shown)."
    )
    items: list[ActionRow]


class SentRequest(BaseModel):
    """A request exactly as it would be sent, the keys replaced by placeholders."""

    method: str = Field(description="The HTTP method.")
    url: str = Field(
        description="The full URL; '[license key]' and '[api key]' stand for the keys."
    )
    params: dict[str, str] = Field(description="The query parameters in the order sent.")


class NewSignupResult(BaseModel):
    """A signup made, replayed from this server's record, or only described (dry run)."""

    dry_run: bool
    sent: bool = Field(description="Whether this call sent a request to iRefer.")
    replayed: bool = Field(
        default=False,
        description="True when an identical earlier call already made this signup: "
        "answered from this server's record, nothing sent again.",
    )
    would_send: SentRequest | None = None
    email: str | None = None
    referral_code: str | None = None
    referral_link: str | None = None
    referrer: str | None = None
    reconciled: bool = Field(
        default=False, description="True when a lost answer was recovered by reading the campaign."
    )


class NewSpecificActionResult(BaseModel):
    """A specific action recorded, replayed from this server's record, or only described."""

    dry_run: bool
    sent: bool = Field(description="Whether this call sent a request to iRefer.")
    replayed: bool = Field(
        default=False,
        description="True when an identical earlier call already recorded this action: "
        "answered from this server's record, nothing sent again.",
    )
    would_send: SentRequest | None = None
    external_id: str | None = None
    reconciled: bool = Field(
        default=False, description="True when a lost answer was recovered by reading the campaign."
    )
