"""The streaming reader of list bodies (_stream.py): splitting, decoding, the matching scan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_helpers import decode_items, scan_list, scan_rows

from irefer_async import IReferError, MalformedResponseError, Referrer, SpecificActionSignup
from irefer_async import _stream as stream
from irefer_async._converter import decode
from irefer_async._match import RowMatcher
from irefer_async._stream import ArraySplitter, json_items
from irefer_async.testing import Emulator
from irefer_async.testing import _wire as wire


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def items_of(body: bytes, size: int = 65536, method: str = "referrers") -> list[Any]:
    splitter = ArraySplitter(method)
    return [item async for item in json_items(chunked(body, size), splitter)]


@pytest.fixture(params=["orjson", "json"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsing paths: orjson's parse-to-find-the-end, and the scan used without it."""
    if request.param == "json":
        monkeypatch.setattr(stream, "_orjson_loads", None)
    return str(request.param)


TRICKY = [
    {"a": "}", "b": "{", "c": "]["},
    {"nested": {"x": [1, {"y": "}"}]}, "z": None},
    {"quote": 'say "hi" \\ }', "slash": "/thanks/", "u": "café ☕"},
    {},
    {"n": 1.5e3, "t": True, "f": False, "neg": -2},
]


@pytest.mark.parametrize("size", [1, 2, 7, 64, 65536])
async def test_tricky_items_split_exactly_at_any_chunk_size(size: int, parser: str) -> None:
    body = json.dumps(TRICKY).encode()
    assert await items_of(body, size) == TRICKY
    escaped = json.dumps(TRICKY, ensure_ascii=True).replace("/", "\\/").encode()
    assert await items_of(escaped, size) == TRICKY


async def test_whitespace_around_and_between_items(parser: str) -> None:
    body = b' \n[ {"a": 1} ,\n\t{"b": 2}\r\n ]\n '
    assert await items_of(body, 3) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("body", [b"[]", b" [ ] ", b"[\n]"])
