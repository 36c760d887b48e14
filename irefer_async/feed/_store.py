"""Where a feed keeps its state: the previous snapshot and the events not yet acknowledged.

A store holds, per feed:

* the **snapshot**: for every participant ever listed its id, the highest ``referrals_count``
  seen, whether it is listed now, the poll that last saw it and its last row; for rewards and
  actions, the row ids seen. The diff reads it by batches of row ids, so a poll never holds
  two lists in memory.
* the **outbox**: events found by a poll and not yet acknowledged, in the order found.

Two transactions carry the delivery contract (``docs/feed.md``):

1. ``commit_batch``: a batch's snapshot updates and the events they produce, together;
2. ``ack``: removing an acknowledged event from the outbox.

`SQLiteFeedStore` (stdlib ``sqlite3`` in a thread of its own, one file, one process at a
time: it holds an exclusive ``flock`` on ``PATH.lock``) is the default, for one host;
``RedisFeedStore`` shares one feed between several workers on several hosts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import attrs

from irefer_async import ConfigurationError

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_LOCK_TIMEOUT",
    "FeedStore",
    "KnownParticipant",
    "Pending",
    "PollCursor",
    "SQLiteFeedStore",
    "StoreLockedError",
]

#: Seconds an event handed out and not acknowledged stays with its consumer.
DEFAULT_LEASE = 300.0

T = TypeVar("T")
logger = logging.getLogger("irefer_async.feed")


class StoreLockedError(ConfigurationError):
    """Another process holds this SQLite store.

    Either another watcher (use the Redis store for several workers), or another process
    holding the file's SQLite lock past the store's lock timeout.
    """


@attrs.frozen(slots=True)
class PollCursor:
    """A poll's number, and whether the feed's baseline has been taken."""

    #: Increases by one per poll started; rows seen in a poll carry it.
    generation: int
    #: False until a first poll completed: that poll's rows are the baseline.
    baselined: bool


@attrs.frozen(slots=True)
class KnownParticipant:
    """What the snapshot remembers of one participant."""

    #: The highest ``referrals_count`` seen (credits are emitted above it only).
    referrals: int
    #: Whether the participant was listed at the last poll that saw the campaign whole.
    listed: bool
    #: How many times it was unlisted (part of each ``participant.unlisted`` id).
    unlisted_times: int


@attrs.frozen(slots=True)
class Pending:
    """An event handed out by `FeedStore.claim`: its id and JSON form."""

    event_id: str
    body: str
    #: Opaque handle `FeedStore.ack` needs (SQLite: the outbox row; Redis: the entry id).
    handle: str


@attrs.frozen(slots=True)
class ParticipantUpdate:
    """A snapshot write for one participant seen in the current poll."""

    id: int
    referrals: int
    unlisted_times: int
    #: The row's JSON text, or None to keep the stored one (unchanged row).
    raw: str | None


class FeedStore(Protocol):
    """The state of one feed: snapshot and outbox (see the module docstring)."""

    #: Events the feed takes per `claim` (1 for a store shared by several workers,
    #: so no worker holds events another could deliver).
    prefetch: int

    async def open(self) -> None:
        """Create or attach to the state; take whatever lock the store needs."""
        ...

    async def close(self) -> None:
        """Release the lock and the connection."""
        ...

    async def begin_poll(self) -> PollCursor | None:
        """Start a poll: a new generation number and the baseline flag.

        None when another worker is polling this feed right now (shared stores only).
        """
        ...

    async def known_participants(self, ids: Sequence[int]) -> Mapping[int, KnownParticipant]:
        """Return the snapshot's entry for each of *ids* that it has."""
        ...

    async def known_ids(self, source: str, ids: Sequence[int]) -> set[int]:
        """Which of *ids* (rows of ``rewards`` or ``specificActionSignups``) were seen."""
        ...

    async def commit_batch(
        self,
        generation: int,
        participants: Sequence[ParticipantUpdate],
        seen: Mapping[str, Sequence[int]],
        events: Sequence[tuple[str, str]],
    ) -> None:
        """In ONE transaction: record *participants* and *seen* ids, enqueue *events*.

        *events* are ``(id, json)``; an id already in the outbox is not enqueued twice.
        """

    async def unlisted_candidates(self, generation: int, limit: int) -> list[tuple[int, int, str]]:
        """Up to *limit* listed participants the poll *generation* did not see.

        Each is ``(id, unlisted_times, last row JSON)``.
        """
        ...

    async def commit_unlisted(self, ids: Sequence[int], events: Sequence[tuple[str, str]]) -> None:
        """In ONE transaction: mark *ids* unlisted (times + 1) and enqueue *events*."""
        ...

    async def finish_poll(self, generation: int) -> None:
        """Record that the poll *generation* saw the campaign whole: the baseline exists."""
        ...

    async def abort_poll(self) -> None:
        """Give up what a poll that failed part way holds (what it committed stays)."""
        ...

    async def claim(self, limit: int, lease: float) -> list[Pending]:
        """Hand out up to *limit* events, oldest first, not handed out or whose lease expired."""
        ...

    async def ack(self, pending: Pending) -> None:
        """Remove an acknowledged event from the outbox (one transaction)."""
        ...

    async def outbox_size(self) -> int:
        """Events not yet acknowledged."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    id INTEGER PRIMARY KEY,
    referrals INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    unlisted_times INTEGER NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS participants_sweep ON participants (listed, generation);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0
);
"""


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: Seconds a SQLite store waits out a lock held by another process before giving up.
DEFAULT_LOCK_TIMEOUT = 60.0
#: SQLite's own busy wait per attempt (inside the store's thread); the store backs off between.
_BUSY_TIMEOUT = 0.25
#: SQLITE_BUSY and SQLITE_LOCKED (primary result codes; ``sqlite_errorcode`` from 3.11).
_BUSY_CODES = (5, 6)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _log_wait(message: str) -> None:
    logger.warning("%s", message)


