"""The emulator's state: campaigns, participants, referrals, triggered rewards and actions.

Everything a response needs is indexed so one request costs O(1) (list endpoints aside, which
are O(rows) by nature): participants by case-folded email and by referral code, counters kept
up to date on every write instead of recomputed from rows.

Decisions the guide leaves open, made here once:

* Emails are unique per campaign, compared case-insensitively. A ``newSignup`` for an email that
  already exists creates no second participant and is answered with the ``newSignup`` error body
  (``irefer_api_newSignup_err_401``); the journal records it as ``DUPLICATE_REJECTED``.
* An unknown ``referrer_code`` rejects the whole signup (no participant is created).
* ``source`` (``t``/``f``/``l``/``w``/``e``) is stored as the participant's ``source_network`` and
  counts toward the campaign's per-network totals whether or not a referrer is given; any other
  value is invalid input.
* Rewards fire when a referrer's count reaches a threshold: ``ONCE`` at the threshold only,
  ``EACHTIME`` at every multiple of it. Specific actions are recorded but do not count toward
  rewards.
* ``newSpecificAction`` is never deduplicated: each accepted call records one row, which is what
  lets a test see that a client sent a write twice.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import string
from collections.abc import Iterable
from typing import Any

import attrs

from ._specs import CampaignSpec, RewardDelivery, RewardSpec

__all__ = [
    "NETWORKS",
    "ActionRow",
    "CampaignState",
    "EarnedReward",
    "Participant",
    "RejectedError",
    "State",
    "TriggeredReward",
]

#: ``source`` letters and the campaignStats field each one counts toward.
NETWORKS: dict[str, str] = {
    "t": "twitter_referrals",
    "f": "facebook_referrals",
    "l": "linkedin_referrals",
    "w": "whatsapp_referrals",
    "e": "email_referrals",
}

_CODE_ALPHABET = string.ascii_letters + string.digits
_CODE_LENGTH = 8
# Id ranges echo the guide's samples so serialised rows look familiar.
_FIRST_PARTICIPANT_ID = 271001
_FIRST_TRIGGER_ID = 301
_FIRST_ACTION_ID = 147001
_FIRST_REWARD_ID = 3301


class RejectedError(Exception):
    """Input the real API would answer with its ``..._err_401`` error body."""

    def __init__(self, reason: str, *, duplicate: bool = False) -> None:
        """Reject for *reason*; *duplicate* marks an already-registered email."""
        super().__init__(reason)
        self.reason = reason
        self.duplicate = duplicate


@attrs.frozen
class EarnedReward:
    """A reward a participant earned, and the referral count that earned it."""

    reward: RewardSpec
    signups_count: int


@attrs.define(eq=False)
class Participant:
    """A campaign participant (a signup, who may refer others).

    Live state of the emulator: read it, do not change it.
    """

    id: int
    campaign_id: int
    code: str
    email: str
    referral_link: str
    name: str | None
    phone: str | None
    info: tuple[str | None, str | None, str | None, str | None, str | None]
    created_at: dt.datetime
    ip: str
    source_network: str
    referrer: Participant | None = attrs.field(repr=False)
    confirmed: bool
    referrals_made: int = 0
    rewards_earned: list[EarnedReward] = attrs.field(factory=list, repr=False)


@attrs.frozen
class TriggeredReward:
    """A row of the ``rewards`` endpoint: a reward fired for a recipient."""

    id: int
    triggered_at: dt.datetime
    recipient: Participant
    referrals_made: int
    reward_id: int
    reward: RewardSpec


@attrs.frozen
class ActionRow:
    """A row of the ``specificActionSignups`` endpoint."""

    id: int
    referrer: Participant
    referred_person: str
    action: str
    created_at: dt.datetime
    ip: str


@attrs.define(eq=False)
class CampaignState:
    """One campaign's rows, indexes and running totals."""

    spec: CampaignSpec
    reward_ids: tuple[int, ...]
    participants: list[Participant] = attrs.field(factory=list)
    by_email: dict[str, Participant] = attrs.field(factory=dict)
    by_code: dict[str, Participant] = attrs.field(factory=dict)
    actions: list[ActionRow] = attrs.field(factory=list)
    triggered: list[TriggeredReward] = attrs.field(factory=list)
    total_views: int = 0
    referrals: int = 0
    signups_by_day: dict[dt.date, int] = attrs.field(factory=dict)
    network_counts: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(NETWORKS, 0))
    #: Serialised rows kept by `._wire` (opaque here): rows are append-only, so list
    #: endpoints encode each row once instead of on every call.
    wire_cache: dict[str, list[Any]] = attrs.field(factory=dict, repr=False)
    #: Participant ids left out of ``referrers`` (as a plan limit hides sign-ups).
    hidden: set[int] = attrs.field(factory=set, repr=False)

    def find(self, email: str) -> Participant | None:
        """Return the participant registered with *email* (case-insensitive), if any."""
        return self.by_email.get(email.casefold())

    def next_reward(self, referrals: int) -> tuple[RewardSpec, int] | None:
        """Return the next reward reachable from *referrals* and the referrals still needed."""
        best: tuple[RewardSpec, int] | None = None
        for reward in self.spec.rewards:
            step = reward.signups_count
            if reward.delivery is RewardDelivery.EACHTIME:
                target = (referrals // step + 1) * step
            elif step > referrals:
                target = step
            else:
                continue
            if best is None or target - referrals < best[1]:
                best = (reward, target - referrals)
        return best


class State:
    """All campaigns of one emulator, plus the seeded generators for ids and codes."""

    def __init__(self, seed: int) -> None:
        """Start empty; *seed* fixes every referral code generated from here on."""
        self._rng = random.Random(seed)  # noqa: S311  # reproducible codes, not secrets
        self.campaigns: dict[int, CampaignState] = {}
        self._next_participant = _FIRST_PARTICIPANT_ID
        self._next_trigger = _FIRST_TRIGGER_ID
        self._next_action = _FIRST_ACTION_ID
        self._next_reward = _FIRST_REWARD_ID

    def add_campaign(self, spec: CampaignSpec) -> CampaignState:
        """Create (or replace) the campaign described by *spec*, with no participants."""
        first = self._next_reward
        self._next_reward += len(spec.rewards)
        campaign = CampaignState(spec, tuple(range(first, self._next_reward)))
        self.campaigns[spec.id] = campaign
        return campaign

    def _new_code(self, campaign: CampaignState) -> str:
        choices = self._rng.choices
        while True:
            code = "".join(choices(_CODE_ALPHABET, k=_CODE_LENGTH))  # seeded on purpose
            if code not in campaign.by_code:
                return code

    def signup(
        self,
        campaign: CampaignState,
        email: str,
        *,
        now: dt.datetime,
        ip: str,
        name: str | None = None,
        phone: str | None = None,
        info: Iterable[str | None] = (),
        source: str | None = None,
        referrer_code: str | None = None,
        code: str | None = None,
        confirmed: bool | None = None,
    ) -> Participant:
        """Register *email*, credit its referrer and fire any reward that became due."""
        if not email or "@" not in email:
            raise RejectedError("email missing or invalid")
        key = email.casefold()
        if key in campaign.by_email:
            raise RejectedError("email already registered", duplicate=True)
        if source and source not in NETWORKS:
            raise RejectedError("unknown source")
        referrer = None
        if referrer_code:
            referrer = campaign.by_code.get(referrer_code)
            if referrer is None:
                raise RejectedError("unknown referrer_code")
        if code is None:
            code = self._new_code(campaign)
        elif code in campaign.by_code:
            raise RejectedError("referral code already in use")
        infos = (*tuple(info)[:5], None, None, None, None, None)[:5]
        spec = campaign.spec
        participant = Participant(
            id=self._next_participant,
            campaign_id=spec.id,
            code=code,
            email=email,
            referral_link=f"{spec.landing_url}?iref={code}",
            name=name,
            phone=phone,
            info=infos,  # type: ignore[arg-type]  # sliced to exactly five above
            created_at=now,
            ip=ip,
            source_network=source or "",
            referrer=referrer,
            confirmed=(not spec.requires_confirmation) if confirmed is None else confirmed,
        )
        self._next_participant += 1
        campaign.participants.append(participant)
        campaign.by_email[key] = participant
        campaign.by_code[code] = participant
        day = now.date()
        campaign.signups_by_day[day] = campaign.signups_by_day.get(day, 0) + 1
        if source:
            campaign.network_counts[source] += 1
        if referrer is not None:
            campaign.referrals += 1
            self._credit(campaign, referrer, now)
        return participant

    def _credit(self, campaign: CampaignState, referrer: Participant, now: dt.datetime) -> None:
        referrer.referrals_made += 1
        count = referrer.referrals_made
        for reward, reward_id in zip(campaign.spec.rewards, campaign.reward_ids, strict=True):
            step = reward.signups_count
            due = count == step if reward.delivery is RewardDelivery.ONCE else count % step == 0
            if not due:
                continue
            referrer.rewards_earned.append(EarnedReward(reward, count))
            campaign.triggered.append(
                TriggeredReward(self._next_trigger, now, referrer, count, reward_id, reward)
            )
            self._next_trigger += 1

    def seed_participants(
        self, campaign: CampaignState, count: int, *, now: dt.datetime, email: str
    ) -> None:
        """Add *count* participants at once (no referrer, no reward): for big test campaigns.

        *email* is a format with one ``{}`` for the row number (unique per campaign). Codes
        are ``S`` + 7 digits where free, so no random draw is spent.
        """
        spec = campaign.spec
        participants = campaign.participants
        by_email = campaign.by_email
        by_code = campaign.by_code
        first = len(participants)
        emails = [email.format(n) for n in range(first, first + count)]
        taken = next((e for e in emails if e.casefold() in by_email), None)
        if taken is not None or len({e.casefold() for e in emails}) != count:
            raise RejectedError(f"email already registered: {taken}", duplicate=True)
        confirmed = not spec.requires_confirmation
        sources = tuple(NETWORKS)
        landing = spec.landing_url
        counts = campaign.network_counts
        collecting = gc.isenabled()
        gc.disable()  # a million new objects would trigger ever longer full collections
        try:
            for n, address in enumerate(emails, first):
                code = f"S{n:07d}"
                if code in by_code:
                    code = self._new_code(campaign)
                source = sources[n % 5]
                participant = Participant(
                    self._next_participant,
                    spec.id,
                    code,
                    address,
                    f"{landing}?iref={code}",
                    f"Seeded {n}",
                    None,
                    (None, None, None, None, None),
                    now,
                    "127.0.0.1",
                    source,
                    None,
                    confirmed,
                )
                self._next_participant += 1
                participants.append(participant)
                by_email[address.casefold()] = participant
                by_code[code] = participant
                counts[source] += 1
        finally:
            if collecting:
                gc.enable()
        day = now.date()
        campaign.signups_by_day[day] = campaign.signups_by_day.get(day, 0) + count

    def seed_rewards(self, campaign: CampaignState, count: int, *, now: dt.datetime) -> None:
        """Add *count* triggered-reward rows, recipients and rewards taken in turn."""
        people = campaign.participants
        rewards = campaign.spec.rewards
        if not people or not rewards:
            raise RejectedError("seeding rewards needs participants and a reward in the campaign")
        ids = campaign.reward_ids
        triggered = campaign.triggered
        for n in range(count):
            k = n % len(rewards)
            recipient = people[n % len(people)]
            reward = rewards[k]
            triggered.append(
                TriggeredReward(
                    self._next_trigger, now, recipient, reward.signups_count, ids[k], reward
                )
            )
            self._next_trigger += 1

    def seed_actions(
        self, campaign: CampaignState, count: int, *, now: dt.datetime, action: str, person: str
    ) -> None:
        """Add *count* specific-action rows, referrers taken in turn from the participants.

        *person* is a format with one ``{}`` for the row number (the referred person).
        """
        people = campaign.participants
        if not people:
            raise RejectedError("seeding actions needs participants in the campaign")
        if not any(rule.matches(action) for rule in campaign.spec.actions):
            raise RejectedError(f"action {action!r} matches no specific-action rule")
        actions = campaign.actions
        first = len(actions)
        for n in range(first, first + count):
            actions.append(
                ActionRow(
                    self._next_action,
                    people[n % len(people)],
                    person.format(n),
                    action,
                    now,
                    "127.0.0.1",
                )
            )
            self._next_action += 1

    def specific_action(
        self,
        campaign: CampaignState,
        external_id: str,
        action: str,
        referrer_code: str,
        *,
        now: dt.datetime,
        ip: str,
    ) -> ActionRow:
        """Record that *external_id*, referred by *referrer_code*, completed *action*."""
        if not external_id or not action or not referrer_code:
            raise RejectedError("external_id, action and referrer_code are required")
        referrer = campaign.by_code.get(referrer_code)
        if referrer is None:
            raise RejectedError("unknown referrer_code")
        if not any(rule.matches(action) for rule in campaign.spec.actions):
            raise RejectedError("action matches no specific-action rule")
        row = ActionRow(self._next_action, referrer, external_id, action, now, ip)
        self._next_action += 1
        campaign.actions.append(row)
        return row
