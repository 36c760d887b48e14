"""Decoding every sample payload of the guide, and each wire quirk the converter absorbs."""

from __future__ import annotations

import datetime as dt

import pytest
import samples

from irefer_async import (
    CampaignStats,
    LeadSource,
    MalformedResponseError,
    NewSignup,
    NewSpecificAction,
    Referrer,
    ReferrerStats,
    Reward,
    SpecificActionSignup,
    TriggeredReward,
)
from irefer_async._converter import decode
from irefer_async.models import RewardDelivery, RewardTo


def test_referrer_stats_sample_decodes_with_numbers_and_bools() -> None:
    stats = decode(samples.REFERRER_STATS, ReferrerStats, method="referrerStats")
    assert stats.confirmed is True
    assert stats.referrals_made == 1
    assert stats.reward_next == "Get a $50 Coupon!"
    assert stats.reward_next_referrals_remaining == 4
    assert stats.rewards_earned == (
        Reward(
            1,
            "Get a $10 Coupon!",
            samples.REFERRER_STATS["rewards_earned"][0]["reward_description"],
        ),
    )
    assert [r.signups_count for r in stats.rewards_offered] == [1, 5]


def test_none_strings_and_empty_strings_become_none() -> None:
    stats = decode(samples.REFERRER_STATS_EMPTY, ReferrerStats, method="referrerStats")
    assert stats.confirmed is False
    assert stats.reward_last is None
    assert stats.reward_last_description is None
    assert stats.reward_next is None
    assert stats.rewards_earned == ()


def test_referral_link_html_anchor_is_unwrapped() -> None:
    stats = decode(samples.REFERRER_STATS_EMPTY, ReferrerStats, method="referrerStats")
    assert stats.referral_link == "http://getirefer.com/srdt?iref=jZA3MbP0"


def test_campaign_stats_percent_and_numeric_strings() -> None:
    stats = decode(samples.CAMPAIGN_STATS, CampaignStats, method="campaignStats")
    assert stats.total_views == 126
    assert stats.conversion == pytest.approx(21.4)
    assert stats.signups_total == 27
    assert stats.facebook_referrals == 1


def test_new_signup_and_specific_action_samples() -> None:
    signup = decode(samples.NEW_SIGNUP, NewSignup, method="newSignup")
    assert signup.referrer == "participant2@email.address"
    assert signup.reward_next_referrals_required == 1
    assert signup.reconciled is False
    action = decode(samples.NEW_SPECIFIC_ACTION, NewSpecificAction, method="newSpecificAction")
    assert action.external_id == "participant@email.address"


def test_referrers_list_with_ids_timestamps_and_empty_source() -> None:
    items = decode(samples.REFERRERS, tuple[Referrer, ...], method="referrers")
    assert isinstance(items, tuple)
    first = items[0]
    assert first.id == 271047 and first.campaign_id == 2145
    assert first.created_at == dt.datetime(2018, 6, 4, 2, 57, 24, tzinfo=dt.timezone.utc)
    assert first.source_network is None
    assert first.phone is None
    assert items[1].referrals_count == 3


def test_rewards_enums_including_the_api_spelling_refferer() -> None:
    items = decode(samples.REWARDS, tuple[TriggeredReward, ...], method="rewards")
    assert items[0].reward_to is RewardTo.REFERRER
    assert items[0].reward_delivery is RewardDelivery.EACHTIME
    assert items[0].referrals_made == 6
    assert items[1].reward_description is not None and "\u2019" in items[1].reward_description


def test_specific_action_signups() -> None:
    items = decode(
        samples.SPECIFIC_ACTION_SIGNUPS,
        tuple[SpecificActionSignup, ...],
        method="specificActionSignups",
    )
    assert [i.referred_person for i in items] == [
        "test3@irefer.io",
        "test2@irefer.io",
        "test1@irefer.io",
    ]
    assert items[0].specific_action == "/thanks/"


def test_unknown_enum_values_are_kept_not_rejected() -> None:
    row = dict(samples.REWARDS[0], reward_to="PARTNER", reward_delivery="MONTHLY")
    (item,) = decode([row], tuple[TriggeredReward, ...], method="rewards")
    assert item.reward_to is not None and item.reward_to.value == "PARTNER"
    assert not item.reward_to.known
    assert item.reward_delivery is not None and item.reward_delivery.value == "MONTHLY"
    assert RewardTo.REFERRER.known


def test_lead_source_decodes_from_letters() -> None:
    row = dict(samples.REFERRERS[0], source_network="w")
    (item,) = decode([row], tuple[Referrer, ...], method="referrers")
    assert item.source_network is LeadSource.WHATSAPP


def test_unknown_fields_are_ignored_but_raw_keeps_them() -> None:
    body = dict(samples.CAMPAIGN_STATS, brand_new_field={"x": 1})
    stats = decode(body, CampaignStats, method="campaignStats")
    assert stats.raw["brand_new_field"] == {"x": 1}
    assert stats.rewards_offered[0].raw["signups_count"] == "1"


def test_raw_is_not_part_of_equality_or_repr() -> None:
    a = decode(samples.CAMPAIGN_STATS, CampaignStats, method="campaignStats")
    b = decode(dict(samples.CAMPAIGN_STATS, extra=1), CampaignStats, method="campaignStats")
    assert a == b
    assert "raw" not in repr(a)


def test_models_are_frozen() -> None:
    stats = decode(samples.CAMPAIGN_STATS, CampaignStats, method="campaignStats")
    with pytest.raises(AttributeError):
        stats.total_views = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**samples.CAMPAIGN_STATS, "total_views": "lots"}, "total_views"),
        (
            {k: v for k, v in samples.CAMPAIGN_STATS.items() if k != "campaign_name"},
            "campaign_name",
        ),
        ([1, 2], "expected a JSON object"),
        ("text", "expected a JSON object"),
    ],
)
def test_unexpected_shapes_raise_malformed_with_the_path(body: object, fragment: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        decode(body, CampaignStats, method="campaignStats")
    assert fragment in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert info.value.method == "campaignStats"


def test_list_endpoint_given_an_object_says_so() -> None:
    with pytest.raises(MalformedResponseError, match="expected a JSON array"):
        decode({"a": 1}, tuple[Referrer, ...], method="referrers")


def test_referral_code_on_every_result_that_has_a_link() -> None:
    """NewSignup and ReferrerStats read the code from the link; Referrer holds it bare."""
    stats = decode(samples.REFERRER_STATS, ReferrerStats, method="referrerStats")
    assert stats.referral_link == "http://getirefer.com/?iref=7XYu.oRD"
    assert stats.referral_code == "7XYu.oRD"
    signup = decode(samples.NEW_SIGNUP, NewSignup, method="newSignup")
    assert signup.referral_code == signup.referral_link.rsplit("iref=", 1)[1]
    referrer = decode(samples.REFERRERS[0], Referrer, method="referrers")
    assert "/" not in referrer.referral_link  # the API's quirk: a bare code under this name
    assert referrer.referral_code == referrer.referral_link


def test_a_models_repr_is_attrs_format_without_raw_or_fetched_at() -> None:
    """The shared ``__repr__`` (not attrs-generated, for import time) keeps attrs' format."""
    reward = Reward(3, "Coffee", raw={"secret": "x"})
    assert (
        repr(reward) == "Reward(signups_count=3, reward_heading='Coffee', reward_description=None)"
    )