async def test_empty_array_yields_nothing(body: bytes, parser: str) -> None:
    splitter = ArraySplitter("referrers")
    assert [x async for x in json_items(chunked(body, 1), splitter)] == []
    assert splitter._state == stream._END  # the closing ] was read
    assert splitter.is_array


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=5), max_size=6),
    size=st.integers(1, 40),
    ascii_only=st.booleans(),
)
def test_any_array_of_objects_splits_like_json_loads(
    rows: list[dict[str, Any]], size: int, ascii_only: bool
) -> None:
    body = json.dumps(rows, ensure_ascii=ascii_only).encode()
    assert asyncio.run(items_of(body, size)) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "index", "words"),
    [
        (b'[{"a":1}, 5]', 1, "got a number"),
        (b'[{"a":1},{"b":2},"x"]', 2, "got a string"),
        (b"[null]", 0, "got null"),
        (b'[{"a":1},[1]]', 1, "got an array"),
        (b'[{"a":1},{"b":}]', 1, "not valid JSON"),
    ],
)
async def test_a_bad_item_is_named_by_its_index(
    body: bytes, index: int, words: str, parser: str
) -> None:
    with pytest.raises(MalformedResponseError) as info:
        await items_of(body, 4)
    assert info.value.item == index
    assert f"item {index}" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'[{"a":1},{"b":2}', "ended inside the array, after 2 items"),
        (b'[{"a":1},{"b":', "ended inside the array, after 1 items"),
        (b'[{"a":1} {"b":2}]', "expected ',' or ']' after item 0"),
        (b'[{"a":1}] x', "unexpected bytes after the array"),
        (b'[{"a":1},]', "got"),
    ],
)
async def test_a_broken_array_is_malformed_not_json(body: bytes, words: str, parser: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        await items_of(body, 3)
    assert words in str(info.value)


async def test_truncated_body_is_marked_not_json_so_it_can_be_retried() -> None:
    with pytest.raises(MalformedResponseError) as info:
        await items_of(b'[{"a":1},{"b":2', 5)
    assert info.value.not_json
    assert info.value.item is None


async def test_an_oversized_item_is_refused_without_buffering_the_body(parser: str) -> None:
    splitter = ArraySplitter("referrers", max_item_bytes=100)
    body = b'[{"a":"' + b"x" * 10_000 + b'"}]'
    with pytest.raises(MalformedResponseError) as info:
        [x async for x in json_items(chunked(body, 30), splitter)]
    assert info.value.item == 0
    assert "larger than 100 bytes" in str(info.value)
    assert splitter.bytes_fed < 200  # stopped reading at the cap, not at the end


@pytest.mark.parametrize(
    "body", [b"null", b'{"error":"input missing or incorrect","error_code":"x"}', b"<html>"]
)
async def test_a_body_that_is_not_an_array_is_kept_as_head(body: bytes) -> None:
    splitter = ArraySplitter("referrers")
    assert [x async for x in json_items(chunked(body, 3), splitter)] == []
    assert splitter.is_array is False
    assert splitter.head == body


async def test_head_is_capped_and_reading_stops() -> None:
    reads = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal reads
        while True:
            reads += 1
            yield b"<html>" + b"x" * 1000

    splitter = ArraySplitter("referrers")
    assert [x async for x in json_items(endless(), splitter)] == []
    assert len(splitter.head) == 64 * 1024
    assert reads < 100


def emulator_with(n: int) -> Emulator:
    emulator = Emulator(seed=1)
    first = emulator.add_participant("root@example.com", name="Röot /x", source="t")
    for i in range(n):
        emulator.add_participant(f"u{i}@example.com", referrer_code=first.code, phone="+1 555")
    for i in range(n):
        emulator._state.specific_action(
            emulator._campaign(None),
            f"p{i}@example.com",
            "/dashboard",
            first.code,
            now=emulator.clock.now(),
            ip="10.0.0.1",
        )
    return emulator


@pytest.mark.parametrize("size", [1, 1000, 1 << 20])
async def test_decoded_items_equal_the_tuple_decoding(size: int, parser: str) -> None:
    emulator = emulator_with(300)
    campaign = emulator._campaign(None)
    for body, model, method in [
        (wire.referrers(campaign), Referrer, "referrers"),
        (wire.specific_action_signups(campaign), SpecificActionSignup, "specificActionSignups"),
    ]:
        whole = decode(json.loads(body), tuple[model, ...], method=method)  # type: ignore[valid-type]
        splitter = ArraySplitter(method)
        items = [x async for x in decode_items(chunked(body, size), model, splitter)]
        assert tuple(items) == whole
        assert [x.raw for x in items] == [x.raw for x in whole]
        assert splitter.count == len(whole)
        assert splitter.bytes_fed == len(body)


async def test_an_item_that_does_not_fit_the_model_names_index_and_field() -> None:
    rows = json.loads(wire.referrers(emulator_with(3)._campaign(None)))
    rows[2]["id"] = "not a number"
    body = json.dumps(rows).encode()
    got: list[Referrer] = []

    async def consume() -> None:
        async for item in decode_items(chunked(body, 50), Referrer, ArraySplitter("referrers")):
            got.append(item)

    with pytest.raises(MalformedResponseError) as info:
        await consume()
    assert len(got) == 2
    assert info.value.item == 2
    assert "item 2" in str(info.value)
    assert "id" in info.value.detail
    assert not info.value.not_json


async def test_a_big_single_chunk_gives_the_loop_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "YIELD_EVERY", 0.0)
    body = json.dumps([{"i": i} for i in range(5000)]).encode()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    items = await items_of(body, len(body))
    task.cancel()
    assert len(items) == 5000
    assert ticks - before >= 5000 // stream._CLOCK_EVERY - 1


# -- the matching scan -------------------------------------------------------------------


async def scan(body: bytes, matcher: RowMatcher, size: int = 64, **kw: Any) -> dict[Any, Any]:
    return await scan_rows(chunked(body, size), matcher, method="specificActionSignups", **kw)


ROWS = [
    {"id": "3", "referred_person": "b@x.io", "specific_action": "\\/dashboard", "n": 7},
    {"id": "2", "referred_person": "A@x.io", "specific_action": "/dashboard", "n": "7"},
    {"id": "1", "referred_person": "a@x.io", "specific_action": "/dashboard", "n": 8},
]


def body_of(rows: Iterable[dict[str, Any]]) -> bytes:
    return json.dumps(list(rows)).replace("/", "\\/").encode()


async def test_scan_finds_many_targets_in_one_pass() -> None:
    matcher = RowMatcher(("referred_person", "specific_action"))
    matcher.add(("a@x.io", "/dashboard"))
    matcher.add(("b@x.io", "\\/dashboard"))
    matcher.add(("c@x.io", "/dashboard"))
    found = await scan(body_of(ROWS), matcher)
    assert found == {("a@x.io", "/dashboard"): ROWS[2], ("b@x.io", "\\/dashboard"): ROWS[0]}
    assert matcher.pending == 1


