"""Exercise the public API for type checkers (mypy --strict, pyright); never run by pytest.

Every ``assert_type`` pins what a user's editor infers; a change of a public signature that
would break user code fails the typecheck session.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Literal

import httpx
from typing_extensions import assert_type

import irefer_async
import irefer_async.decoding
import irefer_async.doctor
import irefer_async.feed
from irefer_async import (
    APIError,
    BulkOutcome,
    BulkStatus,
    BulkSummary,
    CacheConfig,
    CampaignStats,
    DeadlineExceededError,
    IReferClient,
    IReferError,
    LeadSource,
    Limiter,
    ListStream,
    MalformedResponseError,
    NewSignup,
    NewSignupRequest,
    NewSpecificAction,
    NewSpecificActionRequest,
    QueueFullError,
    RateLimit,
    RateLimitedError,
    Referrer,
    ReferrerStats,
    RequestTimeoutError,
    RetryConfig,
    SpecificActionSignup,
    StreamInterruptedError,
    TriggeredReward,
    WriteOutcomeUnknownError,
    correlation_scope,
)
from irefer_async.hooks import CallEvent
from irefer_async.testing import (
    Disruption,
    Emulator,
    EmulatorFixture,
    EmulatorRequest,
    Outcome,
    WriteEffect,
)


class SharedLimiter:
    """A user-defined limiter: anything with ``async acquire()`` is a Limiter."""

    async def acquire(self) -> None:
        return None


def on_response(event: CallEvent) -> None:
    assert_type(event.kind, Literal["request", "response", "retry"])
    assert_type(event.correlation_id, str)
    assert_type(event.method, str)
    assert_type(event.campaign_id, int | None)
    assert_type(event.attempt, int)
    assert_type(event.status, int | None)
    assert_type(event.elapsed, float)
    assert_type(event.elapsed_ms, float)
    assert_type(event.headers, Mapping[str, str] | None)
    assert_type(event.error, IReferError | None)
    assert_type(event.queued, int)
    assert_type(event.waited, float)


async def on_retry(event: CallEvent) -> None:
    logging.getLogger(__name__).info("retrying %s", event.method)


def make_clients(http: httpx.AsyncClient) -> list[IReferClient]:
    limiter: Limiter = SharedLimiter()
    return [
        IReferClient(),
        IReferClient("W4qL" + "0" * 28, "key", campaign_id=2605),
        IReferClient(
            campaign_id="2605",
            base_url="https://api.irefer.io/v1.0/",
            timeout=httpx.Timeout(10.0, connect=5.0),
            retry=RetryConfig(attempts=3, wait_initial=0.1, deadline=5.0),
            rate_limit=RateLimit(10.0, burst=2),
            max_concurrency=8,
            event_hooks={"response": [on_response], "retry": [on_retry]},
        ),
        IReferClient(timeout=3.0, retry=None, rate_limit=limiter, max_concurrency=None),
        IReferClient(rate_limit=5, http_client=http),
        IReferClient(rate_limit=None, transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        IReferClient(
            retry=RetryConfig(deadline=1.0),
            share_reads=True,
            cache=CacheConfig(ttl=5.0, per_method={"campaignStats": 30.0}, max_entries=256),
            max_waiting=100,
        ),
    ]


async def endpoints(client: IReferClient) -> None:
    assert_type(await client.referrer_stats("ann@example.com"), ReferrerStats)
    assert_type(await client.campaign_stats(campaign_id=2605), CampaignStats)
    signup = await client.new_signup(
        "ann@example.com", name="Ann", source=LeadSource.TWITTER, referrer_code="abc"
    )
    assert_type(signup, NewSignup)
    assert_type(signup.reconciled, bool)
    assert_type(
        await client.new_specific_action("u-1", action="/dashboard", referrer_code="abc"),
        NewSpecificAction,
    )
    assert_type(await client.referrers(), tuple[Referrer, ...])
    assert_type(await client.rewards(), tuple[TriggeredReward, ...])
    actions = await client.specific_action_signups()
    assert_type(actions, tuple[SpecificActionSignup, ...])
    assert_type(client.campaign_id, int | None)
    assert_type(client.is_closed, bool)
    assert_type(client.waiting, int)
    assert_type(client.cache, CacheConfig | None)
    stats = await client.referrer_stats("ann@example.com")
    assert_type(stats.fetched_at, dt.datetime | None)


async def streamed_lists(client: IReferClient) -> None:
    """The iterators yield the models of the tuple calls; errors say how far they got."""
    stream = client.iter_referrers(campaign_id=2605)
    assert_type(stream, ListStream[Referrer])
    async with stream as referrers:
        async for referrer in referrers:
            assert_type(referrer, Referrer)
    assert_type(stream.delivered, int)
    assert_type(stream.bytes_read, int)
    async for reward in client.iter_rewards():
        assert_type(reward, TriggeredReward)
    async for action in client.iter_specific_action_signups():
        assert_type(action, SpecificActionSignup)
    try:
        await client.iter_referrers().aclose()
    except StreamInterruptedError as exc:
        assert_type(exc.delivered, int)
        assert_type(exc.reason, IReferError)
    except MalformedResponseError as exc:
        assert_type(exc.item, int | None)


async def endpoint_table(client: IReferClient) -> None:
    """The table's result types carry through the one funnel (a wrong one fails here)."""
    from irefer_async import _endpoints as ep

    read, write = client._read, client._write
    assert_type(await read(ep.REFERRER_STATS, None, {"email": "a@b.c"}), ReferrerStats)
    assert_type(await read(ep.CAMPAIGN_STATS, None, {}), CampaignStats)
    assert_type(await write(ep.NEW_SIGNUP, "2605", {"email": "a@b.c"}), NewSignup)
    assert_type(await write(ep.NEW_SPECIFIC_ACTION, None, {"external_id": "u"}), NewSpecificAction)
    assert_type(await read(ep.REFERRERS, None, {}), tuple[Referrer, ...])
    assert_type(await read(ep.REWARDS, None, {}), tuple[TriggeredReward, ...])
    assert_type(
        await read(ep.SPECIFIC_ACTION_SIGNUPS, "2605", {}), tuple[SpecificActionSignup, ...]
    )
    reconcile = ep.NEW_SIGNUP.reconcile
    if reconcile is not None:
        assert_type(reconcile.target({"email": "a@b.c"}), tuple[str, ...])


