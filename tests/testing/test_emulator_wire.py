"""Wire format: every response has the key set and value types of the guide's samples."""

from __future__ import annotations

from typing import Any

import pytest
from _emulator_helpers import BASE, Raw

from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator

S, INT, N = str, int, type(None)
OFFERED = [{"signups_count": S, "reward_heading": S, "reward_description": S}]

# Types per key, as in the guide's samples (N | S where the guide shows null for an absent value).
REFERRER_STATS = {
    "campaign_name": S,
    "email": S,
    "confirmed": S,
    "referral_link": S,
    "referrals_made": INT,
    "reward_last": S,
    "reward_last_description": S,
    "reward_next": S,
    "reward_next_description": S,
    "reward_next_referrals_remaining": INT,
    "rewards_earned": OFFERED,
    "rewards_offered": OFFERED,
}
CAMPAIGN_STATS = {
    "campaign_name": S,
    "total_views": S,
    "signups_total": INT,
    "signups_today": INT,
    "conversion": S,
    "referrals": INT,
    "facebook_referrals": INT,
    "whatsapp_referrals": INT,
    "twitter_referrals": INT,
    "linkedin_referrals": INT,
    "email_referrals": INT,
    "rewards_offered": OFFERED,
}
NEW_SIGNUP = {
    "campaign_name": S,
    "email": S,
    "confirmed": S,
    "referral_link": S,
    "referrer": S,
    "reward_next": S,
    "reward_next_description": S,
    "reward_next_referrals_required": INT,
    "rewards_offered": OFFERED,
}
REFERRER_ROW = {
    "id": S,
    "campaign_id": S,
    "referral_link": S,
    "referrer_email": (N, S),
    "name": (N, S),
    "email": S,
    "phone": (N, S),
    "info_1": (N, S),
    "info_2": (N, S),
    "info_3": (N, S),
    "info_4": (N, S),
    "info_5": (N, S),
    "created_at": S,
    "ip": S,
    "source_network": S,
    "referrals_count": S,
}
REWARD_ROW = {
    "id": S,
    "campaign_id": S,
    "triggered_at": S,
    "recipient_id": S,
    "recipient_email": S,
    "recipient_name": (N, S),
    "recipient_referral_code": S,
    "referrals_made": S,
    "reward_id": S,
    "reward_heading": S,
    "reward_description": S,
    "reward_signups_count": S,
    "reward_quantity": S,
    "reward_delivery": S,
    "reward_goal_type": S,
    "reward_to": S,
}
ACTION_ROW = {
    "id": S,
    "campaign_id": S,
    "referrer_email": S,
    "referred_person": S,
    "specific_action": S,
    "created_at": S,
    "ip": S,
}


def check(value: Any, shape: Any) -> None:
    if isinstance(shape, dict):
        assert isinstance(value, dict)
        assert list(value) == list(shape)
        for key, sub in shape.items():
            check(value[key], sub)
    elif isinstance(shape, list):
        assert isinstance(value, list)
        for item in value:
            check(item, shape[0])
    else:
        assert isinstance(value, shape), value
        assert not isinstance(value, bool), value


@pytest.fixture
async def populated(raw: Raw, emulator: Emulator) -> Raw:
    ann = emulator.add_participant("ann@example.com", name="Ann", phone="555")
    emulator.add_participant("bob@example.com", referrer_code=ann.code, source="t")
    emulator.add_participant("cat@example.com", referrer_code=ann.code, info=["a", None, "c"])
    emulator.record_views(126)
    await raw.json(
        "newSpecificAction", external_id="x@y.z", action="/dashboard", referrer_code=ann.code
    )
    return raw


async def test_referrer_stats_shape(populated: Raw) -> None:
    body = await populated.json("referrerStats", email="ann@example.com")
    check(body, REFERRER_STATS)
    assert body["confirmed"] == "1"
    assert body["referral_link"].startswith("http://getirefer.com/?iref=")
    assert len(body["rewards_earned"]) == 1


async def test_referrer_stats_without_rewards_uses_none_strings(populated: Raw) -> None:
    body = await populated.json("referrerStats", email="bob@example.com")
    check(body, REFERRER_STATS)
    assert (body["reward_last"], body["reward_last_description"]) == ("None", "")
    assert body["rewards_earned"] == []


async def test_campaign_stats_shape(populated: Raw) -> None:
    body = await populated.json("campaignStats")
    check(body, CAMPAIGN_STATS)
    assert body["total_views"] == "126"
    assert body["conversion"] == "2.4%"


async def test_new_signup_shape(populated: Raw, emulator: Emulator) -> None:
    code = emulator.participant("ann@example.com").code  # type: ignore[union-attr]
    body = await populated.json("newSignup", email="dan@example.com", referrer_code=code)
    check(body, NEW_SIGNUP)
    body = await populated.json("newSignup", email="eve@example.com")
    assert body["referrer"] is None


async def test_new_specific_action_shape(populated: Raw, emulator: Emulator) -> None:
    code = emulator.participant("ann@example.com").code  # type: ignore[union-attr]
    body = await populated.json(
        "newSpecificAction", external_id="o", action="/dashboard", referrer_code=code
    )
    assert body == {"campaign_name": "My referral campaign", "external_id": "o"}


