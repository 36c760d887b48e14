"""Referral, reward and action logic of the emulator, through raw HTTP calls."""

from __future__ import annotations

import datetime as dt

import pytest
from _emulator_helpers import Raw

from irefer_async.testing import (
    CampaignSpec,
    Emulator,
    FrozenClock,
    RewardDelivery,
    RewardSpec,
    WriteEffect,
)
from irefer_async.testing._specs import DEFAULT_CAMPAIGN

ERROR_SIGNUP = {"error": "input missing or incorrect", "error_code": "irefer_api_newSignup_err_401"}


async def test_signup_creates_participant_with_link(raw: Raw, emulator: Emulator) -> None:
    body = await raw.json("newSignup", email="ann@example.com", name="Ann")
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    assert len(ann.code) == 8
    assert body["referral_link"] == f"http://getirefer.com/?iref={ann.code}"
    assert body["referrer"] is None


async def test_referral_credits_referrer_and_first_reward(raw: Raw, emulator: Emulator) -> None:
    ann = emulator.add_participant("ann@example.com")
    body = await raw.json("newSignup", email="bob@example.com", referrer_code=ann.code, source="f")
    assert body["referrer"] == "ann@example.com"
    stats = await raw.json("referrerStats", email="ann@example.com")
    assert stats["referrals_made"] == 1
    assert stats["reward_last"] == "Get a $10 Coupon!"
    assert stats["reward_next"] == "Get a $50 Coupon!"
    assert stats["reward_next_referrals_remaining"] == 4
    assert [r["signups_count"] for r in stats["rewards_earned"]] == ["1"]
    assert emulator.participant("bob@example.com").source_network == "f"  # type: ignore[union-attr]


async def test_once_rewards_fire_only_at_threshold(raw: Raw, emulator: Emulator) -> None:
    ann = emulator.add_participant("ann@example.com")
    for n in range(7):
        await raw.json("newSignup", email=f"f{n}@example.com", referrer_code=ann.code)
    rewards = await raw.json("rewards")
    assert [(r["reward_heading"], r["referrals_made"]) for r in rewards] == [
        ("Get a $50 Coupon!", "5"),
        ("Get a $10 Coupon!", "1"),
    ]
    stats = await raw.json("referrerStats", email="ann@example.com")
    assert stats["reward_next"] == "None"
    assert stats["reward_next_description"] == ""
    assert stats["reward_next_referrals_remaining"] == 0


async def test_eachtime_reward_repeats_at_every_multiple(clock: FrozenClock) -> None:
    spec = CampaignSpec(
        id=7,
        name="Each time",
        license_key="W4qL" + "e" * 28,
        api_key="k",
        rewards=[RewardSpec(3, "Coffee", "Every 3 friends", delivery=RewardDelivery.EACHTIME)],
    )
    emulator = Emulator(campaigns=[spec], clock=clock)
    ann = emulator.add_participant("ann@example.com")
    for n in range(10):
        emulator.add_participant(f"f{n}@example.com", referrer_code=ann.code)
    snap = emulator.snapshot()["campaigns"][0]
    assert [r["referrals_made"] for r in snap["rewards"]] == [3, 6, 9]
    assert emulator.participant("ann@example.com").rewards_earned[-1].signups_count == 9  # type: ignore[union-attr]
    reward, remaining = emulator._state.campaigns[7].next_reward(10)  # type: ignore[misc]
    assert (reward.heading, remaining) == ("Coffee", 2)


def test_mixed_rewards_next_is_nearest() -> None:
    spec = CampaignSpec(
        id=8,
        name="Mixed",
        license_key="W4qL" + "m" * 28,
        api_key="k",
        rewards=[
            RewardSpec(2, "Every two", delivery="EACHTIME"),
            RewardSpec(5, "Five once"),
        ],
    )
    campaign = Emulator(campaigns=[spec])._state.campaigns[8]
    assert campaign.next_reward(3)[0].heading == "Every two"  # type: ignore[index]
    assert campaign.next_reward(4) == (spec.rewards[1], 1)
    assert campaign.next_reward(6) == (spec.rewards[0], 2)


async def test_duplicate_email_creates_no_second_participant(raw: Raw, emulator: Emulator) -> None:
    await raw.json("newSignup", email="ann@example.com")
    assert await raw.json("newSignup", email="ANN@example.com") == ERROR_SIGNUP
    assert len(emulator.snapshot()["campaigns"][0]["participants"]) == 1
    effects = [e.effect for e in emulator.journal]
    assert effects == [WriteEffect.PARTICIPANT_CREATED, WriteEffect.DUPLICATE_REJECTED]


async def test_unknown_referrer_code_rejects_signup(raw: Raw, emulator: Emulator) -> None:
    assert await raw.json("newSignup", email="a@b.c", referrer_code="nope1234") == ERROR_SIGNUP
    assert emulator.participant("a@b.c") is None


async def test_invalid_source_rejected(raw: Raw) -> None:
    assert await raw.json("newSignup", email="a@b.c", source="x") == ERROR_SIGNUP


