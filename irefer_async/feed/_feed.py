"""The reward feed: poll the list endpoints, diff them against the store, deliver typed events.

iRefer has no webhooks; `RewardFeed` makes them. One poll streams each list
(``referrers``, ``rewards``, ``specificActionSignups``) row by row, compares rows by batches of
ids against the snapshot in the store (never two lists in memory), and commits each batch's
snapshot updates together with the events they produce. Delivery then hands out the stored
events until they are acknowledged (``docs/feed.md`` states the contract).

Rows come from a `FeedSource`; `ClientSource` reads an `IReferClient`,
using its streaming iterators (``iter_referrers()``...) when the client has them and the
tuple methods (``referrers()``...) otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from irefer_async import InvalidRequestError, Referrer, SpecificActionSignup, TriggeredReward

from ._events import (
    EVENT_TYPES,
    ActionRecorded,
    FeedEvent,
    ParticipantJoined,
    ParticipantUnlisted,
    ReferralCredited,
    RewardTriggered,
    event_class,
    event_from_json,
    event_id,
)
from ._store import (
    DEFAULT_LEASE,
    FeedStore,
    KnownParticipant,
    ParticipantUpdate,
    Pending,
    SQLiteFeedStore,
    dumps_row,
)

if TYPE_CHECKING:
    from irefer_async import IReferClient

__all__ = ["ClientSource", "FeedSource", "PollReport", "RewardFeed"]

logger = logging.getLogger("irefer_async.feed")

#: Rows compared against the store per transaction.
DEFAULT_BATCH = 1000


class FeedSource(Protocol):
    """Where a feed reads the campaign's rows: three async iterables, one per list endpoint."""

    #: The campaign id, part of every event id.
    campaign: int

    def referrers(self) -> AsyncIterator[Referrer]:
        """Every participant."""
        ...

    def rewards(self) -> AsyncIterator[TriggeredReward]:
        """Every triggered reward."""
        ...

    def specific_action_signups(self) -> AsyncIterator[SpecificActionSignup]:
        """Every specific action."""
        ...


class ClientSource:
    """A `FeedSource` over an `IReferClient` and one campaign.

    Uses ``client.iter_referrers()`` (and the other streaming iterators) when the client has
    them, so a poll holds one page of rows at a time; otherwise the tuple methods, which hold
    a whole list (one list at a time) while it is compared.
    """

    def __init__(self, client: IReferClient, campaign_id: int | None = None) -> None:
        """Read *campaign_id* (default: the client's campaign) through *client*."""
        campaign = campaign_id if campaign_id is not None else client.campaign_id
        if campaign is None:
            raise InvalidRequestError("a feed needs a campaign id (client campaign_id=...)")
        self.client = client
        self.campaign = int(campaign)
        #: Requests made by this source (one per list without the streaming iterators).
        self.requests = 0

    async def _rows(self, name: str) -> AsyncIterator[Any]:
        streaming = getattr(self.client, f"iter_{name}", None)
        self.requests += 1
        if streaming is not None:
            # ListStream: one streamed request, closed on exit even if the diff stops early.
            async with streaming(campaign_id=self.campaign) as rows:
                async for row in rows:
                    yield row
            return
        rows = await getattr(self.client, name)(campaign_id=self.campaign)
        for row in rows:
            yield row
        del rows

    def referrers(self) -> AsyncIterator[Referrer]:
        """Every participant."""
        return self._rows("referrers")

    def rewards(self) -> AsyncIterator[TriggeredReward]:
        """Every triggered reward."""
        return self._rows("rewards")

    def specific_action_signups(self) -> AsyncIterator[SpecificActionSignup]:
        """Every specific action."""
        return self._rows("specific_action_signups")


