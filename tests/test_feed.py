"""The reward feed: events from diffing polls, deterministic ids, baseline, ack and redelivery."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from irefer_async import InvalidRequestError, Referrer, TriggeredReward
from irefer_async.feed import (
    FeedEvent,
    KnownParticipant,
    RewardFeed,
    SQLiteFeedStore,
    StoreLockedError,
    event_from_json,
)
from irefer_async.testing import CampaignSpec, Emulator, RewardSpec

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def _campaign() -> CampaignSpec:
    """One reward at every 2 referrals (EACHTIME) and one once at 3."""
    base = Emulator().default_campaign
    return CampaignSpec(
        id=base.id, name=base.name, license_key=base.license_key, api_key=base.api_key,
        rewards=(RewardSpec(2, "Coupon", delivery="EACHTIME"), RewardSpec(3, "Mug")),
        actions=base.actions,
    )  # fmt: skip


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=0, campaigns=[_campaign()])


def _feed(emulator: Emulator, path: Path, **kw: Any) -> RewardFeed:
    return RewardFeed(emulator.client(), store=path, clock=lambda: T0, **kw)


async def _drain(feed: RewardFeed, *, ack: bool = True) -> list[FeedEvent[Any]]:
    events = []
    while (event := await feed.next_event(poll=False)) is not None:
        events.append(event)
        if ack:
            await feed.ack(event)
    return events


async def _poll_and_drain(feed: RewardFeed) -> list[FeedEvent[Any]]:
    await feed.poll()
    return await _drain(feed)


def _types(events: list[FeedEvent[Any]]) -> list[str]:
    return [e.type for e in events]


async def test_first_poll_is_the_baseline_and_later_changes_are_events(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Rows present at the first poll give no event; a signup after it gives joined + credited."""
    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    async with _feed(emulator, tmp_path / "f.sqlite") as feed:
        report = await feed.poll()
        assert report.baseline and report.total_events == 0
        assert await _drain(feed) == []
        emulator.add_participant("cy@example.com", referrer_code=ann.code, source="t")
        events = await _poll_and_drain(feed)
    assert sorted(_types(events)) == [
        "participant.joined", "referral.credited", "reward.triggered"
    ]  # fmt: skip
    joined = next(e for e in events if e.type == "participant.joined")
    row = joined.row
    assert isinstance(row, Referrer)
    assert row.email == "cy@example.com" and row.referrer_email == "ann@example.com"
    assert str(row.source_network) == "t"
    credited = next(e for e in events if e.type == "referral.credited")
    assert credited.data == {"referrals_count": 2}
    reward = next(e for e in events if e.type == "reward.triggered").row
    assert isinstance(reward, TriggeredReward)
    assert (reward.recipient_email, reward.reward_heading) == ("ann@example.com", "Coupon")


async def test_replay_delivers_what_is_already_there(emulator: Emulator, tmp_path: Path) -> None:
    """With replay=True the first poll's rows are events: joins, each credit, the reward."""
    ann = emulator.add_participant("ann@example.com")
    for i in range(2):
        emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
    async with _feed(emulator, tmp_path / "f.sqlite", replay=True) as feed:
        events = await _poll_and_drain(feed)
    assert sorted(_types(events)) == (
        ["participant.joined"] * 3 + ["referral.credited"] * 2 + ["reward.triggered"]
    )


async def test_eachtime_reward_fires_at_every_multiple(emulator: Emulator, tmp_path: Path) -> None:
    """EACHTIME at 2 fires at 2, 4 and 6 referrals; the ONCE reward at 3 only: 4 events."""
    ann = emulator.add_participant("ann@example.com")
    async with _feed(emulator, tmp_path / "f.sqlite", types={"reward.triggered"}) as feed:
        await feed.poll()
        for i in range(6):
            emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
        events = await _poll_and_drain(feed)
    rewards = [(e.row.reward_heading, e.row.referrals_made) for e in events]
    assert sorted(rewards) == [("Coupon", 2), ("Coupon", 4), ("Coupon", 6), ("Mug", 3)]


