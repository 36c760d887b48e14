"""The API guide's sample responses, with the guide's broken JSON repaired."""

from __future__ import annotations

from typing import Any

REFERRER_STATS: dict[str, Any] = {
    "campaign_name": "My referral campaign",
    "email": "testingirefer@gmail.com",
    "confirmed": "1",
    "referral_link": "http://getirefer.com/?iref=7XYu.oRD",
    "referrals_made": 1,
    "reward_last": "Get a $10 Coupon!",
    "reward_last_description": "Refer 1 of your friends and we will send you a $10 coupon to redeem at our website.",
    "reward_next": "Get a $50 Coupon!",
    "reward_next_description": "Refer 5 of your friends and we will send you a $50 coupon to redeem at our website.",
    "reward_next_referrals_remaining": 4,
    "rewards_earned": [
        {
            "signups_count": "1",
            "reward_heading": "Get a $10 Coupon!",
            "reward_description": "Refer 1 of your friends and we will send you a $10 coupon to redeem at our website.",
        }
    ],
    "rewards_offered": [
        {
            "signups_count": "1",
            "reward_heading": "Get a $10 Coupon!",
            "reward_description": "Refer 1 of your friends and we will send you a $10 coupon to redeem at our website.",
        },
        {
            "signups_count": "5",
            "reward_heading": "Get a $50 Coupon!",
            "reward_description": "Refer 5 of your friends and we will send you a $50 coupon to redeem at our website.",
        },
    ],
}

# The guide's browser capture of a participant with no rewards yet.
REFERRER_STATS_EMPTY: dict[str, Any] = {
    "campaign_name": "API Double reward",
    "email": "test@email.address",
    "confirmed": "0",
    "referral_link": ' <a href="http://getirefer.com/srdt?iref=jZA3MbP0">http://getirefer.com/srdt?iref=jZA3MbP0</a> ',
    "referrals_made": 0,
    "reward_last": "None",
    "reward_last_description": "",
    "reward_next": "None",
    "reward_next_description": "",
    "reward_next_referrals_remaining": 1,
    "rewards_earned": [],
    "rewards_offered": [
        {
            "signups_count": "1",
            "reward_heading": "Get a $10 Coupon!",
            "reward_description": "Refer 5 of your friends and we'll send you a $10 coupon to redeem at our website.",
        }
    ],
}

CAMPAIGN_STATS: dict[str, Any] = {
    "campaign_name": "My referral campaign",
    "total_views": "126",
    "signups_total": 27,
    "signups_today": 0,
    "conversion": "21.4%",
    "referrals": 22,
    "facebook_referrals": 1,
    "whatsapp_referrals": 1,
    "twitter_referrals": 1,
    "linkedin_referrals": 0,
    "email_referrals": 1,
    "rewards_offered": REFERRER_STATS["rewards_offered"],
}

NEW_SIGNUP: dict[str, Any] = {
    "campaign_name": "Test Campaign",
    "email": "participant5@email.address",
    "confirmed": "1",
    "referral_link": "http://getirefer.com/?iref=z6VPk1s0",
    "referrer": "participant2@email.address",
    "reward_next": "Get a $10 Coupon!",
    "reward_next_description": "Refer 5 of your friends and we will send you a $10 coupon to redeem at our website.",
    "reward_next_referrals_required": 1,
    "rewards_offered": [
        {
            "signups_count": "1",
            "reward_heading": "Get a $10 Coupon!",
            "reward_description": "Refer 1 of your friends and we will send you a $10 coupon to redeem at our website.",
        },
        {
            "signups_count": "5",
            "reward_heading": "Get a $50 Coupon!",
            "reward_description": "Refer 5 of your friends and we will send you a $50 coupon to redeem at our website.",
        },
    ],
}

NEW_SPECIFIC_ACTION: dict[str, Any] = {
    "campaign_name": "Test Campaign",
    "external_id": "participant@email.address",
}

REFERRERS: list[dict[str, Any]] = [
    {
        "id": "271047", "campaign_id": "2145", "referral_link": "aSbVGWuE", "referrer_email": None,
        "name": "test1", "email": "irefertest1@irefertestemail.com", "phone": None,
        "info_1": None, "info_2": None, "info_3": None, "info_4": None, "info_5": None,
        "created_at": "2018-06-04T02:57:24Z", "ip": "373.114.17.25", "source_network": "",
        "referrals_count": "0",
    },
    {
        "id": "271046", "campaign_id": "2145", "referral_link": "ZsMj8uyJ", "referrer_email": None,
        "name": "test2", "email": "irefertest2@irefertestemail.com", "phone": None,
        "info_1": None, "info_2": None, "info_3": None, "info_4": None, "info_5": None,
        "created_at": "2018-06-03T14:17:34Z", "ip": "273.114.19.111", "source_network": "",
        "referrals_count": "3",
    },
    {
        "id": "271045", "campaign_id": "2145", "referral_link": "1SgOM4xx", "referrer_email": None,
        "name": "test3", "email": "irefertest3@irefertestemail.com", "phone": None,
        "info_1": None, "info_2": None, "info_3": None, "info_4": None, "info_5": None,
        "created_at": "2018-06-03T14:12:43Z", "ip": "173.114.19.109", "source_network": "",
        "referrals_count": "0",
    },
]  # fmt: skip

REWARDS: list[dict[str, Any]] = [
    {
        "id": "375", "campaign_id": "2205", "triggered_at": "2018-06-15T16:11:45Z",
        "recipient_id": "271139", "recipient_email": "joinirefer@irefer.io", "recipient_name": "pete",
        "recipient_referral_code": "eMxPNXQn", "referrals_made": "6", "reward_id": "3371",
        "reward_heading": "Get a $10 Coupon!",
        "reward_description": "Refer 3 of your friends and we'll send you a $10 coupon to redeem at our website.",
        "reward_signups_count": "3", "reward_quantity": "SINGLE", "reward_delivery": "EACHTIME",
        "reward_goal_type": "STANDARD", "reward_to": "REFFERER",
    },
    {
        "id": "374", "campaign_id": "2205", "triggered_at": "2018-06-15T16:10:44Z",
        "recipient_id": "271139", "recipient_email": "joinirefer@irefer.io", "recipient_name": "pete",
        "recipient_referral_code": "eMxPNXQn", "referrals_made": "3", "reward_id": "3371",
        "reward_heading": "Get a $10 Coupon!",
        "reward_description": "Refer 3 of your friends and we\u2019ll send you a $10 coupon to redeem at our website.",
        "reward_signups_count": "3", "reward_quantity": "SINGLE", "reward_delivery": "EACHTIME",
        "reward_goal_type": "STANDARD", "reward_to": "REFFERER",
    },
]  # fmt: skip

SPECIFIC_ACTION_SIGNUPS: list[dict[str, Any]] = [
    {"id": "147598", "campaign_id": "2204", "referrer_email": "joinirefer@gmail.com",
     "referred_person": "test3@irefer.io", "specific_action": "/thanks/",
     "created_at": "2018-06-15T15:10:57Z", "ip": "109.228.52.121"},
    {"id": "147597", "campaign_id": "2204", "referrer_email": "joinirefer@gmail.com",
     "referred_person": "test2@irefer.io", "specific_action": "/thanks/",
     "created_at": "2018-06-15T15:09:35Z", "ip": "73.114.17.89"},
    {"id": "147596", "campaign_id": "2204", "referrer_email": "joinirefer@gmail.com",
     "referred_person": "test1@irefer.io", "specific_action": "/thanks/",
     "created_at": "2018-06-15T15:03:19Z", "ip": "209.228.52.121"},
]  # fmt: skip
