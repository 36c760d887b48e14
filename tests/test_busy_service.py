"""Inside a busy service: the deadline covers the queue, identical reads share, a short cache.

Every test runs on the virtual-time loop (the ``virtual_time`` marker), over respx, on both
transports (respx intercepts the aiohttp transport too), so waits and deadlines are exact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from typing import Any

import httpx
import pytest
import respx
import samples
from helpers import BASE, make_client

from irefer_async import (
    APIError,
    CacheConfig,
    ConfigurationError,
    DeadlineExceededError,
    IReferClient,
    QueueFullError,
    RateLimit,
    RetryConfig,
    ServerError,
)
from irefer_async.hooks import CallEvent

# respx mocks the httpx stack; the aiohttp sender is native aiohttp (no httpx transport to
# intercept), and the deadline, queue and sharing logic is the request loop's, the same for
# every sender. The aiohttp sender's own behaviour is pinned over loopback
# (tests/test_aiohttp_transport.py, tests/test_busy_loopback.py).
TRANSPORTS = ["httpx"]
# One attempt's worth of retry config with a 3 s deadline, and no random waits.
DEADLINE_3S = RetryConfig(deadline=3.0, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


def _transport(name: str) -> dict[str, Any]:
    return {"transport": "aiohttp"} if name == "aiohttp" else {}


def _stats(email: str) -> dict[str, Any]:
    code = email.partition("@")[0]  # each participant their own referral code
    return dict(
        samples.REFERRER_STATS, email=email, referral_link=f"http://getirefer.com/?iref={code}"
    )


class Wire:
    """A respx route for referrerStats that answers after ``delay`` and records each request."""

    def __init__(self, mock: respx.MockRouter, *, delay: float = 0.0, status: int = 200) -> None:
        self.times: list[float] = []
        self.emails: list[str] = []
        self.delay = delay
        self.status = status
        mock.get("referrerStats").mock(side_effect=self._answer)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self.times.append(asyncio.get_running_loop().time())
        email = request.url.params["email"]
        self.emails.append(email)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return httpx.Response(self.status)
        return httpx.Response(200, json=_stats(email))


# -- the deadline covers the queue ---------------------------------------------------------


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_issue_60_calls_at_5_per_second_none_waits_past_its_deadline(name: str) -> None:
    """The issue's case: 60 calls, 5/s, 4 in flight, deadline 3 s: none ends after 3 s.

    The calls that can be served in time are; the others fail at once, never sent.
    """
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=0.05)

        async def main() -> list[tuple[float, object]]:
            loop = asyncio.get_running_loop()
            async with make_client(
                rate_limit=5.0, max_concurrency=4, retry=DEADLINE_3S, share_reads=False,
                **_transport(name),
            ) as client:  # fmt: skip

                async def one(i: int) -> tuple[float, object]:
                    start = loop.time()
                    try:
                        outcome: object = await client.referrer_stats(f"p{i}@example.com")
                    except DeadlineExceededError as exc:
                        outcome = exc
                    return loop.time() - start, outcome

                return await asyncio.gather(*(one(i) for i in range(60)))

        results = await main()
    served = [t for t, outcome in results if not isinstance(outcome, BaseException)]
    refused = [(t, o) for t, o in results if isinstance(o, DeadlineExceededError)]
    assert max(t for t, _ in results) <= 3.0 + 1e-6
    # 5/s for 3 s plus the burst: about 16 served, the rest refused, none lost.
    assert 14 <= len(served) <= 17
    assert len(served) + len(refused) == 60
    assert len(wire.times) == len(served)
    fast = [o for t, o in refused if t == 0.0]
    assert all(not o.sent and o.waiting_for == "rate limit" for o in fast)  # type: ignore[attr-defined]
    # None was sent. On Python 3.10 (the queue's wait bounded by wait_for, no timeout_at) a
    # slot granted exactly at the deadline wins over the timer: that call is refused right
    # after the queue, "before sending", naming no queue.
    assert all(not o.sent for _, o in refused)  # type: ignore[attr-defined]
    late = [o for _, o in refused if o.waiting_for != "rate limit"]  # type: ignore[attr-defined]
    assert all(o.waiting_for is None and "before sending" in str(o) for o in late)
    assert len(late) <= (1 if sys.version_info < (3, 11) else 0)
    # Fail fast: a call the rate cannot serve in time is refused at once, not at its deadline.
    assert sum(1 for t, _ in refused if t == 0.0) >= 40


async def _hold_slot(client: IReferClient, seconds: float) -> None:
    """Hold the client's only concurrency slot (a call cannot: its own deadline ends it)."""
    await client._throttle.acquire("referrerStats")
    try:
        await asyncio.sleep(seconds)
    finally:
        client._throttle.release()


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_queue_wait_counts_against_the_deadline(name: str) -> None:
    """A call queued behind a slow one for the concurrency slot gives up at its deadline."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock, delay=10.0)  # the first request holds the only slot for 10 s

        async def main() -> tuple[float, DeadlineExceededError]:
            loop = asyncio.get_running_loop()
            async with make_client(
                max_concurrency=1, retry=DEADLINE_3S, share_reads=False,
                timeout=30.0, **_transport(name),
            ) as client:  # fmt: skip
                first = asyncio.create_task(_hold_slot(client, 10.0))
                await asyncio.sleep(0.5)
                start = loop.time()
                with pytest.raises(DeadlineExceededError) as info:
                    await client.referrer_stats("b@example.com")
                waited = loop.time() - start
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
                return waited, info.value

        waited, error = await main()
    assert waited == pytest.approx(3.0)
    assert error.sent is False and error.waiting_for == "concurrency"
    assert error.maybe_processed is False
    assert error.attempts == 0  # refused by the throttle: no HTTP attempt was made


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_pause_past_the_deadline_fails_at_once(name: str) -> None:
    """After a 429 asking for 8 s, a call with a 3 s deadline is refused at once."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        mock.get("campaignStats").respond(429, headers={"Retry-After": "8"})
        route = Wire(mock)

        async def main() -> tuple[float, DeadlineExceededError]:
            loop = asyncio.get_running_loop()
            async with make_client(retry=None, **_transport(name)) as client:
                with pytest.raises(Exception):  # noqa: B017, PT011 - the 429 itself
                    await client.campaign_stats()
            async with make_client(retry=DEADLINE_3S, **_transport(name)) as client:
                client._throttle.pause(8.0)
                start = loop.time()
                with pytest.raises(DeadlineExceededError) as info:
                    await client.referrer_stats("a@example.com")
                return loop.time() - start, info.value

        waited, error = await main()
    assert waited < 1e-3  # at once, not at the deadline
    assert error.waiting_for == "pause" and error.sent is False
    assert route.times == []