async def errors(client: IReferClient) -> None:
    try:
        await client.referrer_stats("ann@example.com")
    except APIError as exc:
        assert_type(exc.error_code, str | None)
    except RateLimitedError as exc:
        assert_type(exc.retry_after, float | None)
    except RequestTimeoutError as exc:
        assert_type(exc.phase, str)
    except WriteOutcomeUnknownError as exc:
        assert_type(exc.params, dict[str, str])
    except DeadlineExceededError as exc:
        assert_type(exc.sent, bool)
        assert_type(exc.waiting_for, str | None)
    except QueueFullError as exc:
        assert_type(exc.waiting, int)
    except IReferError as exc:
        assert_type(exc.correlation_id, str | None)
        assert_type(exc.attempts, int)
        assert_type(exc.method, str | None)


async def rows() -> AsyncIterator[NewSignupRequest]:
    yield NewSignupRequest(email="ann@example.com", name="Ann")


async def bulk(client: IReferClient) -> BulkSummary:
    async with client.bulk_new_signups(rows(), concurrency=4, ordered=True) as run:
        async for outcome in run:
            assert_type(outcome, BulkOutcome[NewSignupRequest, NewSignup])
            if outcome.status is BulkStatus.OK and outcome.result is not None:
                assert_type(outcome.result, NewSignup)
    mixed = [NewSpecificActionRequest(external_id="u-1", action="/a", referrer_code="c")]
    async with client.bulk_new_specific_actions(mixed) as actions:
        async for action in actions:
            assert_type(action.ok, bool)
    return run.summary


async def observability(client: IReferClient) -> str:
    with correlation_scope("req-1") as cid:
        assert_type(cid, str)
        await client.campaign_stats()
    return cid


async def emulator() -> None:
    emu = Emulator(seed=1)
    emu.inject_fault("http_5xx_after", method="newSignup", call=1)
    async with emu.client(event_hooks={"request": [on_response]}) as client:
        await client.new_signup("ann@example.com")
    assert_type(emu.journal.count(WriteEffect.PARTICIPANT_CREATED), int)
    async with emu.serve(port=0) as url:
        assert_type(url, str)


async def emulator_front(emu: Emulator) -> bytes:
    outcome = await emu.handle(EmulatorRequest("GET", "/v1.0/KEY.js/campaignStats", b"x=1"))
    assert_type(outcome, Outcome)
    assert_type(outcome.disruption, Disruption)
    assert_type(emu.may_delay, bool)
    return outcome.body


def fixture(env: EmulatorFixture) -> IReferClient:
    return env.client


def version() -> str:
    return irefer_async.__version__


async def reward_feed(client: IReferClient) -> int:
    async with irefer_async.feed.RewardFeed(
        client, store="feed.sqlite", types={"reward.triggered"}
    ) as feed:
        report = await feed.poll()
        assert_type(report, irefer_async.feed.PollReport)
        async for event in feed:
            assert_type(event.id, str)
            if isinstance(event, irefer_async.feed.RewardTriggered):
                assert_type(event.row, irefer_async.TriggeredReward)
            await feed.ack(event)
            break

    async def handler(event: irefer_async.feed.FeedEvent[object]) -> None:
        print(event.to_json())

    store = irefer_async.feed.SQLiteFeedStore("other.sqlite")
    async with irefer_async.feed.RewardFeed(client, store=store) as other:
        return await other.run(handler, once=True)


def receiver(body: bytes, headers: dict[str, str]) -> irefer_async.feed.FeedEvent[object]:
    secret = irefer_async.feed.generate_secret()
    assert_type(irefer_async.feed.verify_signature(body, headers, secret, tolerance=60), int)
    assert_type(irefer_async.feed.sign_payload(body, secret, msg_id="evt_1"), dict[str, str])
    return irefer_async.feed.event_from_json(body)


async def readiness() -> None:
    recorder = irefer_async.doctor.DriftRecorder()
    async with IReferClient(
        "W4qL" + "0" * 28, "key", campaign_id=2605, decode_observer=recorder
    ) as client:
        report = await irefer_async.doctor.probe_client(client, network=False, write_probe=None)
        assert_type(report, irefer_async.doctor.ProbeReport)
        assert_type(report.ok, bool)
        assert_type(report.exit_code, int)
        for check in report.checks:
            assert_type(check.status, irefer_async.doctor.CheckStatus)
            assert_type(check.summary, str)
        assert_type(client.decode_observer, irefer_async.decoding.DecodeObserver | None)
        for entry in recorder.entries(include_expected=False):
            assert_type(entry.kind, irefer_async.doctor.DriftKind)
            assert_type(entry.describe(), str)
    assert_type(Emulator(profile="2019").profile.gone, frozenset[str])


async def http_stacks() -> None:
    import httpx2

    assert_type(IReferClient("W4qL" + "0" * 28, "key", http_stack="httpx2"), IReferClient)
    async with httpx2.AsyncClient() as http:
        client = IReferClient("W4qL" + "0" * 28, "key", http_client=http, timeout=httpx2.Timeout(3))
        assert_type(client, IReferClient)