async def test_referrers_shape(populated: Raw, emulator: Emulator) -> None:
    rows = await populated.json("referrers")
    for row in rows:
        check(row, REFERRER_ROW)
    assert [r["email"] for r in rows] == ["cat@example.com", "bob@example.com", "ann@example.com"]
    ann = rows[2]
    assert ann["referral_link"] == emulator.participant("ann@example.com").code  # type: ignore[union-attr]
    assert (ann["referrals_count"], ann["phone"], ann["referrer_email"]) == ("2", "555", None)
    assert rows[1]["source_network"] == "t"
    assert rows[0]["source_network"] == ""
    assert (rows[0]["info_1"], rows[0]["info_2"], rows[0]["info_3"]) == ("a", None, "c")
    assert rows[0]["created_at"] == "2018-06-15T12:00:00Z"
    assert int(rows[0]["id"]) > int(rows[1]["id"])


async def test_rewards_shape(populated: Raw) -> None:
    rows = await populated.json("rewards")
    assert len(rows) == 1
    check(rows[0], REWARD_ROW)
    assert rows[0]["reward_to"] == "REFFERER"
    assert (rows[0]["reward_quantity"], rows[0]["reward_delivery"]) == ("SINGLE", "ONCE")


async def test_specific_action_signups_shape(populated: Raw) -> None:
    response = await populated.get("specificActionSignups")
    assert b'"specific_action":"\\/dashboard"' in response.content  # PHP-style escaped slash
    rows = response.json()
    check(rows[0], ACTION_ROW)
    assert rows[0]["referrer_email"] == "ann@example.com"
    assert rows[0]["referred_person"] == "x@y.z"


async def test_json_content_type(raw: Raw) -> None:
    response = await raw.get("campaignStats")
    assert response.headers["content-type"].startswith("application/json")


def error(method: str) -> dict[str, str]:
    return {"error": "input missing or incorrect", "error_code": f"irefer_api_{method}_err_401"}


@pytest.mark.parametrize(
    "method",
    [
        "referrerStats",
        "campaignStats",
        "newSignup",
        "newSpecificAction",
        "referrers",
        "rewards",
        "specificActionSignups",
    ],
)
@pytest.mark.parametrize(
    "params",
    [
        {"campaign_id": None},
        {"campaign_id": "abc"},
        {"campaign_id": 9999},
        {"api_key": None},
        {"api_key": "wrong"},
    ],
    ids=["no-campaign", "bad-campaign", "unknown-campaign", "no-api-key", "wrong-api-key"],
)
async def test_error_bodies(raw: Raw, method: str, params: dict[str, Any]) -> None:
    body = await raw.json(method, email="x@y.z", **params)
    assert body == error(method)


async def test_wrong_license_key(raw: Raw) -> None:
    url = BASE.replace(DEFAULT_LICENSE_KEY, "W4qL" + "9" * 28)
    response = await raw.http.get(
        url + "campaignStats", params={"campaign_id": 2605, "api_key": DEFAULT_API_KEY}
    )
    assert response.json() == error("campaignStats")


async def test_unknown_email_in_referrer_stats(raw: Raw) -> None:
    assert await raw.json("referrerStats", email="nobody@x.io") == error("referrerStats")
    assert await raw.json("referrerStats") == error("referrerStats")


async def test_missing_email_in_new_signup(raw: Raw) -> None:
    assert await raw.json("newSignup") == error("newSignup")
    assert await raw.json("newSignup", email="not-an-email") == error("newSignup")


async def test_unknown_method_error_code(raw: Raw) -> None:
    assert await raw.json("referStats") == error("referStats")
    assert await raw.json("bad-name!") == error("unknown")


async def test_unknown_path_is_404(raw: Raw) -> None:
    assert (await raw.http.get("http://irefer.test/elsewhere")).status_code == 404


async def test_v1_path_accepted(raw: Raw) -> None:
    url = BASE.replace("/v1.0/", "/v1/") + "campaignStats"
    response = await raw.http.get(url, params={"campaign_id": 2605, "api_key": DEFAULT_API_KEY})
    check(response.json(), CAMPAIGN_STATS)


async def test_journal_hides_api_key(raw: Raw, emulator: Emulator) -> None:
    await raw.json("campaignStats")
    entry = emulator.journal[0]
    assert "api_key" not in entry.params
    assert entry.api_key == DEFAULT_API_KEY
    assert entry.license_key == DEFAULT_LICENSE_KEY
    assert DEFAULT_API_KEY not in repr(entry)
    assert DEFAULT_LICENSE_KEY not in repr(entry)
    assert DEFAULT_API_KEY not in str(entry.as_dict())


async def test_list_rows_stay_current_across_calls(populated: Raw, emulator: Emulator) -> None:
    """List endpoints cache encoded rows; counts and new rows must still show."""
    first = await populated.json("referrers")
    actions = await populated.json("specificActionSignups")
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    emulator.add_participant("dan@example.com", referrer_code=ann.code)
    await populated.json(
        "newSpecificAction", external_id="y@y.z", action="/dashboard", referrer_code=ann.code
    )
    second = await populated.json("referrers")
    assert len(second) == len(first) + 1
    assert second[0]["email"] == "dan@example.com"
    assert second[-1]["referrals_count"] == "3"
    assert second[1:] != first  # ann's count moved from 2 to 3
    assert [r["referred_person"] for r in await populated.json("specificActionSignups")] == [
        "y@y.z",
        *[r["referred_person"] for r in actions],
    ]