@pytest.mark.virtual_time
async def test_a_pause_within_the_deadline_is_waited_out() -> None:
    """A 1 s pause under a 3 s deadline: the call waits, then is sent."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)

        async def main() -> float:
            async with make_client(retry=DEADLINE_3S) as client:
                client._throttle.pause(1.0)
                start = asyncio.get_running_loop().time()
                await client.referrer_stats("a@example.com")
                return wire.times[0] - start

        assert await main() == pytest.approx(1.0)


@pytest.mark.virtual_time
async def test_max_waiting_refuses_at_once_beyond_the_bound() -> None:
    """With max_waiting=3 and one slot busy, the 5th concurrent call is refused at once."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=1.0)

        async def main() -> list[object]:
            async with make_client(
                max_concurrency=1, max_waiting=3, retry=DEADLINE_3S, share_reads=False
            ) as client:
                return await asyncio.gather(
                    *(client.referrer_stats(f"p{i}@example.com") for i in range(5)),
                    return_exceptions=True,
                )

        results = await main()
    refused = [r for r in results if isinstance(r, QueueFullError)]
    assert len(refused) == 1
    assert refused[0].waiting == 3 and refused[0].maybe_processed is False
    assert len(wire.times) == 3  # 1 in flight + 2 more within the 3 s deadline; the 4th waited
    # The 4th waited past its deadline (never sent); the 3rd, sent at 2 s with its answer due
    # at 3 s, is cut by its own deadline mid-exchange (the hard deadline: sent=True).
    cut = [r for r in results if isinstance(r, DeadlineExceededError)]
    assert sorted(e.sent for e in cut) == [False, True]


