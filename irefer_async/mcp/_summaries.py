"""The read tools' answers, computed by streaming the list endpoints.

Each summary reads its list once with ``client.iter_*()`` and keeps only what it returns: a
heap of at most ``limit`` rows (`heapq`, keyed so that ties never compare rows), counters,
and for `find_participants` the first ``limit + 1`` matches (it stops reading there). Memory
is bounded by ``limit`` whatever the campaign's size; the stream itself yields to the loop
between items.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Literal

from irefer_async import (
    CampaignStats,
    IReferClient,
    Referrer,
    ReferrerStats,
    Reward,
    SpecificActionSignup,
    TriggeredReward,
)

from ._results import (
    ActionRow,
    ActionSignupsResult,
    CampaignStatsResult,
    FindParticipantsResult,
    Participant,
    RecentRewardsResult,
    ReferrerStatsResult,
    RewardRow,
    RewardSummary,
    TopReferrersResult,
    fit,
    iso,
    short,
)

__all__ = [
    "PROGRESS_EVERY",
    "Progress",
    "RankBy",
    "action_signups",
    "campaign_stats",
    "find_participants",
    "parse_since",
    "recent_rewards",
    "referrer_stats",
    "top_referrers",
]

RankBy = Literal["referrals", "newest"]
#: Told how many rows have been read, every `PROGRESS_EVERY` rows (MCP progress notifications,
#: which also keep a client's timeout from running out on a long list).
Progress = Callable[[int], Awaitable[None]] | None
PROGRESS_EVERY = 50_000

#: Distinct actions counted one by one; any further ones are counted together.
_MAX_ACTIONS = 1000
_OTHER_ACTIONS = "(other actions)"
_SHOWN_ACTIONS = 50
_LIST_LIMIT = 20  # rewards listed in a stats answer

_NEVER = float("-inf")


def _rewards(rewards: tuple[Reward, ...]) -> list[RewardSummary]:
    return [RewardSummary(heading=short(r.reward_heading), signups_count=r.signups_count)
            for r in rewards[:_LIST_LIMIT]]  # fmt: skip


def _participant(row: Referrer) -> Participant:
    return Participant(
        email=row.email,
        name=short(row.name),
        referral_code=row.referral_code or None,
        referrals=row.referrals_count,
        joined=iso(row.created_at),
        referred_by=row.referrer_email,
    )


def _stamp(moment: dt.datetime | None) -> float:
    return _NEVER if moment is None else moment.timestamp()


def _more_rows(what: str) -> Callable[[int, int], str]:
    def more(kept: int, had: int) -> str:
        return (f"showing {kept} of {had} {what} to stay under 8 KB; "
                "ask again with a smaller limit or a narrower filter")  # fmt: skip

    return more


async def referrer_stats(client: IReferClient, email: str) -> ReferrerStatsResult:
    """Return one participant's stats (``referrerStats``), its reward lists cut to 20 each."""
    stats: ReferrerStats = await client.referrer_stats(email)
    cut = len(stats.rewards_earned) > _LIST_LIMIT or len(stats.rewards_offered) > _LIST_LIMIT
    result = ReferrerStatsResult(
        email=stats.email,
        confirmed=stats.confirmed,
        referral_code=stats.referral_code or None,
        referral_link=stats.referral_link,
        referrals_made=stats.referrals_made,
        reward_last=short(stats.reward_last),
        reward_next=short(stats.reward_next),
        reward_next_referrals_remaining=stats.reward_next_referrals_remaining,
        rewards_earned=_rewards(stats.rewards_earned),
        rewards_offered=_rewards(stats.rewards_offered),
        truncated=cut,
        note=f"reward lists cut to their first {_LIST_LIMIT}" if cut else None,
    )
    return fit(result, "rewards_offered", lambda kept, had: f"rewards_offered cut to {kept}")


async def campaign_stats(client: IReferClient) -> CampaignStatsResult:
    """Return the campaign's totals (``campaignStats``)."""
    stats: CampaignStats = await client.campaign_stats()
    cut = len(stats.rewards_offered) > _LIST_LIMIT
    result = CampaignStatsResult(
        campaign_name=short(stats.campaign_name),
        total_views=stats.total_views,
        signups_total=stats.signups_total,
        signups_today=stats.signups_today,
        conversion_percent=stats.conversion,
        referrals=stats.referrals,
        referrals_by_network={
            "facebook": stats.facebook_referrals,
            "whatsapp": stats.whatsapp_referrals,
            "twitter": stats.twitter_referrals,
            "linkedin": stats.linkedin_referrals,
            "email": stats.email_referrals,
        },
        rewards_offered=_rewards(stats.rewards_offered),
        truncated=cut,
        note=f"rewards_offered cut to its first {_LIST_LIMIT}" if cut else None,
    )
    return fit(result, "rewards_offered", lambda kept, had: f"rewards_offered cut to {kept}")


