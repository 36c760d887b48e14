"""Held rows (an ambiguous write waiting out its settle window), rounds and credits.

A client double plays write safety's part: a row's attempt fails ambiguously (`HeldWrite`),
the run keeps it, a round decides it (not landed) and the run resends it. All on a
virtual-time loop, so the in-flight counts and finishing times are exact. Then the same
promises through a real client, against the emulator and a raw server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import API_KEY, LICENSE_KEY
from misbehaving_server import misbehaving
from slow_server import SlowServer

import irefer_async as ia
from irefer_async import BulkStatus, NewSignup, NewSignupRequest, _bulk
from irefer_async._bulk import BulkRun
from irefer_async._deadline import Deadline, deadline_scope
from irefer_async._match import RowMatcher
from irefer_async._settle import Board, Scan
from irefer_async._write_safety import HeldWrite
from irefer_async.testing import Emulator, WriteEffect

CONCURRENCY = 4
#: Credits of a run at this concurrency (the default window is 2 x concurrency, at least 8).
CREDITS = CONCURRENCY + max(2 * CONCURRENCY, 8)
SETTLE = 10.0
SEND = 1.0


class HoldingClient:
    """Rows below ``held`` fail ambiguously (held for ``SETTLE``), are proven not landed by a
    round, then resent; a client double for the bulk engine (its two plain methods)."""

    def __init__(self, held: int, times: int = 1) -> None:
        self.held = held
        self.times = times  # how many times such a row fails ambiguously (each resend but the last)
        self.failures: dict[int, int] = {}
        self.active = 0  # sends in flight (held rows are not sending)
        self.most_active = 0
        self.finished: dict[int, float] = {}
        self.settled_at: list[float] = []  # when each held row was decided

    async def _sending(self) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(SEND)
        finally:
            self.active -= 1

    async def _bulk_attempt(self, endpoint: Any, request: NewSignupRequest, held: Any) -> NewSignup:
        loop = asyncio.get_running_loop()
        index = int(request.email.split("@")[0][1:])
        failed = self.failures.get(index, 0)
        if index < self.held and failed < self.times:
            self.failures[index] = failed + 1
            if failed:
                await self._sending()  # a resend that fails ambiguously too
            else:
                await asyncio.sleep(0)  # the first attempt fails ambiguously at once
            failure = ia.TransportError("lost", method="newSignup")
            raise HeldWrite(failure, loop.time() + SETTLE, state=None)  # type: ignore[arg-type]
        await self._sending()  # the send (a resend for a held row)
        self.finished[index] = loop.time()
        return NewSignup(campaign_name="c", email=request.email, confirmed=False, referral_link="x")

    async def _bulk_settle(self, held: HeldWrite) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(held.not_before - loop.time())  # the settled scan: not landed
        self.settled_at.append(loop.time())


class Rows:
    """The input, counting the rows taken from it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.taken = 0

    def __iter__(self) -> Iterator[NewSignupRequest]:
        for i in range(self.n):
            self.taken += 1
            yield NewSignupRequest(f"u{i}@example.com")


async def _run(sender: HoldingClient, rows: Rows, *, ordered: bool) -> tuple[list[Any], int, float]:
    """Drain a run; return the outcomes, the most rows held (taken, not yielded), the end."""
    outcomes: list[Any] = []
    held = 0
    async with BulkRun(
        rows, client=sender, method="newSignup", concurrency=CONCURRENCY, ordered=ordered
    ) as run:
        async for outcome in run:
            outcomes.append(outcome)
            held = max(held, rows.taken - len(outcomes))
    return outcomes, held, asyncio.get_running_loop().time()