def test_bad_max_waiting_and_cache_options_are_configuration_errors() -> None:
    """max_waiting, cache and share_reads are checked when the client is built."""
    with pytest.raises(ConfigurationError, match="max_waiting"):
        make_client(max_waiting=-1)
    with pytest.raises(ConfigurationError, match="cache"):
        make_client(cache={"ttl": 5})
    with pytest.raises(ConfigurationError, match="share_reads"):
        make_client(share_reads="yes")
    with pytest.raises(ConfigurationError, match="not a read"):
        CacheConfig(per_method={"newSignup": 5.0})
    with pytest.raises(ConfigurationError, match="ttl"):
        CacheConfig(ttl=-1)


# -- identical reads share one request ----------------------------------------------------


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_100_concurrent_identical_reads_send_one_request(name: str) -> None:
    """100 callers of referrer_stats("ann@...") at once: 1 request, 100 equal answers."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=0.2)

        async def main() -> list[Any]:
            async with make_client(**_transport(name)) as client:
                return await asyncio.gather(
                    *(client.referrer_stats("ann@example.com") for _ in range(100))
                )

        results = await main()
    assert len(wire.times) == 1
    assert len(results) == 100 and all(r == results[0] for r in results)


@pytest.mark.virtual_time
async def test_100_identical_reads_against_the_in_process_emulator_send_one_request() -> None:
    """The emulator's transport suspends once, as a socket does: the 99 others join the first."""
    from irefer_async.testing import Emulator

    async def main() -> int:
        emulator = Emulator()
        emulator.add_participant("ann@example.com")
        async with emulator.client() as client:
            await asyncio.gather(*(client.referrer_stats("ann@example.com") for _ in range(100)))
        return len(emulator.journal)

    assert await main() == 1


@pytest.mark.virtual_time
async def test_different_parameters_or_campaigns_do_not_share() -> None:
    """Same method, other email or campaign: separate requests."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=0.1)

        async def main() -> None:
            async with make_client() as client:
                await asyncio.gather(
                    client.referrer_stats("a@example.com"),
                    client.referrer_stats("b@example.com"),
                    client.referrer_stats("a@example.com", campaign_id=7),
                    client.referrer_stats("a@example.com"),
                )

        await main()
    assert sorted(wire.emails) == ["a@example.com", "a@example.com", "b@example.com"]


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_first_callers_cancellation_does_not_cancel_the_others(name: str) -> None:
    """The caller that started the shared request is cancelled; the others get the answer."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=1.0)

        async def main() -> list[Any]:
            async with make_client(**_transport(name)) as client:
                first = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.1)  # its request is on the wire
                others = [
                    asyncio.create_task(client.referrer_stats("ann@example.com")) for _ in range(3)
                ]
                await asyncio.sleep(0.1)
                first.cancel()
                results = await asyncio.gather(*others)
                with pytest.raises(asyncio.CancelledError):
                    await first
                return results

        results = await main()
    # The leader's request went with it; the first joiner sent it again: one more, no more.
    assert len(wire.times) == 2
    assert [r.email for r in results] == ["ann@example.com"] * 3


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_cancelled_leader_hands_over_to_its_two_joiners_for_one_extra_request(
    name: str,
) -> None:
    """Leader cancelled mid-request with 2 joiners: both answered, 2 requests on the wire."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=1.0)

        async def main() -> list[Any]:
            async with make_client(**_transport(name)) as client:
                leader = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.5)
                joiners = [
                    asyncio.create_task(client.referrer_stats("ann@example.com")) for _ in range(2)
                ]
                await asyncio.sleep(0.1)
                leader.cancel()
                results = await asyncio.gather(*joiners)
                assert leader.cancelled()
                assert len(client._flights) == 0  # type: ignore[arg-type]
                return results

        results = await main()
    assert len(wire.times) == 2
    assert wire.times[1] - wire.times[0] == pytest.approx(0.6, abs=0.01)  # sent at the hand-over
    assert [r.email for r in results] == ["ann@example.com"] * 2


@pytest.mark.virtual_time
async def test_a_cancelled_leader_nobody_joined_costs_no_extra_request() -> None:
    """Leader cancelled alone: 1 request, nothing left running, the next caller starts afresh."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=1.0)

        async def main() -> int:
            async with make_client() as client:
                leader = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.1)
                leader.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await leader
                assert len(client._flights) == 0  # type: ignore[arg-type]
                left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                return len(left)

        assert await main() == 0
    assert len(wire.times) == 1


