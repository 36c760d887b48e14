"""The write tools: dry runs send nothing, real writes ask first and never land twice."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import Asker, connect, created, seeded_emulator, writes

from irefer_async import RetryConfig
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Fault, FaultKind

ZED = {"email": "zed@example.com", "name": "Zed"}


def text(result) -> str:  # type: ignore[no-untyped-def]
    return result.content[0].text


async def test_a_dry_run_sends_nothing_and_shows_the_exact_request() -> None:
    emulator = seeded_emulator()
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    async with emulator.client() as client, connect(client, allow_writes=True) as session:
        result = await session.call_tool(
            "new_signup", {**ZED, "referrer_code": ann.code, "dry_run": True}
        )
    assert len(emulator.journal) == 0  # the journal proves it: no request at all
    assert emulator.participant("zed@example.com") is None
    data = result.structured_content
    assert data is not None and not result.is_error
    assert data["dry_run"] is True and data["sent"] is False
    sent = data["would_send"]
    assert sent["method"] == "GET"
    assert sent["params"] == {
        "campaign_id": "2605", "email": "zed@example.com", "name": "Zed",
        "referrer_code": ann.code, "api_key": "[api key]",
    }  # fmt: skip
    assert sent["url"] == (
        "http://127.0.0.1:8765/v1.0/[license key].js/newSignup?campaign_id=2605"
        f"&email=zed%40example.com&name=Zed&referrer_code={ann.code}&api_key=[api key]"
    )
    assert DEFAULT_LICENSE_KEY[4:10] not in text(result) and DEFAULT_API_KEY[:6] not in text(result)


async def test_a_dry_run_with_bad_input_is_the_sdks_error_and_sends_nothing() -> None:
    emulator = seeded_emulator()
    async with emulator.client() as client, connect(client, allow_writes=True) as session:
        result = await session.call_tool("new_signup", {"email": "a@@b", "dry_run": True})
        action = await session.call_tool(
            "new_specific_action",
            {"external_id": "x", "action": "", "referrer_code": "c", "dry_run": True},
        )
    assert result.is_error and "newSignup: email contains more than one '@'" in text(result)
    assert action.is_error and "newSpecificAction: action" in text(action)
    assert len(emulator.journal) == 0


async def test_a_real_write_is_refused_when_the_client_cannot_confirm() -> None:
    emulator = seeded_emulator()
    async with emulator.client() as client, connect(client, allow_writes=True) as session:
        result = await session.call_tool("new_signup", ZED)
    assert result.is_error
    assert "cannot ask you to confirm" in text(result)
    assert "dry_run=true" in text(result) and "--no-confirm" in text(result)
    assert len(emulator.journal) == 0


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_confirmed_signup_retried_three_times_lands_once(mode: str) -> None:
    emulator = seeded_emulator()
    asker = Asker()
    async with (
        emulator.client() as client,
        connect(client, allow_writes=True, asker=asker, mode=mode) as session,
    ):
        results = [await session.call_tool("new_signup", ZED) for _ in range(4)]
    assert [r.is_error for r in results] == [False] * 4, text(results[0])
    assert writes(emulator) == 1 and created(emulator) == 1
    assert [r.structured_content["sent"] for r in results] == [True, False, False, False]  # type: ignore[index]
    assert [r.structured_content["replayed"] for r in results] == [False, True, True, True]  # type: ignore[index]
    assert len(asker.questions) == 1  # asked once; the retries are answered from the record
    question = asker.questions[0]
    assert "newSignup" in question and "zed@example.com" in question
    assert DEFAULT_API_KEY[:6] not in question and DEFAULT_LICENSE_KEY[4:10] not in question


async def test_retries_arriving_while_the_first_is_in_flight_wait_for_it() -> None:
    emulator = seeded_emulator()
    emulator.inject_fault(Fault(FaultKind.LATENCY, delay=0.2), method="newSignup")
    async with (
        emulator.client() as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        results = await asyncio.gather(*(session.call_tool("new_signup", ZED) for _ in range(3)))
    assert not any(r.is_error for r in results)
    assert writes(emulator) == 1 and created(emulator) == 1
    assert sorted(r.structured_content["sent"] for r in results) == [False, False, True]  # type: ignore[index]


async def test_a_lost_answer_is_reconciled_and_a_retry_after_a_restart_is_already_a_participant() -> (
    None
):
    emulator = seeded_emulator()
    emulator.inject_fault("http_5xx_after", method="newSignup", call=1)  # lands, answer lost
    retry = RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.05)
    async with (
        emulator.client(retry=retry) as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        first = await session.call_tool("new_signup", ZED)
        again = await session.call_tool("new_signup", ZED)
        # A new server process (no record): the API's refusal, as a clear tool error.
        async with connect(client, allow_writes=True, confirm=False) as restarted:
            later = await restarted.call_tool("new_signup", ZED)
    assert not first.is_error, text(first)
    assert first.structured_content["reconciled"] is True  # type: ignore[index]
    assert again.structured_content["replayed"] is True  # type: ignore[index]
    assert later.is_error and "already a participant" in text(later)
    assert "zed@example.com" not in text(later)  # the SDK keeps participant data out
    assert created(emulator) == 1


@pytest.mark.parametrize(
    "answer", [{"confirm": False}, {"action": "decline"}, {"action": "cancel"}]
)
async def test_a_write_the_user_does_not_confirm_sends_nothing(answer: dict[str, object]) -> None:
    emulator = seeded_emulator()
    asker = Asker(**answer)  # type: ignore[arg-type]
    async with (
        emulator.client() as client,
        connect(client, allow_writes=True, asker=asker, mode="legacy") as session,
    ):
        result = await session.call_tool("new_signup", ZED)
    assert result.is_error and "not sent" in text(result)
    assert writes(emulator) == 0 and len(asker.questions) == 1


async def test_no_confirm_writes_without_asking() -> None:
    emulator = seeded_emulator()
    asker = Asker()
    async with (
        emulator.client() as client,
        connect(client, allow_writes=True, confirm=False, asker=asker) as session,
    ):
        result = await session.call_tool("new_signup", ZED)
    assert not result.is_error and result.structured_content["sent"] is True  # type: ignore[index]
    assert asker.questions == [] and created(emulator) == 1


async def test_new_specific_action_dry_run_then_confirmed_once() -> None:
    emulator = seeded_emulator()
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    action = emulator.default_campaign.actions[0].page
    args = {"external_id": "friend1@example.com", "action": action, "referrer_code": ann.code}
    asker = Asker()
    async with (
        emulator.client() as client,
        connect(client, allow_writes=True, asker=asker) as session,
    ):
        dry = await session.call_tool("new_specific_action", {**args, "dry_run": True})
        assert len(emulator.journal) == 0
        real = [await session.call_tool("new_specific_action", args) for _ in range(3)]
    assert dry.structured_content["would_send"]["params"]["action"] == action  # type: ignore[index]
    assert [r.is_error for r in real] == [False] * 3, text(real[0])
    assert writes(emulator, "newSpecificAction") == 1 and len(asker.questions) == 1
    assert [r.structured_content["replayed"] for r in real] == [False, True, True]  # type: ignore[index]


UNKNOWN = RetryConfig(attempts=2, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.05)


async def test_a_retry_after_an_unknown_outcome_finds_the_write_instead_of_resending() -> None:
    emulator = seeded_emulator()
    emulator.inject_fault("http_5xx_after", method="newSignup", call=1)  # lands, answer lost
    emulator.inject_fault("http_5xx_before", method="referrers", times=None)  # cannot tell
    async with (
        emulator.client(retry=UNKNOWN) as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        first = await session.call_tool("new_signup", ZED)
        emulator.clear_faults()
        again = await session.call_tool("new_signup", ZED)
    assert first.is_error and "outcome unknown" in text(first), text(first)
    assert not again.is_error, text(again)
    assert again.structured_content["replayed"] is True  # type: ignore[index]
    assert again.structured_content["reconciled"] is True  # type: ignore[index]
    assert again.structured_content["sent"] is False  # type: ignore[index]
    assert writes(emulator) == 1 and created(emulator) == 1


async def test_a_retry_after_an_unknown_outcome_not_found_is_refused_not_resent() -> None:
    emulator = seeded_emulator()
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    action = emulator.default_campaign.actions[0].page
    args = {"external_id": "new@example.com", "action": action, "referrer_code": ann.code}
    emulator.inject_fault("http_5xx_before", method="newSpecificAction", call=1)  # not landed
    emulator.inject_fault("http_5xx_before", method="specificActionSignups", times=None)
    async with (
        emulator.client(retry=UNKNOWN) as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        first = await session.call_tool("new_specific_action", args)
        emulator.clear_faults()
        again = await session.call_tool("new_specific_action", args)
    assert first.is_error and "outcome unknown" in text(first)
    assert again.is_error and "nothing was sent again" in text(again)
    assert writes(emulator, "newSpecificAction") == 1


async def test_a_retry_after_an_unknown_action_outcome_finds_it() -> None:
    emulator = seeded_emulator()
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    action = emulator.default_campaign.actions[0].page
    args = {"external_id": "new@example.com", "action": action, "referrer_code": ann.code}
    emulator.inject_fault("http_5xx_after", method="newSpecificAction", call=1)
    emulator.inject_fault("http_5xx_before", method="specificActionSignups", times=None)
    async with (
        emulator.client(retry=UNKNOWN) as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        first = await session.call_tool("new_specific_action", args)
        emulator.clear_faults()
        again = await session.call_tool("new_specific_action", args)
    assert first.is_error and "outcome unknown" in text(first)
    assert not again.is_error and again.structured_content["replayed"] is True  # type: ignore[index]
    assert writes(emulator, "newSpecificAction") == 1
