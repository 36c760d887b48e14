"""Each endpoint: its URL, its parameters, its result type, and argument checks before sending."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY

from irefer_async import (
    CampaignStats,
    InvalidRequestError,
    IReferClient,
    LeadSource,
    NewSignup,
    NewSpecificAction,
    Referrer,
    ReferrerStats,
    SpecificActionSignup,
    TriggeredReward,
)
from irefer_async.testing import Emulator, WriteEffect


def query(request: httpx.Request) -> dict[str, str]:
    """The request's query parameters, decoded."""
    return dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))


CASES: list[tuple[str, str, dict[str, Any], Any, type]] = [
    ("referrer_stats", "referrerStats", {"email": "ann@example.com"}, samples.REFERRER_STATS, ReferrerStats),
    ("campaign_stats", "campaignStats", {}, samples.CAMPAIGN_STATS, CampaignStats),
    ("new_signup", "newSignup", {"email": "new@irefer.io"}, samples.NEW_SIGNUP, NewSignup),
    (
        "new_specific_action",
        "newSpecificAction",
        {"external_id": "p@e.io", "action": "/dashboard", "referrer_code": "uniquecode"},
        samples.NEW_SPECIFIC_ACTION,
        NewSpecificAction,
    ),
    ("referrers", "referrers", {}, samples.REFERRERS, Referrer),
    ("rewards", "rewards", {}, samples.REWARDS, TriggeredReward),
    ("specific_action_signups", "specificActionSignups", {}, samples.SPECIFIC_ACTION_SIGNUPS, SpecificActionSignup),
]  # fmt: skip


@pytest.mark.parametrize(("name", "method", "kwargs", "body", "model"), CASES)
async def test_endpoint_url_params_and_result(
    client: IReferClient,
    mock: respx.MockRouter,
    name: str,
    method: str,
    kwargs: dict[str, Any],
    body: Any,
    model: type,
) -> None:
    route = mock.get(path__regex=rf"/{method}$").respond(json=body)
    result = await getattr(client, name)(*kwargs.values()) if name == "referrer_stats" else None
    if result is None:
        result = await getattr(client, name)(**kwargs)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url.path == f"/v1.0/{LICENSE_KEY}.js/{method}"
    assert query(request) == {"campaign_id": "2605", **kwargs, "api_key": API_KEY}
    if isinstance(body, list):
        assert isinstance(result, tuple) and len(result) == len(body)
        assert all(isinstance(item, model) for item in result)
    else:
        assert isinstance(result, model)


