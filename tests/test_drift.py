"""The drift recorder: what the decoder counts as it decodes, against the models and the guide."""

from __future__ import annotations

from typing import Any

import pytest
import samples

from irefer_async import Referrer
from irefer_async import _endpoints as ep
from irefer_async._converter import decode
from irefer_async.doctor import GUIDE_QUIRKS, MAX_ENTRIES, DriftKind, DriftRecorder, redact_example
from irefer_async.testing import Emulator
from irefer_async.testing.__main__ import seed_demo

GUIDE_SAMPLES = {
    "REFERRER_STATS": ep.REFERRER_STATS,
    "REFERRER_STATS_EMPTY": ep.REFERRER_STATS,
    "CAMPAIGN_STATS": ep.CAMPAIGN_STATS,
    "NEW_SIGNUP": ep.NEW_SIGNUP,
    "NEW_SPECIFIC_ACTION": ep.NEW_SPECIFIC_ACTION,
    "REFERRERS": ep.REFERRERS,
    "REWARDS": ep.REWARDS,
    "SPECIFIC_ACTION_SIGNUPS": ep.SPECIFIC_ACTION_SIGNUPS,
}


def _kinds(recorder: DriftRecorder) -> set[tuple[str, str, str]]:
    return {(e.path, e.kind.value, e.detail) for e in recorder.entries()}


def test_the_guides_own_samples_show_no_unexpected_drift() -> None:
    """Every quirk in the guide's samples is listed in GUIDE_QUIRKS; no field unknown or missing."""
    recorder = DriftRecorder()
    for name, endpoint in GUIDE_SAMPLES.items():
        decode(getattr(samples, name), endpoint.result, method=endpoint.name, observer=recorder)
    assert recorder.entries(include_expected=False) == ()
    assert len(recorder.entries()) > 10  # the quirks were seen, and all expected


async def test_the_default_emulator_shows_no_unexpected_drift() -> None:
    """The emulator speaks the guide's format: every read decodes with only expected quirks."""
    emulator = Emulator(seed=0)
    seed_demo(emulator)
    async with emulator.client(decode_observer=DriftRecorder()) as client:
        await client.campaign_stats()
        await client.referrer_stats("ann@example.com")
        await client.referrers()
        await client.rewards()
        await client.new_signup("new@example.com", name="New")
        drift = client.decode_observer
        assert drift is not None
    assert drift.entries(include_expected=False) == ()
    assert drift.objects["Referrer"] == 8
    assert {"CampaignStats", "ReferrerStats", "Reward", "TriggeredReward", "NewSignup"} <= set(
        drift.objects
    )


def test_unknown_missing_quirk_and_failed_fields_are_counted_with_their_path() -> None:
    """Each kind of drift lands under Model.field with a count."""
    rows = [dict(samples.REFERRERS[0]) for _ in range(3)]
    for row in rows:
        row["referral_count"] = row.pop("referrals_count")
        row["country"] = "FR"
    rows[0]["campaign_id"] = 2145  # a number where the guide sends a string: native, no quirk
    rows[1]["source_network"] = "x"  # an enum value the SDK does not know
    recorder = DriftRecorder()
    decode(rows, tuple[Referrer, ...], method="referrers", observer=recorder)
    found = _kinds(recorder)
    assert ("Referrer.referral_count", "unknown_field", "") in found
    assert ("Referrer.country", "unknown_field", "") in found
    assert ("Referrer.referrals_count", "missing_field", "") in found
    assert ("Referrer.source_network", "quirk", "value the SDK does not know") in found
    counts = {(e.path, e.kind): e.count for e in recorder.entries()}
    assert counts["Referrer.referral_count", DriftKind.UNKNOWN_FIELD] == 3
    assert counts["Referrer.campaign_id", DriftKind.QUIRK] == 2  # two strings, one number


def test_a_value_no_conversion_accepts_is_recorded_as_failed_before_decoding_raises() -> None:
    """The failing field is named even though decoding raises."""
    from irefer_async import MalformedResponseError

    row = {**samples.REFERRERS[0], "id": "not a number"}
    recorder = DriftRecorder()
    with pytest.raises(MalformedResponseError):
        decode([row], tuple[Referrer, ...], method="referrers", observer=recorder)
    failed = [e for e in recorder.entries() if e.kind is DriftKind.FAILED]
    assert [e.path for e in failed] == ["Referrer.id"]
    assert "not a number" not in failed[0].detail  # the value stays out of the reason
    assert failed[0].example == '"no******" (12 chars)'


def test_nested_rewards_are_examined_as_their_own_model() -> None:
    """rewards_offered items are Reward objects: their fields are checked too."""
    data = dict(samples.CAMPAIGN_STATS)
    data["rewards_offered"] = [{**data["rewards_offered"][0], "reward_image": "x.png"}]
    recorder = DriftRecorder()
    decode(data, ep.CAMPAIGN_STATS.result, method="campaignStats", observer=recorder)
    assert ("Reward.reward_image", "unknown_field", "") in _kinds(recorder)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (3, "3"),
        ("3", '"3"'),
        (None, "null"),
        (True, "true"),
        ("ann.smith@example.com", '"an***@ex***" (21 chars)'),
        ("+15551234567", '"+1******" (12 chars)'),
        ([1, 2], "[2 items]"),
        ({"a": 1}, "{object, 1 keys}"),
    ],
)
def test_examples_keep_the_type_and_hide_the_content(value: Any, shown: str) -> None:
    """Numbers keep their type, strings keep two characters and their length."""
    assert redact_example(value) == shown


def test_examples_are_redacted_before_they_are_cut() -> None:
    """A secret inside a value is replaced first, so no fragment of it survives the cut."""
    secret = "W4qL69dbdc0ed0520530bede3c1fc574"
    assert "W4" not in redact_example(secret, lambda t: t.replace(secret, "***"))


def test_the_entries_kept_are_bounded_and_the_rest_counted() -> None:
    """A service inventing keys cannot grow the recorder without bound."""
    row = {**samples.REFERRERS[0], **{f"k{i}": i for i in range(MAX_ENTRIES + 50)}}
    recorder = DriftRecorder()
    decode([row], tuple[Referrer, ...], method="referrers", observer=recorder)
    assert len(recorder.entries()) == MAX_ENTRIES
    assert recorder.overflow > 0


def test_guide_quirks_name_real_model_fields() -> None:
    """GUIDE_QUIRKS lists only fields the models have (a typo would hide real drift)."""
    import irefer_async._models as m
    from irefer_async._converter import field_hooks

    for path, _ in GUIDE_QUIRKS:
        model, _, field = path.partition(".")
        assert field in field_hooks(getattr(m, model)), path


async def test_a_client_without_a_decode_observer_keeps_none(irefer_emulator: Any) -> None:
    """Recording is opt-in: the default client's decode path takes no recorder."""
    assert irefer_emulator.client.decode_observer is None
    await irefer_emulator.client.campaign_stats()
    assert irefer_emulator.client.decode_observer is None


def test_recording_drift_does_not_change_what_is_decoded() -> None:
    """The same models, field for field, with and without a recorder."""
    for name, endpoint in GUIDE_SAMPLES.items():
        data = getattr(samples, name)
        plain = decode(data, endpoint.result, method=endpoint.name)
        recorded = decode(data, endpoint.result, method=endpoint.name, observer=DriftRecorder())
        assert plain == recorded, name