class SQLiteFeedStore:
    """The default store: one SQLite file (stdlib), one process at a time, off the event loop.

    Every call runs in the store's own thread (one per store), so the event loop never waits
    for a query or an fsync; a call cancelled while its transaction runs lets it finish
    (committed or rolled back whole), and `close` waits for it.

    It hands out up to `prefetch` events per claim (one transaction for 64 events);
    their leases start together.

    Each transaction is committed with ``synchronous=FULL`` in WAL mode, so an
    acknowledgement or a poll's batch survives a crash (SIGKILL or power loss) once the call
    returned. A second process opening the same file as a store gets `StoreLockedError` at
    once (an ``flock`` on ``PATH.lock``).

    Another process holding the file's SQLite lock (a backup, ``sqlite3`` in a shell) is
    waited out: the transaction is retried whole with backoff, *on_wait* is called once per
    wait with a one-line message (default: a WARNING on the ``irefer_async.feed`` logger), and
    after *lock_timeout* seconds the call raises `StoreLockedError`. Nothing is written in
    part, so nothing is lost either way.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Keep the feed's state in *path* (created if missing)."""
        if not lock_timeout >= 0:
            raise ConfigurationError(f"lock_timeout must be >= 0 seconds, got {lock_timeout!r}")
        self.path = Path(path)
        #: Events taken from the outbox per claim.
        self.prefetch = 64
        self.lock_timeout = lock_timeout
        self._on_wait = on_wait or _log_wait
        self._db: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"<SQLiteFeedStore {str(self.path)!r}>"

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ConfigurationError("the feed store is not open (use the feed as a context)")
        return self._db

    async def _call(self, work: Callable[[], T]) -> T:
        """Run *work* in the store's thread, waiting out another process's lock."""
        if self._thread is None:
            raise ConfigurationError("the feed store is not open (use the feed as a context)")
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = 0.05
        waiting = False
        while True:
            future = loop.run_in_executor(self._thread, work)
            future.add_done_callback(_retrieve)  # a cancelled caller's error is not "lost"
            try:
                # Shielded: a cancelled caller does not abandon a transaction half-way in
                # our bookkeeping; the thread finishes it (commit or rollback) on its own.
                return await asyncio.shield(future)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                waited = loop.time() - started
                if waited >= self.lock_timeout:
                    raise StoreLockedError(
                        f"feed store {str(self.path)!r} stayed locked by another process for "
                        f"{waited:.1f} s (lock timeout {self.lock_timeout:g} s); nothing was "
                        "lost: run again once the other process is done"
                    ) from None
                if not waiting:
                    waiting = True
                    self._on_wait(
                        f"feed store {str(self.path)!r} is locked by another process; waiting "
                        f"(up to {self.lock_timeout:g} s)"
                    )
                await asyncio.sleep(min(delay, max(0.0, self.lock_timeout - waited)))
                delay = min(delay * 2, 2.0)

    async def _tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run *work(db)* in ONE ``BEGIN IMMEDIATE`` transaction in the store's thread."""

        def run() -> T:
            db = self._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._call(run)

    async def open(self) -> None:
        """Lock ``PATH.lock``, open the file, create the tables and release stale leases."""
        if self._db is not None:
            return
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="irefer-feed-sqlite"
        )
        try:
            await self._call(self._take_lock)
            await self._call(self._connect)
        except BaseException:
            await self.close()
            raise

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            # This process is the only consumer (the lock): nothing handed out earlier is
            # still being worked on, so it is all deliverable again now.
            db.execute("UPDATE outbox SET lease_until = 0 WHERE lease_until != 0")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _take_lock(self) -> None:
        if self._lock_file is not None:
            return
        try:
            import fcntl  # noqa: PLC0415 - POSIX only; imported where it is needed
        except ImportError:  # pragma: no cover - Windows: no flock, one watcher is on you
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StoreLockedError(
                f"feed store {str(self.path)!r} is used by another process; run one watcher "
                "per SQLite store, or share a RedisFeedStore between workers"
            ) from None
        self._lock_file = handle

    async def close(self) -> None:
        """Close the file and release the lock (after the call in progress, if any)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(thread, self._close_in_thread))
        thread.shutdown(wait=False)

    def _close_in_thread(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    async def begin_poll(self) -> PollCursor | None:
        """Start a poll: a new generation number and the baseline flag."""

        def work(db: sqlite3.Connection) -> PollCursor:
            generation = self._meta(db, "generation") + 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (generation,))
            return PollCursor(generation, bool(self._meta(db, "baselined")))

        return await self._tx(work)

    async def known_participants(self, ids: Sequence[int]) -> Mapping[int, KnownParticipant]:
        """Return the snapshot's entry for each of *ids* that it has."""

        def work() -> dict[int, KnownParticipant]:
            found: dict[int, KnownParticipant] = {}
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT id, referrals, listed, unlisted_times FROM participants "  # noqa: S608
                    f"WHERE id IN ({marks})",
                    tuple(chunk),
                )
                for pid, referrals, listed, times in rows:
                    found[pid] = KnownParticipant(referrals, bool(listed), times)
            return found

        return await self._call(work)

    async def known_ids(self, source: str, ids: Sequence[int]) -> set[int]:
        """Which of *ids* of *source* were seen before."""

        def work() -> set[int]:
            found: set[int] = set()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT id FROM seen WHERE source = ? AND id IN ({marks})",  # noqa: S608
                    (source, *chunk),
                )
                found.update(row[0] for row in rows)
            return found

        return await self._call(work)

    async def commit_batch(
        self,
        generation: int,
        participants: Sequence[ParticipantUpdate],
        seen: Mapping[str, Sequence[int]],
        events: Sequence[tuple[str, str]],
    ) -> None:
        """Record the batch and enqueue its events in one transaction."""

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO participants VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "referrals = excluded.referrals, listed = 1, generation = excluded.generation, "
                "unlisted_times = excluded.unlisted_times, "
                "raw = CASE WHEN excluded.raw = '' THEN participants.raw ELSE excluded.raw END",
                [(p.id, p.referrals, generation, p.unlisted_times, p.raw or "")
                 for p in participants],
            )  # fmt: skip
            for source, ids in seen.items():
                db.executemany(
                    "INSERT OR IGNORE INTO seen VALUES (?, ?)", [(source, i) for i in ids]
                )
            db.executemany("INSERT OR IGNORE INTO outbox (event_id, body) VALUES (?, ?)", events)

        await self._tx(work)

    async def unlisted_candidates(self, generation: int, limit: int) -> list[tuple[int, int, str]]:
        """Return the listed participants the poll *generation* did not see."""

        def work() -> list[tuple[int, int, str]]:
            rows = self._conn.execute(
                "SELECT id, unlisted_times, raw FROM participants "
                "WHERE listed = 1 AND generation < ? ORDER BY id LIMIT ?",
                (generation, limit),
            )
            return [(int(a), int(b), str(c)) for a, b, c in rows]

        return await self._call(work)

    async def commit_unlisted(self, ids: Sequence[int], events: Sequence[tuple[str, str]]) -> None:
        """Mark *ids* unlisted and enqueue *events* in one transaction."""

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE participants SET listed = 0, unlisted_times = unlisted_times + 1 "
                "WHERE id = ?",
                [(i,) for i in ids],
            )
            db.executemany("INSERT OR IGNORE INTO outbox (event_id, body) VALUES (?, ?)", events)

        await self._tx(work)

    async def finish_poll(self, generation: int) -> None:
        """Record that the baseline exists."""
        await self._tx(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES ('baselined', 1)"))

    async def abort_poll(self) -> None:
        """Nothing to release: one process, no poll lock."""

    async def claim(self, limit: int, lease: float) -> list[Pending]:
        """Hand out up to *limit* events, oldest first."""

        def work(db: sqlite3.Connection) -> list[Pending]:
            now = time.time()
            rows = db.execute(
                "SELECT seq, event_id, body FROM outbox WHERE lease_until <= ? "
                "ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET lease_until = ? WHERE seq = ?",
                [(now + lease, seq) for seq, _, _ in rows],
            )
            return [Pending(event_id, body, str(seq)) for seq, event_id, body in rows]

        return await self._tx(work)

    async def ack(self, pending: Pending) -> None:
        """Remove the event from the outbox (autocommitted: one transaction)."""
        seq = int(pending.handle)
        await self._call(lambda: self._conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,)))

    async def outbox_size(self) -> int:
        """Events not yet acknowledged."""
        return await self._call(
            lambda: int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        )


def dumps_row(raw: Mapping[str, Any]) -> str:
    """Return a row's JSON text as the store keeps it (compact, key order kept)."""
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