async def test_scan_compares_numbers_by_text_and_keeps_the_first_match() -> None:
    matcher = RowMatcher(("n",), [("7",), ("8",), ("9",)])
    found = await scan(body_of(ROWS), matcher)
    assert found == {("7",): ROWS[0], ("8",): ROWS[2]}


async def test_scan_casefolds_only_the_fields_named() -> None:
    matcher = RowMatcher(
        ("referred_person", "specific_action"),
        [("A@X.IO", "/dashboard")],
        casefold=["referred_person"],
    )
    found = await scan(body_of(ROWS), matcher)
    assert found == {("A@X.IO", "/dashboard"): ROWS[1]}  # the first of A@x.io / a@x.io
    exact = RowMatcher(("referred_person",), [("A@X.IO",)])
    assert await scan(body_of(ROWS), exact) == {}


async def test_scan_stops_reading_once_every_target_is_found() -> None:
    rows = [{"k": str(i)} for i in range(10_000)]
    body = json.dumps(rows).encode()
    splitter = ArraySplitter("specificActionSignups")
    matcher = RowMatcher(("k",), [("5",), ("10",)])
    found = await scan(body, matcher, size=100, splitter=splitter)
    assert set(found) == {("5",), ("10",)}
    assert splitter.count == 11
    assert splitter.bytes_fed < 500
    everything = ArraySplitter("specificActionSignups")
    matcher = RowMatcher(("k",), [("5",)])
    await scan(body, matcher, size=100, splitter=everything, stop_when_found=False)
    assert everything.count == 10_000


async def test_scan_builds_no_model_and_tolerates_rows_a_model_would_refuse() -> None:
    rows = [{"id": "not a number", "referred_person": "a@x.io", "specific_action": "/d"}]
    matcher = RowMatcher(("referred_person", "specific_action"), [("a@x.io", "/d")])
    found = await scan(json.dumps(rows).encode(), matcher)
    assert found[("a@x.io", "/d")]["id"] == "not a number"


async def test_scan_names_the_index_of_a_row_that_is_not_an_object() -> None:
    matcher = RowMatcher(("k",), [("z",)])
    with pytest.raises(MalformedResponseError) as info:
        await scan(b'[{"k":"a"},{"k":"b"},17]', matcher)
    assert info.value.item == 2


async def test_scan_of_a_body_that_is_not_an_array_finds_nothing_and_says_so() -> None:
    splitter = ArraySplitter("specificActionSignups")
    found = await scan(b"null", RowMatcher(("k",), [("a",)]), splitter=splitter)
    assert found == {}
    assert splitter.is_array is False
    assert splitter.head == b"null"


def test_matcher_refuses_bad_targets_and_fields() -> None:
    with pytest.raises(ValueError, match="distinct"):
        RowMatcher(("a", "a"))
    with pytest.raises(ValueError, match="distinct"):
        RowMatcher(())
    with pytest.raises(ValueError, match="casefold"):
        RowMatcher(("a",), casefold=["b"])
    matcher = RowMatcher(("a", "b"))
    with pytest.raises(ValueError, match="2 strings"):
        matcher.add(("x",))
    with pytest.raises(ValueError, match="2 strings"):
        matcher.add(("x", 1))  # type: ignore[arg-type]
    assert matcher.pending == 0
    assert matcher.add(["x", "y"]) == ("x", "y")
    assert matcher.pending == 1


async def test_an_item_only_json_loads_accepts_still_decodes_as_before(parser: str) -> None:
    # orjson refuses NaN; the whole-body path falls back to json.loads, and so must this.
    body = b'[{"a":NaN},{"b":1}]'
    items = await items_of(body, 100)
    assert items[1] == {"b": 1}
    assert items[0]["a"] != items[0]["a"]  # NaN
    assert await items_of(b'[{"a":NaN}]', 100) != []


# -- one attempt of a scan over HTTP (scan_list) --------------------------------------


def sender_of(client: Any) -> Any:
    return client._sender