@pytest.mark.virtual_time
async def test_a_new_leader_cancelled_before_it_runs_passes_the_work_on() -> None:
    """Leader and first joiner cancelled together: the second joiner leads and is answered."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=1.0)

        async def main() -> Any:
            async with make_client() as client:
                callers = [
                    asyncio.create_task(client.referrer_stats("ann@example.com")) for _ in range(3)
                ]
                await asyncio.sleep(0.1)
                callers[0].cancel()
                await asyncio.sleep(0)  # the leader hands over to callers[1] ...
                callers[1].cancel()  # ... which is cancelled before it can send
                result = await callers[2]
                for task in callers[:2]:
                    with pytest.raises(asyncio.CancelledError):
                        await task
                return result

        result = await main()
    assert result.email == "ann@example.com"
    assert len(wire.times) == 2  # the first leader's, then callers[2]'s


@pytest.mark.virtual_time
@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="3.10 has no asyncio.timeout_at: the deadline's wait_for runs every exchange in a task",
)
async def test_a_read_nobody_joins_runs_in_its_callers_task() -> None:
    """Sharing on, nothing to share: the request is sent from the caller's own task."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        senders: list[asyncio.Task[Any] | None] = []

        def answer(request: httpx.Request) -> httpx.Response:
            senders.append(asyncio.current_task())
            return httpx.Response(200, json=_stats("ann@example.com"))

        mock.get("referrerStats").mock(side_effect=answer)

        async def main() -> asyncio.Task[Any] | None:
            async with make_client() as client:
                await client.referrer_stats("ann@example.com")
                return asyncio.current_task()

        caller = await main()
    assert senders == [caller]


@pytest.mark.virtual_time
async def test_a_joiner_after_a_hand_over_still_stops_at_its_own_deadline() -> None:
    """The new leader has a later deadline than a remaining joiner: the joiner stops at its own."""
    from irefer_async._deadline import Deadline, deadline_scope

    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock, delay=5.0)

        async def main() -> tuple[float, DeadlineExceededError]:
            loop = asyncio.get_running_loop()
            async with make_client(retry=RetryConfig(deadline=30.0), timeout=60.0) as client:

                async def within(budget: float) -> None:
                    with deadline_scope(Deadline.after(budget)):
                        await client.referrer_stats("ann@example.com")

                leader = asyncio.create_task(within(1.5))
                await asyncio.sleep(0.1)
                heir = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.1)
                start = loop.time()
                # Later than the leader's deadline when it joins, earlier than the heir's.
                tight_task = asyncio.create_task(within(2.0))

                await asyncio.sleep(0.1)
                leader.cancel()  # heir leads now, under its 30 s deadline
                with pytest.raises(DeadlineExceededError) as info:
                    await tight_task
                waited = loop.time() - start
                await heir
                return waited, info.value

        waited, error = await main()
    assert waited == pytest.approx(2.0)
    assert error.sent is True  # the heir's request was on the wire