async def top_referrers(
    client: IReferClient, limit: int, by: RankBy, progress: Progress = None
) -> TopReferrersResult:
    """Return the ``limit`` participants with most referrals (ties: earliest first) or newest."""
    heap: list[tuple[float, int, Referrer]] = []  # rows kept as read: converted at the end
    scanned = 0
    async with client.iter_referrers() as rows:
        async for row in rows:
            scanned += 1
            if progress is not None and scanned % PROGRESS_EVERY == 0:
                await progress(scanned)
            if by == "referrals":
                rank, tie = float(row.referrals_count), -row.id
            else:
                rank, tie = _stamp(row.created_at), row.id
            if len(heap) < limit:
                heapq.heappush(heap, (rank, tie, row))
            elif (rank, tie) > heap[0][:2]:
                heapq.heapreplace(heap, (rank, tie, row))
    items = [_participant(e[2]) for e in sorted(heap, key=lambda e: e[:2], reverse=True)]
    result = TopReferrersResult(by=by, scanned=scanned, items=items)
    return fit(result, "items", _more_rows("participants"))


async def find_participants(
    client: IReferClient, query: str, limit: int, progress: Progress = None
) -> FindParticipantsResult:
    """Return the first ``limit`` participants whose email or name contains ``query``, any case.

    Reading stops at the ``limit + 1``-th match (``more`` says there are others).
    """
    needle = query.casefold()
    found: list[Participant] = []
    more = False
    scanned = 0
    async with client.iter_referrers() as rows:
        async for row in rows:
            scanned += 1
            if progress is not None and scanned % PROGRESS_EVERY == 0:
                await progress(scanned)
            if needle in row.email.casefold() or (
                row.name is not None and needle in row.name.casefold()
            ):
                if len(found) == limit:
                    more = True
                    break
                found.append(_participant(row))
    note = ("more participants match: narrow the query or raise limit (up to 100)"
            if more else None)  # fmt: skip
    result = FindParticipantsResult(
        query=query, scanned=scanned, more=more, items=found, truncated=more, note=note
    )
    return fit(result, "items", _more_rows("matches"))


def parse_since(since: str | None) -> dt.datetime | None:
    """Read ``since`` (an ISO 8601 date or date-time; UTC when no offset is given)."""
    if since is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since must be an ISO 8601 date or date-time (e.g. 2026-12-01 or "
            f"2026-12-01T09:00:00Z), got {since[:40]!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _reward_row(row: TriggeredReward) -> RewardRow:
    return RewardRow(
        recipient_email=row.recipient_email,
        recipient_name=short(row.recipient_name),
        reward_heading=short(row.reward_heading),
        referrals_made=row.referrals_made,
        triggered_at=iso(row.triggered_at),
    )


async def recent_rewards(
    client: IReferClient, limit: int, since: dt.datetime | None, progress: Progress = None
) -> RecentRewardsResult:
    """Return the ``limit`` newest triggered rewards (since ``since``), all of them counted."""
    heap: list[tuple[float, int, TriggeredReward]] = []
    matched = read = 0
    floor = None if since is None else since.timestamp()
    async with client.iter_rewards() as rows:
        async for row in rows:
            read += 1
            if progress is not None and read % PROGRESS_EVERY == 0:
                await progress(read)
            stamp = _stamp(row.triggered_at)
            if floor is not None and stamp < floor:
                continue
            matched += 1
            if len(heap) < limit:
                heapq.heappush(heap, (stamp, row.id, row))
            elif (stamp, row.id) > heap[0][:2]:
                heapq.heapreplace(heap, (stamp, row.id, row))
    items = [_reward_row(e[2]) for e in sorted(heap, key=lambda e: e[:2], reverse=True)]
    cut = matched > len(items)
    result = RecentRewardsResult(
        since=iso(since),
        matched=matched,
        items=items,
        truncated=cut,
        note=f"the {len(items)} newest of {matched}; raise limit (up to 100) or set since"
        if cut
        else None,
    )
    return fit(result, "items", _more_rows("rewards"))


def _action_row(row: SpecificActionSignup) -> ActionRow:
    return ActionRow(
        referred_person=short(row.referred_person) or "",
        specific_action=short(row.specific_action) or "",
        referrer_email=row.referrer_email,
        created_at=iso(row.created_at),
    )


async def action_signups(
    client: IReferClient, action: str | None, limit: int, progress: Progress = None
) -> ActionSignupsResult:
    """Return the ``limit`` newest specific actions (of ``action``), with counts per action."""
    heap: list[tuple[float, int, SpecificActionSignup]] = []
    counts: Counter[str] = Counter()
    matched = read = 0
    async with client.iter_specific_action_signups() as rows:
        async for row in rows:
            read += 1
            if progress is not None and read % PROGRESS_EVERY == 0:
                await progress(read)
            name = row.specific_action
            if name in counts or len(counts) < _MAX_ACTIONS:
                counts[name] += 1
            else:
                counts[_OTHER_ACTIONS] += 1
            if action is not None and name != action:
                continue
            matched += 1
            stamp = _stamp(row.created_at)
            if len(heap) < limit:
                heapq.heappush(heap, (stamp, row.id, row))
            elif (stamp, row.id) > heap[0][:2]:
                heapq.heapreplace(heap, (stamp, row.id, row))
    items = [_action_row(e[2]) for e in sorted(heap, key=lambda e: e[:2], reverse=True)]
    shown = {(short(k) or ""): n for k, n in counts.most_common(_SHOWN_ACTIONS)}
    cut = matched > len(items) or len(counts) > _SHOWN_ACTIONS
    result = ActionSignupsResult(
        action=action,
        matched=matched,
        by_action=shown,
        items=items,
        truncated=cut,
        note=f"the {len(items)} newest of {matched}; raise limit (up to 100) or filter by action"
        if cut
        else None,
    )
    return fit(result, "items", _more_rows("actions"))
