"""Big campaigns in the emulator: fast seeding, and long lists served as streamed bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from _emulator_helpers import BASE, Raw

from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, Emulator, Fault, FaultKind
from irefer_async.testing import _wire as wire

METHODS = ("referrers", "rewards", "specificActionSignups")


def seeded(n: int) -> Emulator:
    emulator = Emulator(seed=3)
    emulator.seed_participants(n)
    emulator.seed_rewards(n)
    emulator.seed_actions(n)
    return emulator


def test_seeding_adds_rows_that_serialise_like_signed_up_ones() -> None:
    emulator = Emulator(seed=3)
    emulator.add_participant("first@example.com")
    assert emulator.seed_participants(4) == 5
    assert emulator.seed_rewards(3) == 3
    assert emulator.seed_actions(2) == 2
    campaign = emulator._campaign(None)
    rows = json.loads(bytes(wire.referrers(campaign)))
    assert [r["email"] for r in rows] == [f"seeded{i}@example.com" for i in (4, 3, 2, 1)] + [
        "first@example.com"
    ]
    assert rows[0]["referral_link"] == "S0000004"
    assert set(rows[0]) == set(rows[-1])
    assert emulator.participant("SEEDED2@example.com") is not None
    rewards = json.loads(bytes(wire.rewards(campaign)))
    assert [r["recipient_email"] for r in rewards] == [
        "seeded2@example.com",
        "seeded1@example.com",
        "first@example.com",
    ]
    actions = json.loads(bytes(wire.specific_action_signups(campaign)))
    assert [a["referred_person"] for a in actions] == [
        "referred1@example.com",
        "referred0@example.com",
    ]
    assert {a["specific_action"] for a in actions} == {"/dashboard"}


def test_seeding_refuses_what_the_campaign_cannot_hold() -> None:
    emulator = Emulator()
    with pytest.raises(ValueError, match="participants"):
        emulator.seed_rewards(1)
    with pytest.raises(ValueError, match="participants"):
        emulator.seed_actions(1)
    emulator.add_participant("seeded3@example.com")
    with pytest.raises(ValueError, match=r"already registered: seeded3@example\.com"):
        emulator.seed_participants(5)
    assert emulator.seed_participants(5, email="other{}@example.com") == 6  # nothing half-added
    with pytest.raises(ValueError, match="matches no specific-action rule"):
        emulator.seed_actions(1, action="/nowhere")


@pytest.mark.parametrize("method", METHODS)
async def test_a_long_list_is_streamed_in_chunks_with_the_same_bytes(method: str) -> None:
    emulator = seeded(wire.STREAM_ROWS + 300)
    campaign = emulator._campaign(None)
    serialise = {"specificActionSignups": "specific_action_signups"}.get(method, method)
    expected = bytes(getattr(wire, serialise)(campaign))
    params = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY}
    async with (
        httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http,
        http.stream("GET", method, params=params) as response,
    ):
        assert "content-length" not in response.headers
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert len(chunks) > 5
    assert b"".join(chunks) == expected
    assert len(json.loads(expected)) == wire.STREAM_ROWS + 300


async def test_a_short_list_is_still_one_body_with_a_length(raw: Raw, emulator: Emulator) -> None:
    emulator.seed_participants(3)
    response = await raw.get("referrers")
    assert response.headers["content-length"] == str(len(response.content))
    assert len(response.json()) == 3


async def test_a_streamed_list_over_loopback_arrives_whole() -> None:
    emulator = seeded(wire.STREAM_ROWS * 2)
    async with emulator.serve() as url, emulator.client(base_url=url, transport=None) as client:
        referrers = await client.referrers()
        actions = await client.specific_action_signups()
    assert len(referrers) == wire.STREAM_ROWS * 2
    assert referrers[0].email == f"seeded{wire.STREAM_ROWS * 2 - 1}@example.com"
    assert len(actions) == wire.STREAM_ROWS * 2


@pytest.mark.parametrize("fault", ["truncated_json", "slow_trickle", "latency"])
async def test_faults_still_apply_to_a_streamed_list(fault: str) -> None:
    emulator = seeded(wire.STREAM_ROWS + 1)
    emulator.inject_fault(fault, method="referrers")
    body = bytes(wire.referrers(emulator._campaign(None)))
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http:
        params: dict[str, Any] = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY}
        if fault != "truncated_json":
            emulator.clear_faults()
            emulator.inject_fault(Fault(FaultKind(fault), delay=0.0), method="referrers")
        response = await http.get("referrers", params=params)
    if fault == "truncated_json":
        assert response.content == body[: len(body) // 2]
    else:
        assert response.content == body


def test_hidden_participants_are_left_out_of_a_streamed_list_too() -> None:
    """A plan limit hides rows: the streamed body (past STREAM_ROWS) leaves them out as well."""
    emulator = Emulator(seed=3)
    emulator.seed_participants(wire.STREAM_ROWS + 5)
    assert emulator.hide_participants(["seeded7@example.com", "seeded2001@example.com"]) == 2
    body = wire.referrers(emulator._campaign(None))
    assert isinstance(body, wire.StreamedBody)
    emails = [row["email"] for row in json.loads(bytes(body))]
    assert len(emails) == wire.STREAM_ROWS + 3
    assert "seeded7@example.com" not in emails and "seeded2001@example.com" not in emails
    assert emails[0] == f"seeded{wire.STREAM_ROWS + 4}@example.com"  # newest first, from 0