@pytest.mark.virtual_time
async def test_when_every_caller_is_cancelled_the_shared_request_is_too() -> None:
    """Nobody left to answer: the request task is cancelled, nothing outlives the callers."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock, delay=10.0)

        async def main() -> int:
            async with make_client() as client:
                callers = [
                    asyncio.create_task(client.referrer_stats("ann@example.com")) for _ in range(3)
                ]
                await asyncio.sleep(0.1)
                for task in callers:
                    task.cancel()
                await asyncio.gather(*callers, return_exceptions=True)
                left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                assert len(client._flights) == 0  # type: ignore[arg-type]
                return len(left)

        assert await main() == 0


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_shared_request_that_fails_fails_for_every_caller(name: str) -> None:
    """A 500 on every attempt: one request per attempt, each caller its own ServerError."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=0.1, status=500)

        async def main() -> list[BaseException]:
            async with make_client(retry=RetryConfig(attempts=2, wait_jitter=0), **_transport(name)) as client:  # fmt: skip
                return await asyncio.gather(
                    *(client.referrer_stats("ann@example.com") for _ in range(10)),
                    return_exceptions=True,
                )

        errors = await main()
    assert len(wire.times) == 2  # two attempts of ONE shared call, not 20
    assert all(isinstance(e, ServerError) for e in errors)
    assert len({id(e) for e in errors}) == 10  # own copies: tracebacks never shared
    assert {e.attempts for e in errors} == {2}  # type: ignore[attr-defined]
    assert len({e.correlation_id for e in errors}) == 1  # type: ignore[attr-defined]


@pytest.mark.virtual_time
async def test_api_error_is_shared_and_not_cached() -> None:
    """An APIError answer goes to every caller; the next read asks again."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        calls = 0

        async def unknown(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.1)  # in flight while the other callers arrive
            return httpx.Response(200, json={"error": "no", "error_code": "401"})

        mock.get("referrerStats").mock(side_effect=unknown)

        async def main() -> None:
            async with make_client(cache=CacheConfig(ttl=60)) as client:
                errors = await asyncio.gather(
                    *(client.referrer_stats("x@example.com") for _ in range(5)),
                    return_exceptions=True,
                )
                assert all(isinstance(e, APIError) for e in errors)
                with pytest.raises(APIError):
                    await client.referrer_stats("x@example.com")

        await main()
    assert calls == 2


@pytest.mark.virtual_time
async def test_sharing_can_be_turned_off() -> None:
    """share_reads=False: 10 identical concurrent reads, 10 requests."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=0.1)

        async def main() -> None:
            async with make_client(share_reads=False) as client:
                await asyncio.gather(*(client.referrer_stats("a@example.com") for _ in range(10)))

        await main()
    assert len(wire.times) == 10


@pytest.mark.virtual_time
async def test_writes_never_share() -> None:
    """Two identical signups at once are two requests (the second is the API's duplicate)."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        route = mock.get("newSignup").respond(json=samples.NEW_SIGNUP)

        async def main() -> None:
            async with make_client() as client:
                await asyncio.gather(client.new_signup("a@b.io"), client.new_signup("a@b.io"))

        await main()
    assert route.call_count == 2


@pytest.mark.virtual_time
async def test_a_late_joiner_with_an_earlier_deadline_stops_at_its_own() -> None:
    """A caller joining under a tighter deadline scope stops waiting at its deadline."""
    from irefer_async._deadline import Deadline, deadline_scope

    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock, delay=5.0)

        async def main() -> tuple[float, DeadlineExceededError]:
            loop = asyncio.get_running_loop()
            async with make_client(retry=RetryConfig(deadline=30.0), timeout=60.0) as client:
                first = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.1)
                start = loop.time()
                with (
                    deadline_scope(Deadline.after(1.0)),
                    pytest.raises(DeadlineExceededError) as info,
                ):
                    await client.referrer_stats("ann@example.com")
                waited = loop.time() - start
                await first
                return waited, info.value

        waited, error = await main()
    assert waited == pytest.approx(1.0)
    assert error.sent is True  # the shared request was on the wire


# -- the cache -----------------------------------------------------------------------------


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_cache_answers_within_ttl_and_carries_fetched_at(name: str) -> None:
    """ttl=5: a read at +4 s is the cached answer (same fetched_at); at +6 s a new one."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)

        async def main() -> list[Any]:
            async with make_client(cache=CacheConfig(ttl=5.0), **_transport(name)) as client:
                first = await client.referrer_stats("ann@example.com")
                await asyncio.sleep(4.0)
                second = await client.referrer_stats("ann@example.com")
                await asyncio.sleep(2.0)
                third = await client.referrer_stats("ann@example.com")
                return [first, second, third]

        first, second, third = await main()
    assert len(wire.times) == 2
    assert second is first
    assert isinstance(first.fetched_at, dt.datetime) and first.fetched_at.tzinfo is not None
    assert third is not first and third == first  # equal answers: fetched_at is not compared


