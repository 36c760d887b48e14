"""The bulk engine: streaming, one outcome per row, bounded memory, ordering, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from irefer_async import (
    APIError,
    BulkOutcome,
    BulkStatus,
    BulkSummary,
    NewSignup,
    NewSignupRequest,
    NewSpecificAction,
    NewSpecificActionRequest,
    WriteOutcomeUnknownError,
)
from irefer_async._bulk import BulkRun


def _signup(email: str) -> NewSignup:
    return NewSignup(campaign_name="c", email=email, confirmed=False, referral_link="x")


class FakeClient:
    """A scripted client for the engine: its bulk write attempt, never ambiguous."""

    def __init__(self, delay: Any = None, fail: Any = None) -> None:
        self.delay = delay or (lambda email: 0)
        self.fail = fail or (lambda email: None)
        self.sent: list[str] = []

    async def send(self, request: NewSignupRequest) -> NewSignup:
        email = request.email
        self.sent.append(email)
        delay = self.delay(email)
        if delay:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)
        error = self.fail(email)
        if error is not None:
            raise error
        return _signup(email)

    async def _bulk_attempt(self, endpoint: Any, request: NewSignupRequest, held: Any) -> NewSignup:
        return await self.send(request)

    async def _bulk_settle(self, held: Any) -> Any:
        raise AssertionError("no row is ambiguous here")


def _emails(n: int) -> Iterator[NewSignupRequest]:
    return (NewSignupRequest(f"user{i}@example.com") for i in range(n))


async def _drain(run: Any) -> None:
    async with run:
        async for _ in run:
            pass


def _no_other_tasks() -> bool:
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me and not t.done()] == []


async def test_every_row_gets_one_outcome(irefer_emulator: Any) -> None:
    """Requests and dicts are both accepted; every index comes back once, all ok."""
    rows: list[Any] = [NewSignupRequest(f"a{i}@example.com", name=f"A{i}") for i in range(50)]
    rows += [{"email": f"b{i}@example.com", "source": "t"} for i in range(50)]
    async with irefer_emulator.client.bulk_new_signups(rows, concurrency=8) as run:
        outcomes = [o async for o in run]
    assert sorted(o.index for o in outcomes) == list(range(100))
    assert all(o.ok and o.result is not None and o.error is None for o in outcomes)
    assert {o.key for o in outcomes} == {
        r.email if isinstance(r, NewSignupRequest) else r["email"] for r in rows
    }
    summary = run.summary
    assert (summary.total, summary.ok, summary.submitted, summary.interrupted) == (
        100,
        100,
        100,
        False,
    )
    assert summary.rate > 0
    assert len(irefer_emulator.emulator.snapshot()["campaigns"][0]["participants"]) == 100


async def test_invalid_rows_are_never_sent(irefer_emulator: Any) -> None:
    """Bad email, unknown source, unknown or missing fields: status invalid, no request."""
    rows: list[Any] = [
        {"email": "not-an-email"},
        {"email": "a@example.com", "source": "myspace"},
        {"email": "b@example.com", "colour": "red"},
        {"name": "no email"},
        42,
        {"email": "ok@example.com"},
    ]
    run = irefer_emulator.client.bulk_new_signups(rows, ordered=True)
    async with run:
        outcomes = [o async for o in run]
    assert [o.status for o in outcomes] == [BulkStatus.INVALID] * 5 + [BulkStatus.OK]
    assert "colour" in str(outcomes[2].error)
    assert outcomes[0].key == "not-an-email"
    assert run.summary.invalid == 5
    assert run.summary.submitted == 1
    assert [e.params.get("email") for e in irefer_emulator.emulator.journal] == ["ok@example.com"]


async def test_failing_row_does_not_stop_others(irefer_emulator: Any) -> None:
    """A duplicate signup fails with the API's error; the rest go through."""
    await irefer_emulator.client.new_signup("dup@example.com")
    rows = [{"email": "x@example.com"}, {"email": "dup@example.com"}, {"email": "y@example.com"}]
    async with irefer_emulator.client.bulk_new_signups(rows, ordered=True) as run:
        outcomes = [o async for o in run]
    assert [o.status for o in outcomes] == [BulkStatus.OK, BulkStatus.FAILED, BulkStatus.OK]
    assert isinstance(outcomes[1].error, APIError)
    assert outcomes[1].result is None
    assert run.summary.failed == 1


