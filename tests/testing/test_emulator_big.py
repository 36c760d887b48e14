"""Big campaigns in the emulator: fast seeding, and long lists served as streamed bodies."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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


def _built(emulator: Emulator) -> int:
    """How many referrers rows the emulator has encoded so far."""
    cache = emulator._campaign(None).wire_cache.get("referrers", [])
    return sum(prefix is not None for prefix in cache)


@pytest.mark.parametrize("hide", [False, True])
def test_a_streamed_referrers_body_builds_its_rows_chunk_by_chunk(hide: bool) -> None:
    """The first chunk goes out having encoded its own rows only, not the whole campaign."""
    emulator = Emulator(seed=3)
    emulator.seed_participants(wire.STREAM_ROWS * 5)
    if hide:
        emulator.hide_participants([f"seeded{wire.STREAM_ROWS * 5 - 2}@example.com"])
    body = wire.referrers(emulator._campaign(None))
    assert isinstance(body, wire.StreamedBody)
    assert _built(emulator) == 0
    chunks = body.chunks()
    assert next(chunks) == b"["
    first = next(chunks)
    assert 0 < _built(emulator) <= 2 * wire._CHUNK_ROWS
    newest = f'"email":"seeded{wire.STREAM_ROWS * 5 - 1}@example.com"'.encode()
    assert newest in first.split(b"},{")[0]  # newest first
    rows = json.loads(b"".join([b"[", first, *chunks]))
    assert len(rows) == wire.STREAM_ROWS * 5 - hide
    assert _built(emulator) == wire.STREAM_ROWS * 5 - hide
    assert (
        bytes(wire.referrers(emulator._campaign(None)))
        == json.dumps(rows, separators=(",", ":")).replace("/", "\\/").encode()
    )  # the cached rows make the same bytes


async def _max_stall_while_streaming(emulator: Emulator) -> tuple[float, int]:
    """Stream referrers in process while a ticker runs; return its longest gap and the bytes."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    params = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY}
    size = 0
    async with (
        httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http,
        http.stream("GET", "referrers", params=params) as response,
    ):
        async for chunk in response.aiter_raw():
            size += len(chunk)
    stop.set()
    await task
    return max(gaps), size


@pytest.mark.slow
async def test_streaming_100k_referrers_never_stalls_the_loop() -> None:
    """First list request after seeding 100,000 rows: no tick of the loop waits over 50 ms."""
    emulator = Emulator(seed=3)
    emulator.seed_participants(100_000)
    stall, size = await _max_stall_while_streaming(emulator)
    assert size > 100_000 * 100
    assert stall < 0.05, f"the loop stalled {stall * 1000:.0f} ms"


async def test_the_asgi_front_yields_to_the_loop_between_chunks() -> None:
    """A server's send() need not yield (uvicorn's does not until its buffer is full): the app
    lets other tasks run between the chunks it makes."""
    emulator = Emulator(seed=3)
    emulator.seed_participants(wire.STREAM_ROWS * 2)
    ticks = 0
    seen: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:  # never suspends
        if message["type"] == "http.response.body":
            seen.append(ticks)

    query = f"campaign_id={DEFAULT_CAMPAIGN_ID}&api_key={DEFAULT_API_KEY}".encode()
    path = BASE.split("irefer.test", 1)[1] + "referrers"
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query}
    task = asyncio.create_task(ticker())
    try:
        await emulator.app(scope, receive, send)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(seen) > 5
    # (the ticker first runs when the app first yields: after its first chunk)
    assert all(later > earlier for earlier, later in itertools.pairwise(seen[1:]))