@pytest.mark.virtual_time
async def test_cache_is_off_by_default_and_lists_need_their_own_ttl() -> None:
    """No cache unless asked; ttl alone does not cache the lists."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)
        lists = mock.get("referrers").respond(json=[])

        async def main() -> None:
            async with make_client() as client:
                await client.referrer_stats("a@example.com")
                await client.referrer_stats("a@example.com")
                assert client.cache is None
            async with make_client(cache=CacheConfig(ttl=5.0)) as client:
                await client.referrers()
                await client.referrers()
            async with make_client(cache=CacheConfig(per_method={"referrers": 5.0})) as client:
                await client.referrers()
                await client.referrers()

        await main()
    assert len(wire.times) == 2
    assert lists.call_count == 3


@pytest.mark.virtual_time
async def test_cache_is_bounded() -> None:
    """max_entries=3: the least recently used answer is dropped first."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)

        async def main() -> None:
            async with make_client(cache=CacheConfig(ttl=60, max_entries=3)) as client:
                for email in ["a", "b", "c", "a", "d", "a", "b"]:
                    await client.referrer_stats(f"{email}@example.com")
                assert len(client._cache) == 3  # type: ignore[arg-type]

        await main()
    # a b c (miss x3), a (hit), d (miss, evicts b), a (hit), b (miss)
    assert wire.emails == [f"{e}@example.com" for e in "abcdb"]


@pytest.mark.virtual_time
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_signup_invalidates_campaign_stats_lists_and_the_referrers_stats(name: str) -> None:
    """After new_signup(referrer_code=ann's code): campaign stats, lists, Ann's stats re-read."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)
        campaign = mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
        referrers = mock.get("referrers").respond(json=[])
        mock.get("newSignup").respond(json=dict(samples.NEW_SIGNUP, referrer=None))
        config = CacheConfig(ttl=60.0, per_method={"referrers": 60.0})

        async def main() -> None:
            async with make_client(cache=config, **_transport(name)) as client:
                ann = await client.referrer_stats("ann@example.com")
                await client.referrer_stats("bob@example.com")
                await client.campaign_stats()
                await client.referrers()
                code = ann.referral_link.partition("iref=")[2]
                assert code
                await client.new_signup("new@example.com", referrer_code=code)
                for _ in range(2):
                    await client.referrer_stats("ann@example.com")
                    await client.referrer_stats("bob@example.com")
                    await client.campaign_stats()
                    await client.referrers()

        await main()
    assert wire.emails.count("ann@example.com") == 2  # re-read once after the signup
    assert wire.emails.count("bob@example.com") == 1  # not the referrer: still cached
    assert campaign.call_count == 2
    assert referrers.call_count == 2


@pytest.mark.virtual_time
async def test_a_signup_by_an_unknown_referrer_code_drops_every_referrer_stats() -> None:
    """The referrer is not in the cache: every cached referrerStats of the campaign goes."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)
        mock.get("newSignup").respond(json=dict(samples.NEW_SIGNUP, referrer=None))

        async def main() -> None:
            async with make_client(cache=CacheConfig(ttl=60.0)) as client:
                await client.referrer_stats("ann@example.com")
                await client.referrer_stats("bob@example.com", campaign_id=7)
                await client.new_signup("new@example.com", referrer_code="zzz")
                await client.referrer_stats("ann@example.com")
                await client.referrer_stats("bob@example.com", campaign_id=7)  # other campaign

        await main()
    assert wire.emails == ["ann@example.com", "bob@example.com", "ann@example.com"]


