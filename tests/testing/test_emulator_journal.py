"""The request journal and the query parser behind it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import httpx
from _emulator_helpers import BASE, Raw
from hypothesis import given
from hypothesis import strategies as st

from irefer_async.testing import Emulator, FrozenClock, WriteEffect
from irefer_async.testing._emulator import _parse_query


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_query_parser_matches_parse_qsl(params: dict[str, str]) -> None:
    query = urlencode(params).encode()
    assert _parse_query(query) == dict(parse_qsl(query.decode(), keep_blank_values=True))


async def test_journal_limit_keeps_latest() -> None:
    emulator = Emulator(journal_limit=2, clock=FrozenClock())
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http:
        for _ in range(3):
            await Raw(http).get("campaignStats")
    assert [e.seq for e in emulator.journal] == [2, 3]
    assert [e.seq for e in emulator.journal[:1]] == [2]
    assert emulator.snapshot()["requests"] == 3


async def test_journal_filters(raw: Raw, emulator: Emulator) -> None:
    await raw.get("newSignup", email="a@x.io")
    await raw.get("newSignup", email="a@x.io")
    await raw.get("referrers")
    assert len(emulator.journal.entries("newSignup")) == 2
    dup = emulator.journal.entries(effect=WriteEffect.DUPLICATE_REJECTED)
    assert [e.call for e in dup] == [2]
    assert emulator.journal[-1].method == "referrers"
    assert repr(emulator.journal) == "<Journal 3 entries>"
    assert emulator.journal[0].as_dict()["params"] == {"campaign_id": "2605", "email": "a@x.io"}