async def test_sources_count_per_network(raw: Raw, emulator: Emulator) -> None:
    ann = emulator.add_participant("ann@example.com")
    for n, source in enumerate("tflwee"):
        await raw.json("newSignup", email=f"f{n}@x.io", referrer_code=ann.code, source=source)
    stats = await raw.json("campaignStats")
    assert stats["referrals"] == 6
    assert (stats["twitter_referrals"], stats["facebook_referrals"]) == (1, 1)
    assert (stats["linkedin_referrals"], stats["whatsapp_referrals"], stats["email_referrals"]) == (
        1,
        1,
        2,
    )


async def test_signups_today_follows_the_clock(raw: Raw, clock: FrozenClock) -> None:
    clock.set(dt.datetime(2018, 6, 15, 23, 59))
    await raw.json("newSignup", email="a@x.io")
    clock.advance(minutes=2)
    await raw.json("newSignup", email="b@x.io")
    stats = await raw.json("campaignStats")
    assert (stats["signups_total"], stats["signups_today"]) == (2, 1)
    clock.advance(days=1)
    assert (await raw.json("campaignStats"))["signups_today"] == 0


@pytest.mark.parametrize(
    ("views", "signups", "expected"),
    [(0, 0, "0.0%"), (126, 27, "21.4%"), (6977, 25, "0.4%"), (3, 3, "100.0%")],
)
async def test_conversion_format(
    raw: Raw, emulator: Emulator, views: int, signups: int, expected: str
) -> None:
    emulator.record_views(views)
    for n in range(signups):
        emulator.add_participant(f"p{n}@x.io")
    stats = await raw.json("campaignStats")
    assert (stats["total_views"], stats["conversion"]) == (str(views), expected)


async def test_specific_action_rules(raw: Raw, emulator: Emulator) -> None:
    ann = emulator.add_participant("ann@example.com")
    ok = await raw.json(
        "newSpecificAction", external_id="x1", action="/dashboard", referrer_code=ann.code
    )
    assert ok == {"campaign_name": "My referral campaign", "external_id": "x1"}
    error = {
        "error": "input missing or incorrect",
        "error_code": "irefer_api_newSpecificAction_err_401",
    }
    assert (
        await raw.json(
            "newSpecificAction", external_id="x1", action="/other", referrer_code=ann.code
        )
        == error
    )
    assert (
        await raw.json(
            "newSpecificAction", external_id="x1", action="/dashboard", referrer_code="zzzzzzzz"
        )
        == error
    )
    assert await raw.json("newSpecificAction", action="/dashboard", referrer_code=ann.code) == error


async def test_contains_rule_and_no_dedup(clock: FrozenClock) -> None:
    from irefer_async.testing import ActionRule

    spec = CampaignSpec(
        id=9,
        name="Shop",
        license_key="W4qL" + "s" * 28,
        api_key="k",
        actions=[ActionRule("thanks", match="contains")],
    )
    emulator = Emulator(campaigns=[spec], clock=clock)
    ann = emulator.add_participant("ann@example.com")
    import httpx

    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        url = f"http://x/v1.0/{spec.license_key}.js/newSpecificAction"
        params: dict[str, str | int] = {
            "campaign_id": 9,
            "api_key": "k",
            "external_id": "o1",
            "action": "/shop/thanks/",
            "referrer_code": ann.code,
        }
        for _ in range(2):
            assert (await http.get(url, params=params)).json()["external_id"] == "o1"
    assert len(emulator.snapshot()["campaigns"][0]["actions"]) == 2
    assert emulator.journal.count(WriteEffect.ACTION_RECORDED) == 2


def test_same_seed_same_codes() -> None:
    def codes(seed: int) -> list[str]:
        emulator = Emulator(seed=seed)
        return [emulator.add_participant(f"p{n}@x.io").code for n in range(20)]

    assert codes(3) == codes(3)
    assert codes(3) != codes(4)
    assert len(set(codes(3))) == 20


def test_reset_restores_seeded_state() -> None:
    emulator = Emulator(seed=1)
    first = emulator.add_participant("a@x.io").code
    emulator.record_views(5)
    emulator.inject_fault("null_body")
    emulator.reset()
    snap = emulator.snapshot()
    assert snap["campaigns"][0]["participants"] == []
    assert snap["campaigns"][0]["total_views"] == 0
    assert len(emulator.journal) == 0
    assert emulator.add_participant("a@x.io").code == first


def test_add_participant_rejects_like_the_api() -> None:
    emulator = Emulator()
    emulator.add_participant("a@x.io")
    with pytest.raises(ValueError, match="already"):
        emulator.add_participant("A@X.io")
    with pytest.raises(ValueError, match="referrer"):
        emulator.add_participant("b@x.io", referrer_code="missing1")
    with pytest.raises(LookupError):
        emulator.record_views(1, campaign_id=1)


def test_seed_campaign_survives_reset() -> None:
    emulator = Emulator(campaigns=[])
    with pytest.raises(LookupError):
        _ = emulator.default_campaign
    emulator.seed_campaign(DEFAULT_CAMPAIGN)
    emulator.add_participant("a@x.io")
    emulator.reset()
    assert emulator.default_campaign is DEFAULT_CAMPAIGN
    assert emulator.snapshot()["campaigns"][0]["participants"] == []


def test_reprs_hide_keys() -> None:
    emulator = Emulator()
    text = repr(emulator.default_campaign) + repr(emulator)
    assert emulator.default_campaign.api_key not in text
    assert emulator.default_campaign.license_key not in text