@pytest.mark.virtual_time
async def test_held_rows_do_not_starve_the_others_of_credits() -> None:
    """40 rows held (more than the 12 credits): the others still run 4 at a time, and one
    round decides the 40 at once when their window ends.

    Once, each waiting row kept its credit: once 12 waited no row could be taken until their
    settle window ended, and the 200 sends took 73 s instead of the 50 s that 4 at a time allow.
    """
    sender = HoldingClient(held=40)
    rows = Rows(200)

    async def go() -> tuple[list[Any], int, float, float]:
        start = asyncio.get_running_loop().time()
        outcomes, held, end = await _run(sender, rows, ordered=False)
        return outcomes, held, start, end

    outcomes, held, start, end = await go()
    assert sorted(o.index for o in outcomes) == list(range(200))
    assert all(o.status is BulkStatus.OK for o in outcomes)
    # Full concurrency all along, never more: 200 sends x 1 s / 4 at a time = 50 s.
    assert sender.most_active == CONCURRENCY
    assert end - start == pytest.approx(200 * SEND / CONCURRENCY)
    # The held rows' resends went first once their window ended: 40 / 4 x 1 s after it.
    resent_by = max(sender.finished[i] for i in range(40)) - start
    assert resent_by == pytest.approx(SETTLE + 40 * SEND / CONCURRENCY, abs=SEND)
    # Memory: the credits plus the held rows (each holding no credit), never more.
    assert held <= CREDITS + 40
    # One round decided the 40 at once, when their window ended.
    assert sender.settled_at == [pytest.approx(start + SETTLE)] * 40


@pytest.mark.virtual_time
async def test_a_row_held_again_goes_back_to_the_rounds() -> None:
    """A resend that fails ambiguously too is held a second time (decided by a later round):
    its turn goes back again, so the other rows still keep 4 sends in flight."""
    sender = HoldingClient(held=40, times=2)
    rows = Rows(200)

    async def go() -> tuple[list[Any], float, float]:
        start = asyncio.get_running_loop().time()
        outcomes, _, end = await _run(sender, rows, ordered=False)
        return outcomes, start, end

    outcomes, start, end = await go()
    assert sorted(o.index for o in outcomes) == list(range(200))
    assert sender.most_active == CONCURRENCY
    # 160 sends + 40 x 2 resends, 4 at a time: 60 s, no turn left idle in a settle window.
    assert end - start == pytest.approx(240 * SEND / CONCURRENCY)


@pytest.mark.virtual_time
async def test_an_ordered_run_keeps_order_and_its_credit_bound() -> None:
    """ordered=True: held rows keep their credits (they are the reorder window too)."""
    sender = HoldingClient(held=40)
    rows = Rows(200)
    outcomes, held, _ = await _run(sender, rows, ordered=True)
    assert [o.index for o in outcomes] == list(range(200))
    assert held <= CREDITS
    assert sender.most_active <= CONCURRENCY