@pytest.mark.virtual_time
async def test_a_failed_write_invalidates_too() -> None:
    """A write that may have landed (a 500, then an ambiguous reconcile) still invalidates."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock)
        campaign = mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
        mock.get("newSignup").respond(json={"error": "bad", "error_code": "401"})

        async def main() -> None:
            async with make_client(cache=CacheConfig(ttl=60.0)) as client:
                await client.campaign_stats()
                with pytest.raises(APIError):
                    await client.new_signup("new@example.com")
                await client.campaign_stats()

        await main()
    assert campaign.call_count == 2
    assert wire.times == []


@pytest.mark.virtual_time
async def test_a_read_in_flight_during_a_write_is_not_cached_nor_joined() -> None:
    """A read that began before a write ended may predate it: not stored, not joined."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        wire = Wire(mock, delay=2.0)
        mock.get("newSignup").respond(json=dict(samples.NEW_SIGNUP, referrer="ann@example.com"))

        async def main() -> None:
            async with make_client(cache=CacheConfig(ttl=60.0)) as client:
                before = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.sleep(0.5)
                await client.new_signup("new@example.com")
                after = asyncio.create_task(client.referrer_stats("ann@example.com"))
                await asyncio.gather(before, after)
                await client.referrer_stats("ann@example.com")  # cached from `after`

        await main()
    assert wire.emails == ["ann@example.com", "ann@example.com"]


@pytest.mark.virtual_time
async def test_a_reconciling_read_is_never_answered_from_before_the_write() -> None:
    """The write's reconciling read ignores the cache: a stale 'not there' would resend."""
    row = {
        "id": "1", "campaign_id": "2605", "referrer_email": "ann@example.com",
        "referred_person": "x-1", "specific_action": "/dashboard",
        "created_at": "2026-11-30T10:00:00Z", "ip": "",
    }  # fmt: skip
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        listing = mock.get("specificActionSignups")
        listing.side_effect = [
            httpx.Response(200, json=[]),  # cached before the write
            httpx.Response(200, json=[row]),  # the truth after it: the action landed
        ]
        action = mock.get("newSpecificAction").respond(500)
        config = CacheConfig(per_method={"specificActionSignups": 60.0})

        async def main() -> None:
            async with make_client(
                cache=config, retry=RetryConfig(wait_initial=0, wait_jitter=0)
            ) as client:
                assert await client.specific_action_signups() == ()
                result = await client.new_specific_action(
                    "x-1", action="/dashboard", referrer_code="ann"
                )
                assert result.reconciled

        await main()
    assert action.call_count == 1  # found by a fresh read: never resent
    assert listing.call_count == 2


# -- pressure ------------------------------------------------------------------------------


@pytest.mark.virtual_time
async def test_queue_length_and_wait_reach_hooks_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Events carry the queue found and the wait; the INFO call line carries waited_ms."""
    events: list[CallEvent] = []
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock)

        async def main() -> int:
            async with make_client(
                rate_limit=RateLimit(2.0, burst=0), share_reads=False,
                event_hooks={"request": [events.append]},
            ) as client:  # fmt: skip
                calls = [
                    asyncio.create_task(client.referrer_stats(f"p{i}@example.com"))
                    for i in range(4)
                ]
                await asyncio.sleep(0)
                waiting = client.waiting
                await asyncio.gather(*calls)
                return waiting

        with caplog.at_level(logging.INFO, logger="irefer_async"):
            waiting = await main()
    assert waiting == 3
    assert [e.queued for e in events] == [0, 0, 1, 2]
    assert [e.waited for e in events] == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=1e-6)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("irefer call")]
    assert any("waited_ms=1500.0" in line for line in lines)
    assert all("@example.com" not in line for line in lines)  # metadata only


@pytest.mark.virtual_time
async def test_a_refused_call_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    """A call refused for its deadline ends with one INFO line: failed, attempts=0."""
    with respx.mock(using="httpx", base_url=BASE, assert_all_called=False) as mock:
        Wire(mock, delay=10.0)

        async def main() -> None:
            async with make_client(
                max_concurrency=1, retry=DEADLINE_3S, share_reads=False, timeout=30
            ) as client:
                first = asyncio.create_task(_hold_slot(client, 10.0))
                await asyncio.sleep(0.1)
                with pytest.raises(DeadlineExceededError):
                    await client.referrer_stats("b@example.com")
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)

        with caplog.at_level(logging.INFO, logger="irefer_async"):
            await main()
    lines = [r.getMessage() for r in caplog.records if "DeadlineExceededError" in r.getMessage()]
    assert len(lines) == 1 and "outcome=failed attempts=0" in lines[0]