async def test_credits_are_one_event_per_unit_with_ids_independent_of_polling(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A store polling after every signup and one polling once see the same event ids."""
    ann = emulator.add_participant("ann@example.com")
    often = _feed(emulator, tmp_path / "often.sqlite")
    rarely = _feed(emulator, tmp_path / "rarely.sqlite")
    seen_often: list[FeedEvent[Any]] = []
    async with often, rarely:
        await often.poll()
        await rarely.poll()
        for i in range(5):
            emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
            seen_often += await _poll_and_drain(often)
        seen_rarely = await _poll_and_drain(rarely)
    assert len(seen_often) == len(seen_rarely) == 5 + 5 + 3  # joins, credits, 2+1 rewards
    assert {e.id for e in seen_often} == {e.id for e in seen_rarely}
    credits = sorted(
        e.data["referrals_count"] for e in seen_rarely if e.type == "referral.credited"
    )
    assert credits == [1, 2, 3, 4, 5]


async def test_actions_and_unlisted_participants(emulator: Emulator, tmp_path: Path) -> None:
    """A recorded action is action.recorded; a hidden participant is unlisted, once per hiding."""
    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    async with _feed(emulator, tmp_path / "f.sqlite") as feed:
        await feed.poll()
        emulator.record_action("zed@example.com", "/dashboard", ann.code)
        emulator.hide_participants(["bob@example.com"])
        events = await _poll_and_drain(feed)
        assert sorted(_types(events)) == ["action.recorded", "participant.unlisted"]
        action = next(e for e in events if e.type == "action.recorded")
        assert action.row.referred_person == "zed@example.com"
        gone = next(e for e in events if e.type == "participant.unlisted")
        assert gone.row.email == "bob@example.com" and gone.data == {"times": 1}
        assert await _poll_and_drain(feed) == []  # still hidden: nothing new
        emulator.hide_participants(["bob@example.com"], hidden=False)
        assert await _poll_and_drain(feed) == []  # listed again: not a new participant
        emulator.hide_participants(["bob@example.com"])
        again = await _poll_and_drain(feed)
    assert _types(again) == ["participant.unlisted"]
    assert again[0].data == {"times": 2} and again[0].id != gone.id


async def test_unacknowledged_events_come_back_after_a_restart_with_the_same_json(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Acked events never return; unacked ones do, byte for byte (same id, same observed_at)."""
    ann = emulator.add_participant("ann@example.com")
    path = tmp_path / "f.sqlite"
    async with _feed(emulator, path) as feed:
        await feed.poll()
        for i in range(2):
            emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
        await feed.poll()
        first = await feed.next_event(poll=False)
        second = await feed.next_event(poll=False)
        assert first is not None and second is not None
        await feed.ack(first)
        # "second" is in flight when the process stops
    later = RewardFeed(emulator.client(), store=path, clock=lambda: T0 + dt.timedelta(hours=1))
    async with later:
        rest = await _drain(later)
        assert await later.store.outbox_size() == 0
    assert first.id not in {e.id for e in rest}
    assert rest[0].to_json() == second.to_json()
    assert len(rest) == 5 - 1  # 2 joins + 2 credits + 1 reward, minus the one acknowledged


async def test_a_poll_that_dies_midway_loses_nothing(emulator: Emulator, tmp_path: Path) -> None:
    """A source failing after 250 of 600 rows: the committed batches stay, the rest comes next."""
    ann = emulator.add_participant("ann@example.com")
    path = tmp_path / "f.sqlite"
    async with _feed(emulator, path, batch=100) as feed:
        await feed.poll()
    for i in range(599):
        emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code if i < 10 else None)

    class Failing:
        campaign = 2605
        requests = 0

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def referrers(self) -> AsyncIterator[Referrer]:
            n = 0
            async for row in self.inner.referrers():
                n += 1
                if n > 250:
                    raise ConnectionError("gone")
                yield row

        def rewards(self) -> Any:
            return self.inner.rewards()

        def specific_action_signups(self) -> Any:
            return self.inner.specific_action_signups()

    async with emulator.client() as client:
        from irefer_async.feed import ClientSource

        broken = RewardFeed(Failing(ClientSource(client)), store=path, batch=100, clock=lambda: T0)
        async with broken:
            with pytest.raises(ConnectionError):
                await broken.poll()
            partial = await broken.store.outbox_size()
            assert 0 < partial < 599
    async with _feed(emulator, path, batch=100) as feed:
        events = await _poll_and_drain(feed)
    joined = [e for e in events if e.type == "participant.joined"]
    assert len(joined) == 599 and len({e.id for e in events}) == len(events)
    assert sum(e.type == "referral.credited" for e in events) == 10