async def test_async_iterable_input(irefer_emulator: Any) -> None:
    """An async generator is read lazily and closed at the end."""
    closed = []

    async def gen() -> AsyncIterator[dict[str, str]]:
        try:
            for i in range(30):
                await asyncio.sleep(0)
                yield {"email": f"g{i}@example.com"}
        finally:
            closed.append(True)

    async with irefer_emulator.client.bulk_new_signups(gen(), concurrency=5) as run:
        outcomes = [o async for o in run]
    assert sorted(o.index for o in outcomes) == list(range(30))
    assert all(o.ok for o in outcomes)
    assert closed == [True]


async def test_specific_actions(irefer_emulator: Any) -> None:
    """bulk_new_specific_actions sends each action; keys are external_id|action."""
    client = irefer_emulator.client
    ann = await client.new_signup("ann@example.com")
    code = ann.referral_link.rstrip("/").rsplit("/", 1)[-1].rsplit("=", 1)[-1]
    participant = irefer_emulator.emulator.participant("ann@example.com")
    code = participant.code
    rows = [NewSpecificActionRequest(f"p{i}@example.com", "/dashboard", code) for i in range(10)]
    rows_any: list[Any] = [*rows, {"external_id": "q@example.com", "action": "/dashboard"}]
    async with client.bulk_new_specific_actions(rows_any, ordered=True) as run:
        outcomes = [o async for o in run]
    assert [o.status for o in outcomes[:10]] == [BulkStatus.OK] * 10
    assert isinstance(outcomes[0].result, NewSpecificAction)
    assert outcomes[0].key == "p0@example.com|/dashboard"
    assert outcomes[10].status is BulkStatus.INVALID  # referrer_code missing
    assert len(irefer_emulator.emulator.snapshot()["campaigns"][0]["actions"]) == 10


async def test_ordered_yields_in_input_order() -> None:
    """With ordered=True a slow early row holds back later ones, which still run."""
    client = FakeClient(delay=lambda e: 0.05 if e == "user0@example.com" else 0)
    run = BulkRun(_emails(40), client=client, method="newSignup", concurrency=4, ordered=True)
    async with run:
        indexes = [o.index async for o in run]
    assert indexes == list(range(40))


async def test_unordered_does_not_wait_for_slow_rows() -> None:
    """Without ordering the slow first row comes out last."""
    client = FakeClient(delay=lambda e: 0.05 if e == "user0@example.com" else 0)
    run = BulkRun(_emails(20), client=client, method="newSignup", concurrency=4)
    async with run:
        indexes = [o.index async for o in run]
    assert indexes[-1] == 0
    assert sorted(indexes) == list(range(20))


@pytest.mark.parametrize("ordered", [False, True])
async def test_memory_is_bounded(ordered: bool) -> None:
    """Rows taken but not yet yielded never exceed concurrency + window, however slow the consumer."""
    taken = 0

    def rows() -> Iterator[NewSignupRequest]:
        nonlocal taken
        for i in range(2000):
            taken += 1
            yield NewSignupRequest(f"u{i}@example.com")

    client = FakeClient(delay=lambda e: 0.01 if e == "u5@example.com" else 0)
    run = BulkRun(rows(), client=client, method="newSignup", concurrency=8, ordered=ordered)
    worst = 0
    yielded = 0
    async with run:
        async for _ in run:
            yielded += 1
            worst = max(worst, taken - yielded)
            if yielded % 100 == 0:
                await asyncio.sleep(0.001)
    assert yielded == 2000
    assert worst <= 8 + 16


