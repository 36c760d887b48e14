"""Service profiles: the 2018 guide (default), the 2019 change, a drifted wire format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from irefer_async import (
    APIError,
    HTTPStatusError,
    MalformedResponseError,
    WriteOutcomeUnknownError,
)
from irefer_async.doctor import DriftRecorder
from irefer_async.testing import PROFILES, Emulator, LoopClock, ServiceProfile
from irefer_async.testing.__main__ import _parser


def test_the_default_profile_is_the_guide() -> None:
    """An emulator built without a profile changes nothing."""
    assert Emulator().profile is PROFILES["2018"]
    assert PROFILES["2018"].rewrite("referrers", b'[{"a":"1"}]') == b'[{"a":"1"}]'


@pytest.mark.virtual_time
async def test_2019_removes_signup_and_specific_actions() -> None:
    """newSignup and newSpecificAction are an HTML 404; specificActionSignups an error body."""
    # Virtual time: the unknown write waits out the default settle window at no real cost.
    await _2019_removes_signup_and_specific_actions()


async def _2019_removes_signup_and_specific_actions() -> None:
    emulator = Emulator(profile="2019", clock=LoopClock())
    async with emulator.client(retry=None) as client:
        with pytest.raises(HTTPStatusError) as gone:
            await client.new_signup("ann@example.com")
        assert gone.value.status_code == 404
        # A 404 may hide a landed write, and 2019 took the reconciling read away too.
        with pytest.raises(WriteOutcomeUnknownError) as unknown:
            await client.new_specific_action(
                "x@example.com", action="/dashboard", referrer_code="c"
            )
        assert isinstance(unknown.value.last_error, HTTPStatusError)
        with pytest.raises(APIError) as refused:
            await client.specific_action_signups()
        assert refused.value.error_code == "irefer_api_specificActionSignups_err_401"
        assert (await client.campaign_stats()).campaign_name  # reads still work
    assert emulator.participant("ann@example.com") is None


async def test_drifted_sends_an_extra_a_renamed_and_a_stringified_field() -> None:
    """The three drifts are on the wire, in the API's escaping."""
    emulator = Emulator(profile="drifted")
    emulator.add_participant("ann@example.com", name="Ann/B")
    async with emulator.client(decode_observer=DriftRecorder()) as client:
        stats = await client.campaign_stats()
        assert stats.raw["instagram_referrals"] == 0
        (row,) = await client.referrers()
        assert "referral_count" in row.raw and "referrals_count" not in row.raw
        assert row.referrals_count == 0  # silently the default: what the doctor warns about
        who = await client.referrer_stats("ann@example.com")
        assert who.raw["referrals_made"] == "0"


async def test_drifted_rewrites_keep_the_apis_escaping() -> None:
    """A rewritten body still escapes "/" as PHP does."""
    body = PROFILES["drifted"].rewrite("referrers", b'[{"referrals_count":"1","n":"a\\/b"}]')
    assert b"a\\/b" in body
    assert json.loads(body) == [{"n": "a/b", "referral_count": "1"}]


def test_a_custom_profile_can_be_passed_as_an_object() -> None:
    """Any ServiceProfile works, not only the built-in ones."""
    custom = ServiceProfile("mine", "rewards gone", gone=frozenset({"rewards"}))
    assert Emulator(profile=custom).profile is custom


def test_an_unknown_profile_name_is_refused_with_the_choices() -> None:
    """A typo names the profiles there are."""
    with pytest.raises(ValueError, match="2018, 2019, drifted"):
        Emulator(profile="2020")


@pytest.mark.irefer_emulator(profile="2019")
async def test_the_fixture_takes_a_profile(irefer_emulator: Any) -> None:
    """@pytest.mark.irefer_emulator(profile=...) selects it."""
    assert irefer_emulator.emulator.profile.name == "2019"
    with pytest.raises(HTTPStatusError):
        await irefer_emulator.client.new_signup("ann@example.com")


def test_the_standalone_emulator_takes_a_profile() -> None:
    """python -m irefer_async.testing --profile drifted (what irefer emulator --profile runs)."""
    assert _parser().parse_args(["--profile", "drifted"]).profile == "drifted"
    assert _parser().parse_args([]).profile == "2018"


async def test_a_drifted_required_field_fails_decoding_as_before() -> None:
    """Profiles only change bytes: the SDK's own errors are what a user would meet."""
    profile = ServiceProfile("x", "id renamed", renamed_fields={"referrers": {"id": "uid"}})
    emulator = Emulator(profile=profile)
    emulator.add_participant("ann@example.com")
    async with emulator.client(retry=None) as client:
        with pytest.raises(MalformedResponseError):
            await client.referrers()