async def test_the_diff_reads_the_store_by_batches(emulator: Emulator, tmp_path: Path) -> None:
    """The snapshot is asked about at most `batch` rows at a time, never the whole list."""
    for i in range(2500):
        emulator.add_participant(f"p{i}@example.com")
    store = SQLiteFeedStore(tmp_path / "f.sqlite")
    sizes: list[int] = []
    original = store.known_participants

    async def spy(ids: Any) -> dict[int, KnownParticipant]:
        sizes.append(len(ids))
        return dict(await original(ids))

    store.known_participants = spy  # type: ignore[method-assign]
    async with RewardFeed(emulator.client(), store=store, batch=300, replay=True) as feed:
        report = await feed.poll()
    assert report.rows["referrers"] == 2500 and report.events == {"participant.joined": 2500}
    assert max(sizes) == 300 and sum(sizes) == 2500


async def test_handler_form_acknowledges_on_return_and_not_on_error(
    emulator: Emulator, tmp_path: Path
) -> None:
    """run(handler) acks what the handler returned from; a raising handler's event stays."""
    ann = emulator.add_participant("ann@example.com")
    path = tmp_path / "f.sqlite"
    async with _feed(emulator, path) as feed:
        await feed.poll()
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    handled: list[str] = []

    async def fails_on_credit(event: FeedEvent[Any]) -> None:
        if event.type == "referral.credited":
            raise RuntimeError("coupon service down")
        handled.append(event.type)

    async with _feed(emulator, path) as feed:
        with pytest.raises(RuntimeError):
            await feed.run(fails_on_credit, once=True)
    assert handled == ["participant.joined"]
    async with _feed(emulator, path) as feed:
        count = await feed.run(lambda e: _append(handled, e), once=True)
    assert count == 1 and handled == ["participant.joined", "referral.credited"]


async def _append(into: list[str], event: FeedEvent[Any]) -> None:
    into.append(event.type)


async def test_iterator_polls_at_the_interval(emulator: Emulator, tmp_path: Path) -> None:
    """`async for` polls when nothing is pending, then waits about the interval between polls."""
    import asyncio

    ann = emulator.add_participant("ann@example.com")
    loop = asyncio.get_running_loop()
    async with _feed(emulator, tmp_path / "f.sqlite", interval=0.2, jitter=0.0) as feed:
        await feed.poll()
        emulator.add_participant("bob@example.com", referrer_code=ann.code)
        started = loop.time()
        got = []
        async for event in feed:
            got.append(event.type)
            await feed.ack(event)
            if len(got) == 2:
                break
    assert sorted(got) == ["participant.joined", "referral.credited"]
    assert loop.time() - started < 1.0


def test_malformed_json_forms_are_typed_errors() -> None:
    """Not an object, or missing keys: InvalidRequestError saying it is not an event."""
    with pytest.raises(InvalidRequestError, match="is an object"):
        event_from_json("[1, 2]")
    with pytest.raises(InvalidRequestError, match="not an event's JSON form"):
        event_from_json({"type": "reward.triggered", "id": "evt_1"})


def test_json_form_has_the_keys_at_the_top_and_round_trips() -> None:
    """The JSON form is one object: id, type, campaign, observed_at, row, data."""
    from irefer_async.feed import RewardTriggered

    event = RewardTriggered(id="evt_1", campaign=2605, observed_at=T0,
                            raw={"id": "301", "recipient_email": "a@b.c"})  # fmt: skip
    data = json.loads(event.to_json())
    assert list(data) == ["id", "type", "campaign", "observed_at", "row", "data"]
    assert data["type"] == "reward.triggered" and data["observed_at"] == "2026-12-01T12:00:00Z"
    back = event_from_json(event.to_json())
    assert type(back) is RewardTriggered and back.to_json() == event.to_json()
    with pytest.raises(InvalidRequestError, match="unknown event type"):
        event_from_json({**data, "type": "reward.lost"})


async def test_bad_options_are_refused_before_any_request(tmp_path: Path) -> None:
    """Unknown event type, non-positive interval: a typed error naming the problem."""
    emulator = Emulator()
    with pytest.raises(InvalidRequestError, match=r"known: reward\.triggered"):
        RewardFeed(emulator.client(), store=tmp_path / "f", types={"reward"})
    with pytest.raises(InvalidRequestError, match="interval"):
        RewardFeed(emulator.client(), store=tmp_path / "f", interval=0)
    for bad, match in (({"jitter": 1.0}, "jitter"), ({"lease": 0}, "lease"),
                       ({"batch": 0}, "batch")):  # fmt: skip
        with pytest.raises(InvalidRequestError, match=match):
            RewardFeed(emulator.client(), store=tmp_path / "f", **bad)
    with pytest.raises(InvalidRequestError, match="campaign id"):
        RewardFeed(emulator.client(campaign_id=None), store=tmp_path / "f")
    feed = RewardFeed(emulator.client(), store=tmp_path / "f")
    with pytest.raises(InvalidRequestError, match="open the feed first"):
        await feed.poll()
    assert "campaign=2605" in repr(feed) and "SQLiteFeedStore" in repr(feed)
    assert len(emulator.journal) == 0
    assert not (tmp_path / "f").exists()  # nothing opened either


