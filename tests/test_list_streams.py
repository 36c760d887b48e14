"""client.iter_referrers() / iter_rewards() / iter_specific_action_signups(): streamed lists."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import httpx
import pytest
from _list_server import list_server
from helpers import API_KEY, LICENSE_KEY, make_client

from irefer_async import (
    APIError,
    EmptyResponseError,
    InvalidRequestError,
    IReferClient,
    ListStream,
    MalformedResponseError,
    RetryConfig,
    ServerError,
    StreamInterruptedError,
    TransportError,
)
from irefer_async.doctor import DriftRecorder
from irefer_async.testing import Emulator
from irefer_async.testing import _wire as wire

NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0)


def big_emulator(n: int = wire.STREAM_ROWS + 500) -> Emulator:
    emulator = Emulator(seed=2)
    emulator.seed_participants(n)
    emulator.seed_rewards(n)
    emulator.seed_actions(n)
    return emulator


def referrer_rows(n: int) -> list[dict[str, Any]]:
    emulator = Emulator(seed=2)
    emulator.seed_participants(n)
    return list(json.loads(bytes(wire.referrers(emulator._campaign(None)))))


async def collect(stream: ListStream[Any], into: list[Any] | None = None) -> list[Any]:
    got = [] if into is None else into
    async with stream:
        async for item in stream:
            got.append(item)
    return got


@pytest.mark.parametrize("n", [0, 3, wire.STREAM_ROWS + 500])
async def test_each_iterator_yields_what_the_tuple_call_returns(n: int) -> None:
    emulator = big_emulator(n) if n else Emulator()
    async with emulator.client() as client:
        assert tuple(await collect(client.iter_referrers())) == await client.referrers()
        assert tuple(await collect(client.iter_rewards())) == await client.rewards()
        assert (
            tuple(await collect(client.iter_specific_action_signups()))
            == await client.specific_action_signups()
        )


async def test_streams_over_loopback_and_counts_progress() -> None:
    emulator = big_emulator()
    async with emulator.serve() as url, emulator.client(base_url=url, transport=None) as client:
        stream = client.iter_referrers()
        assert (stream.delivered, stream.bytes_read) == (0, 0)
        items = await collect(stream)
        assert tuple(items) == await client.referrers()
    assert stream.delivered == len(items) == wire.STREAM_ROWS + 500
    assert stream.bytes_read == len(bytes(wire.referrers(emulator._campaign(None))))


async def test_bad_campaign_id_raises_at_the_call_before_any_request() -> None:
    emulator = Emulator()
    async with emulator.client() as client:
        with pytest.raises(InvalidRequestError, match="campaign_id"):
            client.iter_referrers(campaign_id="abc")
    assert len(emulator.journal) == 0


async def test_nothing_is_sent_until_the_first_item_is_asked_for() -> None:
    emulator = big_emulator(5)
    async with emulator.client() as client:
        stream = client.iter_rewards()
        await asyncio.sleep(0)
        assert len(emulator.journal) == 0
        await stream.__anext__()
        assert len(emulator.journal) == 1
        await stream.aclose()


@pytest.mark.parametrize("fault", ["null_body", "http_5xx_before", "drop_before", "html_page"])
async def test_a_failure_before_the_first_item_is_retried(fault: str) -> None:
    emulator = big_emulator()
    emulator.inject_fault(fault, method="referrers")
    async with emulator.client(retry=NO_WAIT) as client:
        items = await collect(client.iter_referrers())
    assert len(items) == wire.STREAM_ROWS + 500
    assert [e.method for e in emulator.journal] == ["referrers", "referrers"]


@pytest.mark.parametrize(
    ("fault", "error", "attempts"),
    [
        ("null_body", EmptyResponseError, 4),
        ("error_body", APIError, 1),
        ("http_5xx_before", ServerError, 4),
    ],
)
async def test_a_null_or_error_body_raises_the_typed_error(
    fault: str, error: type[Exception], attempts: int
) -> None:
    emulator = big_emulator(3)
    emulator.inject_fault(fault, method="rewards", times=None)
    async with emulator.client(retry=NO_WAIT) as client:
        with pytest.raises(error) as info:
            await collect(client.iter_rewards())
    assert getattr(info.value, "attempts", None) == attempts
    assert info.value.__context__ is None
    assert len(emulator.journal) == attempts


async def test_a_body_that_is_an_object_says_it_expected_an_array() -> None:
    async with (
        list_server(body=b'{"rows": []}') as server,
        make_client(base_url=server.url, retry=NO_WAIT) as client,
    ):
        with pytest.raises(MalformedResponseError, match="expected a JSON array, got an object"):
            await collect(client.iter_referrers())


async def test_a_stream_broken_after_items_says_how_many_and_is_not_restarted() -> None:
    rows = referrer_rows(3000)
    body = json.dumps(rows).encode()
    async with list_server(rows=rows, chunk=4096, drop_after=len(body) // 2) as server:
        async with make_client(base_url=server.url, retry=NO_WAIT) as client:
            got: list[Any] = []
            with pytest.raises(StreamInterruptedError) as info:
                await collect(client.iter_referrers(), got)
        assert len(server.requests) == 1  # never restarted
    assert info.value.delivered == len(got) > 1000
    assert isinstance(info.value.reason, TransportError)
    assert f"after {len(got)} items" in str(info.value)
    assert info.value.__context__ is None


async def test_a_body_cut_short_without_a_length_is_a_broken_stream_too() -> None:
    rows = referrer_rows(50)
    body = json.dumps(rows).encode()
    cut = body[: len(body) - 40]
    async with (
        list_server(body=cut, content_length=False, chunk=512) as server,
        make_client(base_url=server.url, retry=NO_WAIT) as client,
    ):
        with pytest.raises(StreamInterruptedError) as info:
            await collect(client.iter_referrers())
    assert info.value.delivered == 49
    assert isinstance(info.value.reason, MalformedResponseError)
    assert "ended inside the array" in str(info.value.reason)


async def test_a_malformed_item_names_its_index_after_the_good_ones() -> None:
    rows: list[Any] = referrer_rows(20)
    rows[7]["created_at"] = "yesterday"
    rows[12] = 42
    async with (
        list_server(rows=rows, chunk=100) as server,
        make_client(base_url=server.url) as client,
    ):
        got: list[Any] = []
        with pytest.raises(MalformedResponseError) as info:
            await collect(client.iter_referrers(), got)
    assert len(got) == 7
    assert info.value.item == 7
    assert "item 7" in str(info.value)
    assert "created_at" in info.value.detail


async def test_a_trickled_body_streams_and_the_loop_keeps_running() -> None:
    rows = referrer_rows(40)
    async with (
        list_server(rows=rows, chunk=300, gap=0.001) as server,
        make_client(base_url=server.url) as client,
    ):
        items = await collect(client.iter_referrers())
    assert [r.email for r in items] == [r["email"] for r in rows]


async def test_cancelling_mid_stream_closes_the_connection_and_frees_the_slot() -> None:
    rows = referrer_rows(200)
    async with list_server(rows=rows, chunk=1000, gap=0.05) as server:
        client = make_client(base_url=server.url, max_concurrency=1)
        async with client:
            first = asyncio.Event()

            async def consume() -> None:
                async for _ in client.iter_referrers():
                    first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), 5)
            assert server.open == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(server.closed.wait(), 5)
            assert server.open == 0
            # The concurrency slot (max_concurrency=1) was released: another call runs.
            server.behaviour.gap = 0.0
            assert len(await client.referrers()) == 200


async def test_leaving_early_closes_the_connection() -> None:
    rows = referrer_rows(3000)
    async with (
        list_server(rows=rows, chunk=4096) as server,
        make_client(base_url=server.url, max_concurrency=1) as client,
    ):
        async with client.iter_referrers() as stream:
            async for _ in stream:
                break
        await asyncio.wait_for(server.closed.wait(), 5)
        assert server.open == 0
        again = await collect(client.iter_referrers())
    assert len(again) == 3000


async def test_an_error_page_quoting_the_path_leaks_no_secret() -> None:
    async with (
        list_server(status=500, quote_path=True) as server,
        make_client(base_url=server.url, retry=NO_WAIT) as client,
    ):
        with pytest.raises(ServerError) as info:
            await collect(client.iter_referrers())
    assert LICENSE_KEY in server.requests[0] and API_KEY in server.requests[0]
    text = repr(info.value) + str(info.value)
    assert LICENSE_KEY[4:10] not in text
    assert API_KEY not in text


async def test_a_connection_error_is_redacted() -> None:
    async with make_client(base_url="http://127.0.0.1:9/v1.0/", retry=None) as client:
        with pytest.raises(TransportError) as info:
            await collect(client.iter_referrers())
    cause = info.value.__cause__
    assert LICENSE_KEY[4:10] not in str(info.value) + str(cause)


async def test_every_attempt_takes_a_rate_slot_and_retries_wait_for_it() -> None:
    acquired = 0

    class Counting:
        async def acquire(self) -> None:
            nonlocal acquired
            acquired += 1

    emulator = big_emulator(10)
    emulator.inject_faults(["http_5xx_before", None], method="referrers")
    async with emulator.client(rate_limit=Counting(), retry=NO_WAIT) as client:
        assert len(await collect(client.iter_referrers())) == 10
    assert acquired == 2


async def test_a_stream_holds_its_concurrency_slot_until_it_ends() -> None:
    emulator = big_emulator(10)
    async with emulator.client(max_concurrency=1) as client:
        stream = client.iter_referrers()
        await stream.__anext__()
        other = asyncio.create_task(client.campaign_stats())
        await asyncio.sleep(0.01)
        assert not other.done()  # waiting for the slot the stream holds
        await stream.aclose()
        assert (await asyncio.wait_for(other, 5)).signups_total == 10


async def test_a_stream_dropped_without_closing_is_released_by_the_collector() -> None:
    emulator = big_emulator(10)
    async with emulator.client(max_concurrency=1) as client:

        async def first_only() -> None:
            async for _ in client.iter_referrers():
                break

        await first_only()
        gc.collect()
        await asyncio.sleep(0)  # the loop's async-generator finaliser runs aclose
        stats = await asyncio.wait_for(client.campaign_stats(), 5)
    assert stats.signups_total == 10


async def test_a_closed_client_refuses_to_stream() -> None:
    emulator = Emulator()
    client = emulator.client()
    await client.aclose()
    with pytest.raises(Exception, match="closed"):
        await collect(client.iter_referrers())


async def test_an_iterator_is_typed_by_its_model() -> None:
    emulator = big_emulator(2)
    async with emulator.client() as client:
        async for referrer in client.iter_referrers():
            assert referrer.email.endswith("@example.com")
        async for reward in client.iter_rewards():
            assert reward.recipient_email
        async for action in client.iter_specific_action_signups():
            assert action.specific_action == "/dashboard"


def test_iterators_are_documented_and_exported() -> None:
    for name in ("iter_referrers", "iter_rewards", "iter_specific_action_signups"):
        assert getattr(IReferClient, name).__doc__
    assert ListStream.__doc__
    assert httpx  # the transport used by the fake server tests


async def test_the_emulators_truncated_list_breaks_the_stream_after_items() -> None:
    emulator = big_emulator()
    emulator.inject_fault("truncated_json", method="specificActionSignups")
    async with emulator.client(retry=NO_WAIT) as client:
        with pytest.raises(StreamInterruptedError) as info:
            await collect(client.iter_specific_action_signups())
    assert 0 < info.value.delivered < wire.STREAM_ROWS + 500
    assert len(emulator.journal) == 1


# -- the tuple calls read lists the same way -------------------------------------------


async def test_the_tuple_call_gives_the_loop_turns_on_a_body_in_one_chunk(
    mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irefer_async import _stream

    monkeypatch.setattr(_stream, "YIELD_EVERY", 0.0)
    rows = referrer_rows(5000)
    mock.get("referrers").respond(content=json.dumps(rows).encode())  # one chunk
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with make_client() as client:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        result = await client.referrers()
        task.cancel()
    assert len(result) == 5000
    assert ticks - before >= 5000 // _stream._CLOCK_EVERY - 1


async def test_a_tuple_call_cut_mid_body_is_retried_whole() -> None:
    emulator = big_emulator()
    emulator.inject_fault("truncated_json", method="referrers")
    async with emulator.client(retry=NO_WAIT) as client:
        result = await client.referrers()
    assert len(result) == wire.STREAM_ROWS + 500
    assert len(emulator.journal) == 2


async def test_a_tuple_call_names_the_bad_item() -> None:
    rows: list[Any] = referrer_rows(20)
    rows[12]["id"] = "twelve"
    async with (
        list_server(rows=rows, chunk=100) as server,
        make_client(base_url=server.url, retry=NO_WAIT) as client,
    ):
        with pytest.raises(MalformedResponseError) as info:
            await client.referrers()
    assert info.value.item == 12
    assert len(server.requests) == 1  # a wrong shape is not retried


# -- observability: a stream is one observed call ------------------------------------


async def test_a_stream_reports_its_attempts_to_the_event_hooks() -> None:
    events: list[Any] = []
    emulator = big_emulator(10)
    emulator.inject_fault("http_5xx_before", method="referrers")
    hooks: Any = {"request": [events.append], "response": [events.append], "retry": [events.append]}
    async with emulator.client(retry=NO_WAIT, event_hooks=hooks) as client:
        items = await collect(client.iter_referrers())
    assert len(items) == 10
    assert [(e.kind, e.attempt, e.status) for e in events] == [
        ("request", 1, None),
        ("response", 1, 503),
        ("retry", 2, None),
        ("request", 2, None),
        ("response", 2, 200),
    ]
    assert len({e.correlation_id for e in events}) == 1


async def test_a_failed_stream_carries_a_correlation_id() -> None:
    emulator = big_emulator(3)
    emulator.inject_fault("error_body", method="rewards")
    async with emulator.client() as client:
        with pytest.raises(APIError) as info:
            await collect(client.iter_rewards())
    assert info.value.correlation_id


# -- drift recording and service profiles on streamed lists ------------------------------


async def test_streamed_and_tuple_reads_record_the_same_drift() -> None:
    emulator = Emulator(seed=2, profile="drifted")
    emulator.seed_participants(wire.STREAM_ROWS + 10)
    async with emulator.client(decode_observer=DriftRecorder()) as tuple_client:
        whole = await tuple_client.referrers()
        from_tuple = tuple_client.decode_observer
    async with emulator.client(decode_observer=DriftRecorder()) as stream_client:
        streamed = await collect(stream_client.iter_referrers())
        from_stream = stream_client.decode_observer
    assert tuple(streamed) == whole
    assert from_tuple is not None and from_stream is not None
    assert from_stream.objects == from_tuple.objects == {"Referrer": wire.STREAM_ROWS + 10}
    assert from_stream.entries() == from_tuple.entries()
    assert any("referral_count" in entry.path for entry in from_stream.entries())


async def test_streamed_rows_carry_when_their_answer_arrived() -> None:
    emulator = big_emulator(5)
    async with emulator.client() as client:
        rows = await collect(client.iter_referrers())
        whole = await client.referrers()
    assert all(row.fetched_at is not None for row in rows)
    # Each row is stamped as it is decoded (set at construction: the models are frozen), so
    # a streamed list's rows carry when each arrived, in order.
    stamps = [row.fetched_at for row in rows]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert rows[-1].fetched_at <= whole[0].fetched_at  # type: ignore[operator]


@pytest.mark.virtual_time
async def test_a_stream_waiting_for_a_slot_stops_at_the_deadline() -> None:

    from irefer_async import DeadlineExceededError

    async def scenario() -> DeadlineExceededError:
        emulator = big_emulator(5)
        retry = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=2.0)
        async with emulator.client(max_concurrency=1, retry=retry) as client:
            holder = client.iter_rewards()
            await holder.__anext__()  # holds the only slot
            with pytest.raises(DeadlineExceededError) as info:
                await collect(client.iter_referrers())
            await holder.aclose()
        return info.value

    error = await scenario()
    assert error.sent is False
    assert error.waiting_for == "concurrency"


async def test_a_stream_cancelled_in_its_response_hook_closes_the_body_and_frees_the_slot() -> None:
    """Cancelled after its body opened, inside an async ``response`` hook (before the stream
    owns it): the body is closed and the slot given back, so the next call is not starved."""
    hooked = asyncio.Event()

    async def slow_hook(event: object) -> None:
        if not hooked.is_set():  # the stream's answer only
            hooked.set()
            await asyncio.sleep(3600)

    emulator = big_emulator(10)
    hooks = {"response": [slow_hook]}
    async with emulator.client(max_concurrency=1, event_hooks=hooks) as client:
        task = asyncio.create_task(collect(client.iter_referrers()))
        await asyncio.wait_for(hooked.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await asyncio.wait_for(client.campaign_stats(), 5)).signups_total == 10
