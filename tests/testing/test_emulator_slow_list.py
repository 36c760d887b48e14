"""The ``slow_list`` fault: a list body served in small chunks, slowly, never whole in memory."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
from urllib.parse import urlencode

import httpx
import pytest
from _emulator_helpers import BASE, Raw

from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_LICENSE_KEY,
    Emulator,
    EmulatorRequest,
    Fault,
    FaultKind,
)
from irefer_async.testing import _wire as wire
from irefer_async.testing._faults import SLOW_LIST_CHUNK

PARAMS = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY}


def long_list() -> Emulator:
    emulator = Emulator(seed=3)
    emulator.seed_participants(wire.STREAM_ROWS + 300)
    return emulator


async def test_the_decision_is_a_streamed_body_never_the_whole_list() -> None:
    emulator = long_list()
    emulator.inject_fault("slow_list", method="referrers")
    path = f"/v1.0/{DEFAULT_LICENSE_KEY}.js/referrers"
    outcome = await emulator.handle(EmulatorRequest("GET", path, urlencode(PARAMS).encode()))
    assert (outcome.status, outcome.body, outcome.delay) == (200, b"", 0.0)
    assert outcome.stream is not None
    # Made as it is sent: the first pieces without the rest.
    first = list(itertools.islice(outcome.stream.chunks(), 10))
    assert max(map(len, first)) == SLOW_LIST_CHUNK
    assert emulator.journal[0].fault is FaultKind.SLOW_LIST


async def test_a_long_list_arrives_whole_in_small_chunks() -> None:
    emulator = long_list()
    expected = bytes(wire.referrers(emulator._campaign(None)))
    emulator.inject_fault("slow_list", method="referrers")
    async with (
        httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http,
        http.stream("GET", "referrers", params=PARAMS) as response,
    ):
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert max(map(len, chunks)) <= SLOW_LIST_CHUNK
    assert len(chunks) >= len(expected) // SLOW_LIST_CHUNK
    assert b"".join(chunks) == expected


async def test_a_short_answer_is_cut_the_same_way(raw: Raw, emulator: Emulator) -> None:
    emulator.seed_participants(5)
    emulator.inject_fault("slow_list", method="referrers")
    response = await raw.get("referrers")
    assert len(response.json()) == 5
    assert emulator.journal[0].status == 200


@pytest.mark.virtual_time
async def test_the_chunks_come_delay_seconds_apart(raw: Raw, emulator: Emulator) -> None:
    emulator.seed_participants(20)
    emulator.inject_fault(Fault("slow_list", delay=0.25), method="referrers")
    loop = asyncio.get_running_loop()
    arrivals = []
    async with raw.http.stream("GET", "referrers", params=PARAMS) as response:
        async for chunk in response.aiter_raw():
            arrivals.append((loop.time(), chunk))
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert len(arrivals) > 3
    assert min(gaps) == pytest.approx(0.25)
    assert len(json.loads(b"".join(chunk for _, chunk in arrivals))) == 20


TRANSPORTS = [
    None,
    pytest.param(
        "aiohttp",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("aiohttp") is None, reason="needs the aiohttp extra"
        ),
    ),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_iter_referrers_reads_a_slow_list_over_loopback(transport: str | None) -> None:
    emulator = long_list()
    emulator.inject_fault("slow_list", method="referrers", times=None)
    async with (
        emulator.serve() as url,
        emulator.client(base_url=url, transport=transport) as client,
    ):
        emails = [row.email async for row in client.iter_referrers()]
    assert len(emails) == len(set(emails)) == wire.STREAM_ROWS + 300
    assert [entry.fault for entry in emulator.journal] == [FaultKind.SLOW_LIST]