@attrs.define(slots=True)
class PollReport:
    """What one poll saw and found."""

    #: The poll's generation number (1 for the first poll of a store).
    generation: int
    #: True when this poll only took the baseline (no events, unless ``replay``).
    baseline: bool
    #: Rows read, per list endpoint.
    rows: dict[str, int] = attrs.field(factory=dict)
    #: Events enqueued, per type.
    events: dict[str, int] = attrs.field(factory=dict)
    #: Wall-clock seconds the poll took.
    seconds: float = 0.0
    #: Requests the poll made (when the source counts them).
    requests: int | None = None
    #: True when another worker sharing the store was polling, so this one did not.
    skipped: bool = False

    @property
    def total_events(self) -> int:
        """Events enqueued by this poll."""
        return sum(self.events.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``poll`` line of ``irefer watch``)."""
        return {
            "generation": self.generation,
            "baseline": self.baseline,
            "rows": dict(self.rows),
            "events": dict(self.events),
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "skipped": self.skipped,
        }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class _Batch:
    """Events and snapshot writes of one batch of rows, committed together."""

    __slots__ = ("events", "participants", "seen")

    def __init__(self) -> None:
        self.participants: list[ParticipantUpdate] = []
        self.seen: dict[str, list[int]] = {}
        self.events: list[tuple[str, str]] = []


class RewardFeed:
    """Typed events from polling a campaign, checkpointed in a store, at-least-once.

    Iterate and acknowledge each event:

    ```python
    async with RewardFeed(client, store="feed.sqlite") as feed:
        async for event in feed:
            if event.type == "reward.triggered":
                await send_coupon(event.row.recipient_email)
            await feed.ack(event)
    ```

    or give a handler (acknowledged when it returns):

    ```python
    await feed.run(handler)
    ```

    An event is handed out again if it is not acknowledged within *lease* seconds, and after
    a restart (see ``docs/feed.md`` for the whole contract). The first poll of a new store
    takes the existing rows as the baseline; ``replay=True`` delivers them as events instead.
    """

    def __init__(
        self,
        source: IReferClient | FeedSource,
        *,
        store: FeedStore | str | Path = "irefer-feed.sqlite",
        interval: float = 60.0,
        jitter: float = 0.1,
        replay: bool = False,
        types: Collection[str] | None = None,
        lease: float = DEFAULT_LEASE,
        batch: int = DEFAULT_BATCH,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """Poll *source* every *interval* seconds (± *jitter* as a fraction), state in *store*.

        *store* is a `FeedStore` or a path for a `SQLiteFeedStore`. *types*
        keeps only events of those type names (default: all five). *clock* stamps
        ``observed_at`` (default: the UTC wall clock).
        """
        if interval <= 0:
            raise InvalidRequestError(f"interval must be > 0 seconds, got {interval!r}")
        if not 0 <= jitter < 1:
            raise InvalidRequestError(f"jitter is a fraction in [0, 1), got {jitter!r}")
        if lease <= 0:
            raise InvalidRequestError(f"lease must be > 0 seconds, got {lease!r}")
        if batch < 1:
            raise InvalidRequestError(f"batch must be >= 1, got {batch!r}")
        for name in types or ():
            event_class(name)  # raises, naming the known types
        from irefer_async import IReferClient  # noqa: PLC0415 - the client imports nothing of this

        self.source: FeedSource = (
            ClientSource(source) if isinstance(source, IReferClient) else source
        )
        self.store: FeedStore = SQLiteFeedStore(store) if isinstance(store, (str, Path)) else store
        self.interval = interval
        self.jitter = jitter
        self.replay = replay
        self.types = frozenset(types) if types else frozenset(EVENT_TYPES)
        self.lease = lease
        self.batch = batch
        self._clock = clock or _utcnow
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret
        self._next_poll: float | None = None
        self._handed: dict[str, Pending] = {}
        self._buffer: list[Pending] = []
        self._open = False

    def __repr__(self) -> str:
        return f"<RewardFeed campaign={self.source.campaign} store={self.store!r}>"

    async def __aenter__(self) -> RewardFeed:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store (done by ``async with``)."""
        await self.store.open()
        self._open = True

    async def close(self) -> None:
        """Close the store; events handed out and not acknowledged will be delivered again."""
        self._open = False
        self._handed.clear()
        self._buffer.clear()
        await self.store.close()

    # -- polling ----------------------------------------------------------------------------

    def _wanted(self, cls: type[FeedEvent[Any]]) -> bool:
        return cls.type in self.types

    def _event(
        self, cls: type[FeedEvent[Any]], observed: dt.datetime, raw: Any, *identity: object,
        data: dict[str, Any] | None = None,
    ) -> tuple[str, str]:  # fmt: skip
        eid = event_id(self.source.campaign, cls.type, *identity)
        event = cls(id=eid, campaign=self.source.campaign, observed_at=observed, raw=raw,
                    data=data or {})  # fmt: skip
        return eid, event.to_json()

    async def poll(self) -> PollReport:
        """Poll once: read every list, enqueue the changes as events; returns what it saw.

        Each batch of rows is committed with its events in one transaction, so a crash in
        the middle loses nothing: the next poll compares the rest.
        """
        if not self._open:
            raise InvalidRequestError("open the feed first (async with RewardFeed(...) as feed)")
        started = time.monotonic()
        requests_before = getattr(self.source, "requests", None)
        cursor = await self.store.begin_poll()
        if cursor is None:  # another worker of a shared store is polling
            return PollReport(0, baseline=False, skipped=True)
        report = PollReport(cursor.generation, baseline=not cursor.baselined)
        try:
            await self._poll_lists(cursor.generation, cursor.baselined or self.replay, report)
        except BaseException:
            await self.store.abort_poll()
            raise
        await self.store.finish_poll(cursor.generation)
        report.seconds = time.monotonic() - started
        if requests_before is not None:
            report.requests = int(self.source.requests) - int(requests_before)  # type: ignore[attr-defined]
        logger.info(
            "feed poll %d: rows %s, events %s, %.2fs",
            report.generation, report.rows, report.events, report.seconds,
        )  # fmt: skip
        return report

    async def _poll_lists(self, generation: int, emit: bool, report: PollReport) -> None:
        observed = self._clock()
        await self._poll_participants(generation, emit, observed, report)
        for source_name, cls, rows in (
            ("rewards", RewardTriggered, self.source.rewards()),
            ("specificActionSignups", ActionRecorded, self.source.specific_action_signups()),
        ):
            await self._poll_appended(source_name, cls, rows, generation, emit, observed, report)
        await self._sweep_unlisted(generation, emit, observed, report)

    def _count(self, report: PollReport, etype: str) -> None:
        report.events[etype] = report.events.get(etype, 0) + 1

    async def _poll_participants(
        self, generation: int, emit: bool, observed: dt.datetime, report: PollReport
    ) -> None:
        rows = 0
        chunk: list[Referrer] = []
        async for row in self.source.referrers():
            rows += 1
            chunk.append(row)
            if len(chunk) >= self.batch:
                await self._participant_batch(chunk, generation, emit, observed, report)
                chunk = []
        if chunk:
            await self._participant_batch(chunk, generation, emit, observed, report)
        report.rows["referrers"] = rows

    async def _participant_batch(
        self, chunk: list[Referrer], generation: int, emit: bool, observed: dt.datetime,
        report: PollReport,
    ) -> None:  # fmt: skip
        known = dict(await self.store.known_participants([row.id for row in chunk]))
        batch = _Batch()
        for row in chunk:
            before = known.get(row.id)
            count = row.referrals_count
            if before is None:
                batch.participants.append(ParticipantUpdate(row.id, count, 0, dumps_row(row.raw)))
                if emit and self._wanted(ParticipantJoined):
                    batch.events.append(self._event(ParticipantJoined, observed, row.raw, row.id))
                    self._count(report, ParticipantJoined.type)
                first_credit = 1
            else:
                changed = count > before.referrals
                batch.participants.append(ParticipantUpdate(
                    row.id, max(count, before.referrals), before.unlisted_times,
                    dumps_row(row.raw) if changed or not before.listed else None,
                ))  # fmt: skip
                first_credit = before.referrals + 1
            # A row listed twice in one batch is known the second time.
            known[row.id] = KnownParticipant(
                max(count, before.referrals if before else 0),
                True,
                before.unlisted_times if before else 0,
            )
            if emit and self._wanted(ReferralCredited):
                for n in range(first_credit, count + 1):
                    batch.events.append(self._event(
                        ReferralCredited, observed, row.raw, row.id, n,
                        data={"referrals_count": n},
                    ))  # fmt: skip
                    self._count(report, ReferralCredited.type)
        await self.store.commit_batch(generation, batch.participants, {}, batch.events)

    async def _poll_appended(  # noqa: PLR0917 - private, one caller
        self, source_name: str, cls: type[FeedEvent[Any]], rows: AsyncIterator[Any],
        generation: int, emit: bool, observed: dt.datetime, report: PollReport,
    ) -> None:  # fmt: skip
        count = 0
        chunk: list[Any] = []
        async for row in rows:
            count += 1
            chunk.append(row)
            if len(chunk) >= self.batch:
                await self._appended_batch(source_name, cls, chunk, generation, emit, observed,
                                           report)  # fmt: skip
                chunk = []
        if chunk:
            await self._appended_batch(source_name, cls, chunk, generation, emit, observed, report)
        report.rows[source_name] = count

    async def _appended_batch(  # noqa: PLR0917 - private, one caller
        self, source_name: str, cls: type[FeedEvent[Any]], chunk: list[Any], generation: int,
        emit: bool, observed: dt.datetime, report: PollReport,
    ) -> None:  # fmt: skip
        known = await self.store.known_ids(source_name, [row.id for row in chunk])
        batch = _Batch()
        new = list({row.id: row for row in chunk if row.id not in known}.values())
        batch.seen[source_name] = [row.id for row in new]
        if emit and self._wanted(cls):
            for row in new:
                batch.events.append(self._event(cls, observed, row.raw, row.id))
                self._count(report, cls.type)
        if new:
            await self.store.commit_batch(generation, (), batch.seen, batch.events)

    async def _sweep_unlisted(
        self, generation: int, emit: bool, observed: dt.datetime, report: PollReport
    ) -> None:
        import json  # noqa: PLC0415

        while True:
            gone = await self.store.unlisted_candidates(generation, self.batch)
            if not gone:
                return
            events = []
            if emit and self._wanted(ParticipantUnlisted):
                for pid, times, raw in gone:
                    events.append(self._event(
                        ParticipantUnlisted, observed, json.loads(raw), pid, times + 1,
                        data={"times": times + 1},
                    ))  # fmt: skip
                    self._count(report, ParticipantUnlisted.type)
            await self.store.commit_unlisted([pid for pid, _, _ in gone], events)

    # -- delivery ---------------------------------------------------------------------------

    def next_delay(self) -> float:
        """Seconds until the next poll: the interval, give or take the jitter."""
        spread = self.interval * self.jitter
        return self.interval + self._rng.uniform(-spread, spread)

    async def next_event(self, *, poll: bool = True) -> FeedEvent[Any] | None:
        """Return the next event to handle, polling (at the interval) until there is one.

        With ``poll=False``, returns None instead of polling when nothing is pending.
        """
        loop = asyncio.get_running_loop()
        while True:
            if not self._buffer:
                self._buffer = await self.store.claim(self.store.prefetch, self.lease)
            if self._buffer:
                pending = self._buffer.pop(0)
                event = event_from_json(pending.body)
                self._handed[event.id] = pending
                return event
            if not poll:
                return None
            if self._next_poll is not None and loop.time() < self._next_poll:
                await asyncio.sleep(self._next_poll - loop.time())
            self._next_poll = loop.time() + self.next_delay()
            await self.poll()

    def __aiter__(self) -> AsyncIterator[FeedEvent[Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[FeedEvent[Any]]:
        while True:
            event = await self.next_event()
            if event is not None:
                yield event

    async def ack(self, event: FeedEvent[Any]) -> None:
        """Acknowledge *event*: it is removed from the store and never handed out again.

        Acknowledge only once the event's effect is durable; until then a crash delivers it
        again (with the same id).
        """
        pending = self._handed.pop(event.id, None)
        if pending is None:
            raise InvalidRequestError(
                f"event {event.id} was not handed out by this feed (or is already acknowledged)"
            )
        await self.store.ack(pending)

    def release(self, event: FeedEvent[Any]) -> None:
        """Forget *event* without acknowledging it: it is handed out again after its lease."""
        self._handed.pop(event.id, None)

    async def run(
        self,
        handler: Callable[[FeedEvent[Any]], Awaitable[object]],
        *,
        once: bool = False,
    ) -> int:
        """Call *handler* for each event, acknowledging it when the handler returns.

        If the handler raises, the event is not acknowledged and the exception propagates
        (the event is delivered again after a restart or its lease). With *once*, poll
        once, handle what is pending, and return. Returns the number of events handled.
        """
        handled = 0
        if once:
            await self.poll()
        while True:
            event = await self.next_event(poll=not once)
            if event is None:
                return handled
            await handler(event)
            await self.ack(event)
            handled += 1