async def test_scan_list_over_the_emulator_finds_rows_and_releases_the_connection() -> None:
    emulator = emulator_with(50)
    async with emulator.client() as client:
        matcher = RowMatcher(
            ("referred_person", "specific_action"),
            [("p7@example.com", "/dashboard"), ("nobody@example.com", "/dashboard")],
        )
        params = {"campaign_id": str(emulator.default_campaign.id)}
        found = await scan_list(sender_of(client), "specificActionSignups", params, matcher)
    assert list(found) == [("p7@example.com", "/dashboard")]
    assert found[("p7@example.com", "/dashboard")]["referrer_email"] == "root@example.com"


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("null_body", "EmptyResponseError", "null"),
        ("error_body", "APIError", "irefer_api_specificActionSignups_err_401"),
        ("http_5xx_before", "ServerError", "HTTP 5"),
        ("html_page", "MalformedResponseError", "not JSON"),
        ("truncated_json", "MalformedResponseError", "ended inside the array"),
    ],
)
async def test_scan_list_raises_what_a_whole_read_would(fault: str, error: str, words: str) -> None:
    emulator = emulator_with(5)
    emulator.inject_fault(fault, method="specificActionSignups")
    async with emulator.client() as client:
        matcher = RowMatcher(("referred_person",), [("nobody",)])
        params = {"campaign_id": str(emulator.default_campaign.id)}
        with pytest.raises(IReferError) as info:
            await scan_list(sender_of(client), "specificActionSignups", params, matcher)
    assert type(info.value).__name__ == error
    assert words in str(info.value)
    assert info.value.__context__ is None


async def test_scan_list_of_an_object_body_says_it_expected_an_array(mock: Any) -> None:
    from helpers import make_client

    mock.get("specificActionSignups").respond(json={"rows": []})
    async with make_client() as client:
        with pytest.raises(MalformedResponseError, match="expected a JSON array, got an object"):
            await scan_list(
                sender_of(client),
                "specificActionSignups",
                {"campaign_id": "1"},
                RowMatcher(("a",), [("b",)]),
            )


# -- the scan as a client read (IReferClient.find_landed's shared scan) -----------------


async def test_client_scan_finds_many_targets_with_retries_and_one_request_each() -> None:
    import time

    from irefer_async import NewSpecificActionRequest, RetryConfig

    emulator = emulator_with(3000)  # a streamed body
    emulator.inject_fault("http_5xx_before", method="specificActionSignups")
    root = emulator.participant("root@example.com")
    assert root is not None
    code = root.code
    events: list[Any] = []
    hooks: Any = {"response": [events.append]}
    retry = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0)
    people = ("p5@example.com", "p2999@example.com", "p77@example.com", "nobody@example.com")
    async with emulator.client(retry=retry, event_hooks=hooks) as client:
        found = await asyncio.gather(
            *(
                client.find_landed(
                    NewSpecificActionRequest(person, "/dashboard", code), sent_at=time.time() - 60
                )
                for person in people
            )
        )
    assert [None if f is None else f.external_id for f in found] == [*people[:3], None]
    assert all(f.reconciled for f in found if f is not None)
    # One scan for every target: retried once after the 503, one request each.
    assert [e.status for e in events] == [503, 200]
    assert [e.method for e in emulator.journal] == ["specificActionSignups"] * 2


async def test_client_scan_of_a_null_body_raises_after_retries() -> None:
    import time

    from irefer_async import EmptyResponseError, NewSignupRequest, RetryConfig

    emulator = emulator_with(5)
    emulator.inject_fault("null_body", method="referrers", times=None)
    retry = RetryConfig(attempts=2, wait_initial=0, wait_max=0, wait_jitter=0)
    async with emulator.client(retry=retry) as client:
        with pytest.raises(EmptyResponseError) as info:
            await client.find_landed(NewSignupRequest("x@example.com"), sent_at=time.time() - 60)
    assert info.value.attempts == 2
    assert info.value.correlation_id


def test_a_matcher_converts_a_field_on_both_sides() -> None:
    """``convert``: a row's link and a target's bare code compare by the code."""
    from irefer_async._match import RowMatcher
    from irefer_async._models import referral_code_of

    matcher = RowMatcher(("referral_link",), [("C1",)], convert={"referral_link": referral_code_of})
    assert matcher.match({"referral_link": "https://x.io/join?iref=C2"}) is None
    assert matcher.match({"referral_link": "https://x.io/join?iref=C1"}) == ("C1",)
    with pytest.raises(ValueError, match="convert names fields"):
        RowMatcher(("email",), convert={"referral_link": str})