async def test_status_unknown_for_write_outcome_unknown() -> None:
    """WriteOutcomeUnknownError becomes status unknown."""
    boom = WriteOutcomeUnknownError(
        method="newSignup",
        params={},
        last_error=APIError("x", None, method="newSignup"),
        reconcile_error=None,
    )
    client = FakeClient(fail=lambda e: boom if e == "user1@example.com" else None)
    async with BulkRun(
        _emails(3), client=client, method="newSignup", concurrency=4, ordered=True
    ) as run:
        statuses = [o.status async for o in run]
    assert statuses == [BulkStatus.OK, BulkStatus.UNKNOWN, BulkStatus.OK]
    assert run.summary.unknown == 1


async def test_break_stops_sending_and_leaves_no_task() -> None:
    """Leaving the block early cancels in-flight rows (status unknown) and stops sending."""
    client = FakeClient(delay=lambda e: 0 if e.endswith("0@example.com") else 10)
    run = BulkRun(_emails(1_000_000), client=client, method="newSignup", concurrency=4)
    async with run:
        async for outcome in run:
            assert outcome.index == 0
            break
    assert _no_other_tasks()
    sent = len(client.sent)
    assert sent < 20
    leftover = run.undelivered
    assert leftover
    assert all(o.status is BulkStatus.UNKNOWN for o in leftover if o.error is not None and not o.ok)
    unknown = [o for o in leftover if o.status is BulkStatus.UNKNOWN]
    assert len(unknown) == sent - 1 - sum(1 for o in leftover if o.ok)
    assert isinstance(unknown[0].error, WriteOutcomeUnknownError)
    assert run.summary.interrupted
    assert run.summary.total == sent


async def test_cancelling_the_consumer_cleans_up() -> None:
    """Cancelling the task that iterates leaves no worker behind."""
    client = FakeClient(delay=lambda e: 10)

    async def consume() -> None:
        async with BulkRun(_emails(100), client=client, method="newSignup", concurrency=3) as run:
            async for _ in run:
                pass

    task = asyncio.create_task(consume())
    while len(client.sent) < 3:  # noqa: ASYNC110 - polls a plain list, no event to wait on
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _no_other_tasks()
    assert len(client.sent) == 3


@pytest.mark.parametrize("ordered", [True, False])
async def test_aclose_from_another_task_ends_the_waiting_consumer(ordered: bool) -> None:
    """aclose while the consumer waits in ``async for``: its iteration ends, rows accounted for."""
    client = FakeClient(delay=lambda e: 10)
    run = BulkRun(_emails(100), client=client, method="newSignup", concurrency=3, ordered=ordered)
    seen: list[BulkOutcome[Any, Any]] = []

    async def consume() -> None:
        async with run:
            async for outcome in run:
                seen.append(outcome)

    task = asyncio.create_task(consume())
    while len(client.sent) < 3:  # noqa: ASYNC110 - polls a plain list, no event to wait on
        await asyncio.sleep(0)
    await run.aclose()
    await asyncio.wait_for(task, timeout=5)
    assert _no_other_tasks()
    assert seen == []
    assert [o.index for o in run.undelivered] == [0, 1, 2]
    assert all(o.status is BulkStatus.UNKNOWN for o in run.undelivered)
    assert run.summary.total == 3
    assert run.summary.interrupted


async def test_stop_finishes_in_flight_rows() -> None:
    """stop() takes no new row but still yields those in flight."""
    client = FakeClient(delay=lambda e: 0.01)
    run = BulkRun(_emails(1000), client=client, method="newSignup", concurrency=4)
    seen: list[BulkOutcome[Any, Any]] = []
    async with run:
        async for outcome in run:
            seen.append(outcome)
            run.stop()
    assert len(seen) == len(client.sent)
    assert len(seen) <= 4 + 4
    assert run.undelivered == ()
    assert run.summary.interrupted


async def test_unexpected_exception_ends_the_run() -> None:
    """A non-IReferError from a row is a bug: it propagates and every worker is stopped."""
    client = FakeClient(fail=lambda e: RuntimeError("bug") if e == "user3@example.com" else None)
    with pytest.raises(RuntimeError, match="bug"):
        await _drain(BulkRun(_emails(100), client=client, method="newSignup", concurrency=2))
    assert _no_other_tasks()