async def test_one_process_per_sqlite_store(emulator: Emulator, tmp_path: Path) -> None:
    """A second opener of the same SQLite store is refused while the first holds it."""
    async with _feed(emulator, tmp_path / "f.sqlite"):
        with pytest.raises(StoreLockedError, match="another process"):
            await SQLiteFeedStore(tmp_path / "f.sqlite").open()
    store = SQLiteFeedStore(tmp_path / "f.sqlite")
    await store.open()  # released on close
    await store.close()


async def test_ack_of_an_event_not_handed_out_is_refused(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Acknowledging twice (or a foreign event) is a clear error, not a silent no-op."""
    ann = emulator.add_participant("ann@example.com")
    async with _feed(emulator, tmp_path / "f.sqlite") as feed:
        await feed.poll()
        emulator.add_participant("bob@example.com", referrer_code=ann.code)
        await feed.poll()
        event = await feed.next_event(poll=False)
        assert event is not None
        await feed.ack(event)
        with pytest.raises(InvalidRequestError, match="not handed out"):
            await feed.ack(event)
        released = await feed.next_event(poll=False)
        assert released is not None
        feed.release(released)  # not acknowledged: handed out again after a restart
        with pytest.raises(InvalidRequestError, match="not handed out"):
            await feed.ack(released)
    async with _feed(emulator, tmp_path / "f.sqlite") as feed:
        assert released.id in {e.id for e in await _drain(feed)}


class _Stream:
    """Stands for the client's ListStream: an async context manager that is async-iterable."""

    def __init__(self, rows: tuple[Any, ...], log: list[str], name: str) -> None:
        self.rows = rows
        self.log = log
        self.name = name

    async def __aenter__(self) -> _Stream:
        self.log.append(f"open {self.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.log.append(f"close {self.name}")

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Any]:
        for row in self.rows:
            yield row


async def test_client_source_prefers_the_streaming_iterators(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A client with iter_referrers() & co is read through them (opened and closed each poll)."""
    from irefer_async.feed import ClientSource

    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    emulator.add_participant("cy@example.com", referrer_code=ann.code)  # a reward at 2
    log: list[str] = []
    async with emulator.client() as real:
        rows = {
            "referrers": await real.referrers(),
            "rewards": await real.rewards(),
            "specific_action_signups": await real.specific_action_signups(),
        }

        class StreamingClient:
            campaign_id = 2605

            def __getattr__(self, name: str) -> Any:
                if name.startswith("iter_"):
                    key = name[len("iter_") :]
                    return lambda *, campaign_id: _Stream(rows[key], log, key)
                raise AttributeError(name)

            async def referrers(self, **kw: Any) -> Any:
                raise AssertionError("the tuple method must not be used")

        source = ClientSource(StreamingClient())  # type: ignore[arg-type]
        async with RewardFeed(source, store=tmp_path / "f.sqlite", replay=True) as feed:
            report = await feed.poll()
    assert report.rows == {
        "referrers": 3, "rewards": len(rows["rewards"]), "specificActionSignups": 0
    }  # fmt: skip
    assert report.rows["rewards"] >= 1
    assert report.requests == 3
    assert log == [f"{verb} {name}" for name in rows for verb in ("open", "close")]


async def test_a_row_listed_twice_in_a_poll_is_one_event(tmp_path: Path) -> None:
    """A page repeating a row (as paging over a moving list can): one event per change."""
    from irefer_async.feed import ClientSource

    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    async with emulator.client() as client:
        inner = ClientSource(client)

        class Repeating:
            campaign = inner.campaign

            async def referrers(self) -> AsyncIterator[Referrer]:
                async for row in inner.referrers():
                    yield row
                    yield row

            async def rewards(self) -> AsyncIterator[Any]:
                async for row in inner.rewards():
                    yield row
                    yield row

            def specific_action_signups(self) -> Any:
                return inner.specific_action_signups()

        async with RewardFeed(Repeating(), store=tmp_path / "f.sqlite", replay=True) as feed:
            report = await feed.poll()
            events = await _drain(feed)
    assert len(events) == len({e.id for e in events}) == 2 + 1 + 1  # joins, credit, reward
    assert report.total_events == 4  # found once each, not found twice and merged