@pytest.mark.virtual_time
async def test_released_held_rows_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``HELD_PER_WORKER`` x concurrency held rows, a held row keeps its credit."""
    monkeypatch.setattr(_bulk, "HELD_PER_WORKER", 2)
    sender = HoldingClient(held=40)
    rows = Rows(200)
    outcomes, held, _ = await _run(sender, rows, ordered=False)
    assert sorted(o.index for o in outcomes) == list(range(200))
    assert held <= CREDITS + 2 * CONCURRENCY
    assert held > CREDITS  # the 8 released ones were used


@pytest.mark.virtual_time
async def test_closing_a_run_with_held_rows_accounts_for_every_row() -> None:
    """aclose() while rows are held: each one is an undelivered unknown, none is lost."""
    sender = HoldingClient(held=40)
    rows = Rows(200)

    async def go() -> tuple[list[Any], Any]:
        yielded: list[Any] = []
        run = BulkRun(rows, client=sender, method="newSignup", concurrency=CONCURRENCY)
        async with run:
            async for outcome in run:
                yielded.append(outcome)
                if len(yielded) == 20:
                    break
        return yielded, run

    yielded, run = await go()
    undelivered = run.undelivered
    indexes = [o.index for o in yielded] + [o.index for o in undelivered]
    assert sorted(indexes) == list(range(rows.taken))
    held = [o for o in undelivered if o.index < 40]
    assert len(held) == 40 and all(o.status is BulkStatus.UNKNOWN for o in held)
    assert run.summary.total == rows.taken


@pytest.mark.virtual_time
async def test_a_held_row_cut_off_names_the_request_sent_even_if_its_mapping_changed() -> None:
    """A source reusing one dict per row: a held row (or one sending) closed undecided is
    reported as the write it sent, not as whatever its mapping holds by then."""
    sender = HoldingClient(held=1)
    reused: dict[str, str] = {}

    def rows() -> Iterator[dict[str, str]]:
        for i in range(30):
            reused.clear()
            reused["email"] = f"u{i}@example.com"
            yield reused

    async def go() -> Any:
        run = BulkRun(rows(), client=sender, method="newSignup", concurrency=CONCURRENCY)
        async with run:
            async for outcome in run:
                if outcome.index == 3:
                    break
        return run

    run = await go()
    (held,) = [o for o in run.undelivered if o.index == 0]
    assert held.status is BulkStatus.UNKNOWN
    assert held.key == "u0@example.com" and held.request.email == "u0@example.com"
    assert held.error.params["email"] == "u0@example.com"
    # The rows cut off while sending, too: each names its own write.
    unknown = [o for o in run.undelivered if o.status is BulkStatus.UNKNOWN]
    assert len(unknown) > 1
    assert all(o.key == o.request.email == f"u{o.index}@example.com" for o in unknown)


@pytest.mark.virtual_time
async def test_through_the_client_fresh_rows_are_not_held_behind_ambiguous_ones() -> None:
    """40 of 200 actions fail ambiguously, 20 of them before processing (more than the 12
    credits): the 160 others are all sent before the held rows' settle window ends; every
    row once, no landed write resent."""
    emulator = Emulator(seed=1)
    code = emulator.add_participant("ref@example.com").code
    kinds = ["http_5xx_before", "drop_before", "drop_after", "timeout_after"]
    emulator.inject_faults(kinds * 10, method="newSpecificAction")
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=SETTLE)

    async def go() -> list[Any]:
        rows = (ia.NewSpecificActionRequest(f"ext-{i}", "/dashboard", code) for i in range(200))
        async with (
            emulator.client(retry=retry, max_concurrency=CONCURRENCY) as client,
            client.bulk_new_specific_actions(rows, concurrency=CONCURRENCY) as run,
        ):
            return [outcome async for outcome in run]

    outcomes = await go()
    assert sorted(o.index for o in outcomes) == list(range(200))
    assert all(o.status is BulkStatus.OK for o in outcomes)
    writes = emulator.journal.entries("newSpecificAction")
    first = writes[0].at
    faulted = {e.params["external_id"] for e in writes[:40]}
    fresh = [e for e in writes if e.params["external_id"] not in faulted]
    assert len(fresh) == 160 and max(e.at for e in fresh) < first + SETTLE
    # Only the 20 that failed before processing were resent, after their window.
    resent = writes[200:]
    assert len(writes) == 220
    assert {e.params["external_id"] for e in resent} == {f"ext-{i}" for i in range(40) if i % 4 < 2}
    assert min(e.at for e in resent) >= first + SETTLE
    assert emulator.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0
    actions = emulator.snapshot()["campaigns"][0]["actions"]
    assert len({a["referred_person"] for a in actions}) == len(actions) == 200
    # The 40 were reconciled by shared scans, not one read each.
    assert len(emulator.journal.entries("specificActionSignups")) <= 20


@pytest.mark.virtual_time
@pytest.mark.parametrize("concurrency", [1, 2, 4])
async def test_a_slow_async_source_does_not_hold_the_turn_a_held_row_resends_with(
    concurrency: int,
) -> None:
    """Workers waiting for the next row of an async source hold no turn to send: a row
    held after a 5xx before processing is resent when its settle window ends, not cut by
    its deadline while the source is quiet (the turn was once taken before the row)."""
    emulator = Emulator(seed=1)
    code = emulator.add_participant("ref@example.com").code
    emulator.inject_faults(["http_5xx_before"], method="newSpecificAction")
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=1.0, deadline=30)

    async def rows() -> Any:
        yield ia.NewSpecificActionRequest("ext-0", "/dashboard", code)
        await asyncio.sleep(100)  # a quiet source: a queue, a cursor over the network...
        yield ia.NewSpecificActionRequest("ext-1", "/dashboard", code)

    async def go() -> list[tuple[float, Any]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with (
            emulator.client(retry=retry) as client,
            client.bulk_new_specific_actions(rows(), concurrency=concurrency) as run,
        ):
            return [(loop.time() - start, outcome) async for outcome in run]

    outcomes = await go()
    assert [(o.index, o.status) for _, o in outcomes] == [(0, BulkStatus.OK), (1, BulkStatus.OK)]
    assert outcomes[0][0] < 30  # resent after its window, long before its deadline
    sent = [e.params["external_id"] for e in emulator.journal.entries("newSpecificAction")]
    assert sent == ["ext-0", "ext-0", "ext-1"]


async def test_against_a_raw_server_fresh_rows_go_first_and_nothing_lands_twice() -> None:
    """A server unlike the emulator (raw asyncio, real time): its first 12 writes fail before
    processing; with 2 workers (10 credits) the 28 others are processed before any resend."""
    async with SlowServer() as server:
        server.fail_before["newSpecificAction"] = 12
        retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=10, settle=0.6)
        options: dict[str, Any] = {"campaign_id": 2605, "base_url": server.base_url}
        async with ia.IReferClient(
            LICENSE_KEY, API_KEY, retry=retry, rate_limit=None, max_concurrency=None, **options
        ) as client:
            rows = (ia.NewSpecificActionRequest(f"ext-{i}", "/d", "C") for i in range(40))
            async with client.bulk_new_specific_actions(rows, concurrency=2) as run:
                outcomes = [outcome async for outcome in run]
    assert sorted(o.index for o in outcomes) == list(range(40))
    assert all(o.status is BulkStatus.OK for o in outcomes)
    order = [a["referred_person"] for a in server.actions]
    assert len(order) == len(set(order)) == 40
    assert set(order[:28]) == {f"ext-{i}" for i in range(12, 40)}
    assert server.requests["newSpecificAction"] == 52


@pytest.mark.virtual_time
async def test_settled_scans_take_at_most_about_a_quarter_of_the_time() -> None:
    """Writes falling due all the time, each scan taking 1 s: scans are paced SETTLED_GAP
    scan durations apart (at most ~25% of the time, early scans ~10% more), every lookup is
    still answered within its window plus a few scan durations."""
    scan_seconds = 1.0

    async def scan(found: Scan) -> None:
        await asyncio.sleep(scan_seconds)
        found.loop_time = asyncio.get_running_loop().time()

    board = Board(scan, [lambda: RowMatcher(("id",))])
    waits: list[float] = []

    async def write(number: int) -> None:
        loop = asyncio.get_running_loop()
        ended = loop.time()
        assert await board.lookup((0, (str(number),)), ended + 0.5) is None
        waits.append(loop.time() - ended)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        writes = []
        for number in range(1000):  # a write failing ambiguously every 0.1 s for 100 s
            writes.append(asyncio.ensure_future(write(number)))
            await asyncio.sleep(0.1)
        await asyncio.gather(*writes)
        return loop.time() - started

    elapsed = await go()
    assert len(waits) == 1000
    assert board.scan_time / elapsed <= 0.35  # it was ~0.5 with scans one duration apart
    assert max(waits) <= 0.5 + 5 * scan_seconds


@pytest.mark.virtual_time
async def test_a_settled_scan_comes_sooner_for_a_lookup_near_its_deadline() -> None:
    """Scans paced 3 s apart (1 s each), but a write whose deadline ends 2.5 s after the last
    scan gets a settled scan in time: "not landed", not a deadline error."""
    scan_seconds = 1.0

    async def scan(found: Scan) -> None:
        await asyncio.sleep(scan_seconds)
        found.loop_time = asyncio.get_running_loop().time()

    board = Board(scan, [lambda: RowMatcher(("id",))])

    async def go() -> Any:
        loop = asyncio.get_running_loop()
        assert await board.lookup((0, ("a",)), loop.time()) is None  # one scan: paced after it
        with deadline_scope(Deadline.after(2.5)):
            return await board.lookup((0, ("b",)), loop.time() + 0.1)

    assert await go() is None


@pytest.mark.virtual_time
async def test_rows_waiting_at_once_are_decided_by_one_scan_per_round() -> None:
    """20 actions fail ambiguously at once (10 landed behind a dropped answer, 10 refused by a
    5xx before processing), and the 10 resends fail before processing again: each scan
    decides every row waiting then, so two ``specificActionSignups`` reads per batch however
    many rows wait; nothing lands twice."""
    emulator = Emulator(seed=1)
    code = emulator.add_participant("ref@example.com").code
    emulator.inject_faults(
        ["drop_after"] * 10 + ["http_5xx_before"] * 20, method="newSpecificAction"
    )
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=SETTLE, deadline=60)

    async def go() -> list[Any]:
        rows = [ia.NewSpecificActionRequest(f"ext-{i}", "/dashboard", code) for i in range(20)]
        async with (
            emulator.client(retry=retry, max_concurrency=20, rate_limit=None) as client,
            client.bulk_new_specific_actions(rows, concurrency=20) as run,
        ):
            return [outcome async for outcome in run]

    outcomes = await go()
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert all(o.status is BulkStatus.OK for o in outcomes)
    assert sum(o.result.reconciled for o in outcomes) == 10  # found by the first round
    writes = emulator.journal.entries("newSpecificAction")
    assert len(writes) == 20 + 10 + 10  # only the 10 refused were resent, twice
    # Per batch of rows waiting at once (20, then 10), one early scan (finds what landed) and
    # one settled scan (proves the rest not landed), whatever the number of rows.
    scans = emulator.journal.entries("specificActionSignups")
    assert len(scans) == 4
    first = writes[0].at
    assert scans[0].at < first + 1 and scans[1].at >= first + SETTLE
    assert scans[2].at < writes[29].at + 1 and scans[3].at >= writes[29].at + SETTLE
    assert emulator.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0
    actions = emulator.snapshot()["campaigns"][0]["actions"]
    assert len({a["referred_person"] for a in actions}) == len(actions) == 20


async def test_against_a_raw_server_a_write_landed_behind_a_dropped_answer_is_not_resent() -> None:
    """A raw server that does each action and drops its answer: a round's settled read finds
    the rows, so each is reported landed (reconciled) and sent exactly once."""
    async with misbehaving("drop_writes") as server:
        retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=10, settle=0.3)
        async with ia.IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            base_url=server.url,
            retry=retry,
            rate_limit=None,
            max_concurrency=None,
        ) as client:
            rows = [ia.NewSpecificActionRequest(f"ext-{i}", "/d", "C") for i in range(3)]
            async with client.bulk_new_specific_actions(rows, concurrency=3) as run:
                outcomes = [outcome async for outcome in run]
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.status is BulkStatus.OK and o.result.reconciled for o in outcomes)
    assert sorted(row["referred_person"] for row in server.rows) == ["ext-0", "ext-1", "ext-2"]
    # Three writes, never resent (a resend would list its row twice); at most one settled
    # read per row (real time: rows falling due a few ms apart may not share one).
    assert len(server.rows) == 3
    assert server.requests - 3 <= 3