async def test_failing_input_iterator_propagates() -> None:
    """An error raised by the input iterator ends the run with that error."""

    def rows() -> Iterator[NewSignupRequest]:
        yield NewSignupRequest("a@example.com")
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        await _drain(BulkRun(rows(), client=FakeClient(), method="newSignup", concurrency=4))
    assert _no_other_tasks()


async def test_concurrency_is_validated(irefer_emulator: Any) -> None:
    """concurrency must be a positive integer."""
    with pytest.raises(ValueError, match="concurrency"):
        irefer_emulator.client.bulk_new_signups([], concurrency=0)


async def test_empty_input(irefer_emulator: Any) -> None:
    """No rows: no outcome, a zero summary."""
    async with irefer_emulator.client.bulk_new_signups([]) as run:
        assert [o async for o in run] == []
    assert run.summary.total == 0


@pytest.mark.parametrize(
    "n",
    [
        pytest.param(2_000, id="2k"),
        pytest.param(100_000, id="100k", marks=pytest.mark.slow),  # ~20 s on a loaded machine
    ],
)
async def test_streams_100k_rows(irefer_emulator: Any, n: int) -> None:
    """Rows from a generator, in-process: read lazily (bounded ahead of the consumer), every
    row accounted for, exactly once. The 2k variant runs by default, 100k under `nox -s long`."""
    concurrency = 16
    client = irefer_emulator.new_client(max_concurrency=None)
    seen = bytearray(n)
    taken = yielded = worst = 0

    def rows() -> Iterator[dict[str, str]]:
        nonlocal taken
        for i in range(n):
            taken += 1
            yield {"email": f"u{i}@example.com"}

    started = time.perf_counter()
    async with client, client.bulk_new_signups(rows(), concurrency=concurrency) as run:
        async for outcome in run:
            assert outcome.ok, outcome.error
            seen[outcome.index] += 1
            yielded += 1
            worst = max(worst, taken - yielded)
            if yielded % 100 == 0:
                await asyncio.sleep(0)  # a consumer that lets the producer run ahead if it can
    assert seen == bytearray([1]) * n
    assert run.summary.ok == n
    assert len(irefer_emulator.emulator.journal) == n
    assert worst <= concurrency + 2 * concurrency  # concurrency + the default window
    print(f"{n} rows in {time.perf_counter() - started:.1f}s, at most {worst} rows ahead")


async def test_fully_consumed_without_context_manager() -> None:
    """Iterating to the end without ``async with`` also leaves no task behind."""
    run = BulkRun(_emails(50), client=FakeClient(), method="newSignup", concurrency=5)
    assert len([o async for o in run]) == 50
    assert _no_other_tasks()
    assert run.summary.ok == 50
    assert [o async for o in run] == []


async def test_ordered_async_input_with_stop() -> None:
    """ordered=True over an async iterable; stop() ends it after the rows in flight."""

    async def gen() -> AsyncIterator[NewSignupRequest]:
        for i in range(1000):
            yield NewSignupRequest(f"a{i}@example.com")

    client = FakeClient(delay=lambda e: 0.001)
    run = BulkRun(gen(), client=client, method="newSignup", concurrency=4, ordered=True)
    indexes = []
    async with run:
        async for outcome in run:
            indexes.append(outcome.index)
            if outcome.index == 10:
                run.stop()
    assert indexes == list(range(len(indexes)))
    assert len(indexes) == len(client.sent)
    assert len(indexes) < 40
    assert _no_other_tasks()


def test_the_printed_summary_shows_the_rate() -> None:
    """print(run.summary) shows the counts, elapsed and the rate, as docs/concepts/bulk.md says."""
    summary = BulkSummary(total=10, ok=8, failed=1, unknown=0, invalid=1, elapsed=2.0)
    text = str(summary)
    assert text == (
        "BulkSummary(total=10, ok=8, failed=1, unknown=0, invalid=1, elapsed=2.000, "
        "rate=4.5, interrupted=False)"
    )
    assert repr(summary) == text
