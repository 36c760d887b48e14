"""End to end through ``IReferClient`` (via the ``irefer_emulator`` fixture): every endpoint,
and write safety against "after processing" faults: never a duplicate participant or action."""

from __future__ import annotations

import contextlib

import pytest

import irefer_async
from irefer_async.testing import EmulatorFixture, Fault, FaultKind, WriteEffect

AFTER: list[str | Fault] = [
    "http_5xx_after",
    "drop_after",
    "timeout_after",
    "truncated_json",
    Fault("slow_trickle", delay=0.0),
    Fault("latency", delay=0.0),
]
BEFORE = [
    "http_5xx_before",
    "http_429",
    "drop_before",
    "timeout_before",
    "connect_refused",
    "connect_timeout",
    "null_body",
    "html_page",
]


def participant_rows(env: EmulatorFixture) -> list[dict[str, object]]:
    return env.snapshot()["campaigns"][0]["participants"]  # type: ignore[no-any-return]


async def test_fixture_defaults(irefer_emulator: EmulatorFixture) -> None:
    env = irefer_emulator
    assert (env.campaign_id, env.license_key[:4]) == (2605, "W4qL")
    assert env.api_key == env.emulator.default_campaign.api_key
    assert participant_rows(env) == []
    assert env.emulator.default_campaign.actions[0].page == "/dashboard"


async def test_every_endpoint(irefer_emulator: EmulatorFixture) -> None:
    client = irefer_emulator.client
    ann = await client.new_signup("ann@example.com", name="Ann")
    code = ann.referral_link.rsplit("=", 1)[1]
    bob = await client.new_signup("bob@example.com", referrer_code=code, source="t", info_1="x")
    assert bob.referrer == "ann@example.com"
    await client.new_specific_action("bob@example.com", action="/dashboard", referrer_code=code)
    irefer_emulator.record_views(10)
    stats = await client.referrer_stats("ann@example.com")
    assert stats.referrals_made == 1
    campaign = await client.campaign_stats()
    assert campaign.signups_total == 2
    assert len(await client.referrers()) == 2
    assert len(await client.rewards()) == 1
    assert len(await client.specific_action_signups()) == 1


async def test_error_body_is_api_error(irefer_emulator: EmulatorFixture) -> None:
    with pytest.raises(irefer_async.APIError):
        await irefer_emulator.client.referrer_stats("nobody@example.com")


@pytest.mark.parametrize("kind", AFTER, ids=str)
async def test_signup_after_fault_never_duplicates(
    irefer_emulator: EmulatorFixture, kind: str | Fault
) -> None:
    env = irefer_emulator
    env.inject_fault(kind, method="newSignup", call=1)
    result = await env.client.new_signup("ann@example.com")
    assert result.email == "ann@example.com"
    assert len(participant_rows(env)) == 1
    assert env.journal.count(WriteEffect.PARTICIPANT_CREATED) == 1
    expected = kind.kind if isinstance(kind, Fault) else FaultKind(kind)
    assert env.journal.entries("newSignup")[0].fault is expected


@pytest.mark.parametrize("kind", BEFORE)
async def test_signup_before_fault_lands_once(irefer_emulator: EmulatorFixture, kind: str) -> None:
    env = irefer_emulator
    env.inject_fault(kind, method="newSignup", call=1)
    await env.client.new_signup("ann@example.com")
    assert len(participant_rows(env)) == 1
    assert env.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0


@pytest.mark.parametrize("kind", AFTER, ids=str)
async def test_action_after_fault_never_duplicates(
    irefer_emulator: EmulatorFixture, kind: str | Fault
) -> None:
    env = irefer_emulator
    ann = env.add_participant("ann@example.com")
    env.inject_fault(kind, method="newSpecificAction", call=1)
    await env.client.new_specific_action(
        "x@example.com", action="/dashboard", referrer_code=ann.code
    )
    assert env.journal.count(WriteEffect.ACTION_RECORDED) == 1


async def test_read_retries_through_faults(irefer_emulator: EmulatorFixture) -> None:
    env = irefer_emulator
    env.inject_faults(
        [Fault("http_429", retry_after="0"), "http_5xx_before", "drop_before"],
        method="campaignStats",
    )
    stats = await env.client.campaign_stats()
    assert stats.signups_total == 0
    assert [e.fault for e in env.journal.entries("campaignStats")] == [
        FaultKind.HTTP_429,
        FaultKind.HTTP_5XX_BEFORE,
        FaultKind.DROP_BEFORE,
        None,
    ]


async def test_seeded_fault_rate_never_duplicates(irefer_emulator: EmulatorFixture) -> None:
    env = irefer_emulator
    env.inject_fault_rate(
        0.3,
        ["http_5xx_after", "drop_after", "http_5xx_before", "drop_before"],
        methods=["newSignup"],
        seed=7,
    )
    for n in range(30):
        # Retries exhausted is acceptable; a duplicate is not.
        with contextlib.suppress(irefer_async.IReferError):
            await env.client.new_signup(f"p{n}@example.com")
    emails = [row["email"] for row in participant_rows(env)]
    assert len(emails) == len(set(emails))
    assert env.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0


@pytest.mark.irefer_emulator(seed=5)
async def test_marker_configures_emulator(irefer_emulator: EmulatorFixture) -> None:
    assert irefer_emulator.emulator._seed == 5


async def test_fixture_closes_client() -> None:
    from irefer_async.testing import Emulator

    env = EmulatorFixture(Emulator())
    client = env.client
    await env.aclose()
    assert client.is_closed