async def test_new_signup_sends_every_given_parameter_in_the_guides_order(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.get(path__regex=r"/newSignup$").respond(json=samples.NEW_SIGNUP)
    await client.new_signup(
        "a@b.io", name="Ann", phone="+1 555", info_1="1", info_2="2", info_3="3", info_4="4", info_5="5",
        source=LeadSource.TWITTER, referrer_code="CODE1234",
    )  # fmt: skip
    keys = [k for k, _ in parse_qsl(urlsplit(str(route.calls.last.request.url)).query)]
    assert keys == [
        "campaign_id", "email", "name", "phone", "info_1", "info_2", "info_3", "info_4", "info_5",
        "source", "referrer_code", "api_key",
    ]  # fmt: skip
    assert query(route.calls.last.request)["source"] == "t"


async def test_optional_parameters_not_given_are_not_sent(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.get(path__regex=r"/newSignup$").respond(json=samples.NEW_SIGNUP)
    await client.new_signup("a@b.io", name="Ann")
    assert set(query(route.calls.last.request)) == {"campaign_id", "email", "name", "api_key"}


async def test_campaign_id_per_call_overrides_the_default(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.get(path__regex=r"/campaignStats$").respond(json=samples.CAMPAIGN_STATS)
    await client.campaign_stats(campaign_id="42")
    assert query(route.calls.last.request)["campaign_id"] == "42"


HOSTILE = ["a+b&c#d=e%f;g", "Zoë 東京 ✓", "line\nbreak", "  spaced  ", "/path?x=1&y=2"]


@pytest.mark.parametrize("value", HOSTILE)
async def test_every_parameter_is_url_encoded_and_arrives_as_given(
    client: IReferClient, mock: respx.MockRouter, value: str
) -> None:
    signup = mock.get(path__regex=r"/newSignup$").respond(json=samples.NEW_SIGNUP)
    action = mock.get(path__regex=r"/newSpecificAction$").respond(json=samples.NEW_SPECIFIC_ACTION)
    stats = mock.get(path__regex=r"/referrerStats$").respond(json=samples.REFERRER_STATS)
    email = "".join(value.split()) + "@x.io"  # whitespace in an email is refused before sending
    text = {
        f: value
        for f in (
            "name",
            "phone",
            "info_1",
            "info_2",
            "info_3",
            "info_4",
            "info_5",
            "referrer_code",
        )
    }
    await client.new_signup(email, **text)
    assert query(signup.calls.last.request) == {
        "campaign_id": "2605",
        "email": email,
        **text,
        "api_key": API_KEY,
    }
    await client.new_specific_action(value, action=value, referrer_code=value)
    assert query(action.calls.last.request) == {
        "campaign_id": "2605", "external_id": value, "action": value, "referrer_code": value, "api_key": API_KEY,
    }  # fmt: skip
    await client.referrer_stats(email)
    assert query(stats.calls.last.request)["email"] == email


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.referrer_stats(""), "email must not be empty"),
        (lambda c: c.referrer_stats("   "), "email must not be empty"),
        (lambda c: c.referrer_stats("no-at-sign"), "not an email address"),
        (lambda c: c.referrer_stats(" Kim@Example.com "), "leading or trailing whitespace"),
        (lambda c: c.new_signup("kim@example.com\n"), "leading or trailing whitespace"),
        (lambda c: c.new_signup("multi\nline@example.com"), "contains whitespace"),
        (lambda c: c.new_signup("a b@example.com"), "contains whitespace"),
        (lambda c: c.new_signup("a@exam\u00a0ple.com"), "contains whitespace"),
        (lambda c: c.new_signup("a\x00b@example.com"), "contains a control character"),
        (lambda c: c.new_signup("a@example.com\u200b"), "contains a control character"),
        (lambda c: c.new_signup("ann@@example.com"), "more than one '@'"),
        (lambda c: c.new_signup("a@b@example.com"), "more than one '@'"),
        (lambda c: c.new_signup("@example.com"), "not an email address"),
        (lambda c: c.new_signup("ann@"), "not an email address"),
        (lambda c: c.referrer_stats(None), "email is required"),
        (lambda c: c.referrer_stats(123), "email must be a string"),
        (lambda c: c.new_signup("a@b.io", source="x"), "unknown lead source 'x'"),
        (lambda c: c.new_signup("a@b.io", name=5), "name must be a string"),
        (
            lambda c: c.new_specific_action("", action="/d", referrer_code="c"),
            "external_id must not be empty",
        ),
        (
            lambda c: c.new_specific_action("p", action="", referrer_code="c"),
            "action must not be empty",
        ),
        (lambda c: c.campaign_stats(campaign_id=0), "campaign_id must be a positive integer"),
        (lambda c: c.campaign_stats(campaign_id="abc"), "campaign_id must be a positive integer"),
        (lambda c: c.campaign_stats(campaign_id=True), "campaign_id must be a positive integer"),
    ],
)
async def test_bad_arguments_raise_before_any_request(
    client: IReferClient, mock: respx.MockRouter, call: Any, message: str
) -> None:
    route = mock.get(path__regex=r".*").respond(json={})
    with pytest.raises(InvalidRequestError, match=message) as info:
        await call(client)
    assert isinstance(info.value, ValueError)
    assert route.call_count == 0


async def test_missing_campaign_id_is_rejected_before_sending(mock: respx.MockRouter) -> None:
    route = mock.get(path__regex=r".*").respond(json={})
    async with IReferClient(LICENSE_KEY, API_KEY, rate_limit=None) as client:
        with pytest.raises(InvalidRequestError, match="campaign_id is required"):
            await client.campaign_stats()
    assert route.call_count == 0


@pytest.mark.parametrize(
    "source", ["t", "f", "l", "w", "e", "twitter", "WhatsApp", LeadSource.EMAIL]
)
async def test_lead_sources_accept_letters_names_and_enum(
    client: IReferClient, mock: respx.MockRouter, source: Any
) -> None:
    route = mock.get(path__regex=r"/newSignup$").respond(json=samples.NEW_SIGNUP)
    await client.new_signup("a@b.io", source=source)
    assert query(route.calls.last.request)["source"] in "tflwe"


@pytest.mark.parametrize(
    "email", ["ann@example.com", "a+b&c#d=e%f;g@x.io", "Zoë東京✓@x.io", "x@y", "/path?x=1@z.io"]
)
async def test_the_emulator_accepts_every_email_the_sdk_accepts(email: str) -> None:
    """The SDK is the strict side: what it lets through, the emulator registers."""
    emulator = Emulator(seed=0)
    async with emulator.client() as client:
        signup = await client.new_signup(email)
        assert signup.referral_code
        assert emulator.journal[-1].effect is WriteEffect.PARTICIPANT_CREATED
