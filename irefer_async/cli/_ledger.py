"""The import ledger: a SQLite file (WAL) that makes ``irefer import`` safe to kill and resume.

Every row is committed as ``in_flight`` *before* it can be sent, and its outcome is recorded
after. Marks are written ahead in batches (one transaction per batch) and outcomes in batches
too: a row whose outcome was lost with the process is simply still ``in_flight``, which
resume treats like an unknown outcome and settles with a read before deciding to resend.

States: ``in_flight`` (maybe sent), ``ok``, ``failed``, ``invalid`` (finished), ``unknown``
(sent, outcome unknown: settled like ``in_flight`` on resume).

A write that fails for lack of space (SQLite's ``database or disk is full``) raises
`StorageFullError` naming the ledger, its transaction rolled back: the rows it would have
marked were never handed to the sender, and outcomes it would have recorded leave their rows
``in_flight``, so ``--resume`` settles them with reads (nothing lost, nothing sent twice).
`Ledger.on_connect` is the seam tests use to make that happen for real (``PRAGMA
max_page_count``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from ._stops import StorageFullError, is_full, writing

__all__ = ["FINISHED", "Ledger", "LedgerError", "StorageFullError"]

#: States that a resume skips.
FINISHED = frozenset({"ok", "failed", "invalid"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    state TEXT NOT NULL,
    row TEXT NOT NULL,
    record TEXT,
    updated REAL NOT NULL
);
"""


class LedgerError(Exception):
    """The ledger cannot be used for this run (another kind of import, or already exists)."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _earlier_run(path: Path) -> str:
    """Say what the ledger at ``path`` holds: a finished run, or one to ``--resume``."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as db:
            counts = dict(db.execute("SELECT state, COUNT(*) FROM rows GROUP BY state").fetchall())
    except sqlite3.Error:
        counts = None
    if counts is None:
        return (
            f"a ledger from an earlier run exists at {path}: pass --resume to continue it "
            "(rows already sent are not sent again), or delete it to start over"
        )
    done = ", ".join(f"{counts[s]} {s}" for s in ("ok", "failed", "invalid") if counts.get(s))
    open_rows = counts.get("in_flight", 0) + counts.get("unknown", 0)
    if not open_rows:
        return (
            f"the earlier import with this ledger finished ({done or 'no rows'}): {path}. "
            "--resume sends only rows it did not finish (none, if the file is unchanged); "
            "to import the file again as new, delete the ledger (and the results file)"
        )
    return (
        f"an earlier import with the ledger at {path} did not finish "
        f"({_plural(open_rows, 'row')} may have been sent, outcome not known"
        f"{'; ' + done if done else ''}): pass --resume to continue it (rows already sent are "
        "not sent again), or delete it to start over"
    )


class Ledger:
    """One import's ledger. Not thread-safe: use it from the event loop's thread only."""

    #: Called with each new connection before the schema is written (a test seam: e.g.
    #: ``PRAGMA max_page_count`` makes the ledger fill up as a full disk would). None: nothing.
    on_connect: ClassVar[Callable[[sqlite3.Connection], None] | None] = None

    def __init__(self, path: Path, *, kind: str, resume: bool) -> None:
        """Open (``resume=True``) or create the ledger at ``path`` for a ``kind`` import."""
        self.path = path
        existed = path.exists() and path.stat().st_size > 0
        if existed and not resume:
            raise LedgerError(_earlier_run(path))
        with writing(path):
            self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._open(kind)
        except BaseException:
            self._db.close()
            raise
        self._pending: list[tuple[str, str | None, float, str]] = []
        self._last_flush = time.monotonic()

    def _open(self, kind: str) -> None:
        with writing(self.path):
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives the process being killed (not a power loss), no fsync.
            self._db.execute("PRAGMA synchronous=NORMAL")
            if Ledger.on_connect is not None:
                Ledger.on_connect(self._db)
            self._db.executescript(_SCHEMA)
        stored = self._meta("kind")
        if stored is None:
            with writing(self.path):
                self._db.execute("INSERT INTO meta VALUES ('kind', ?)", (kind,))
        elif stored != kind:
            raise LedgerError(f"the ledger at {self.path} is for an import of {stored}, not {kind}")

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def states(self) -> dict[str, str]:
        """Every key's state (read once at the start of a resume)."""
        return dict(self._db.execute("SELECT key, state FROM rows"))

    def unsettled(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Rows that may have been sent with no known outcome: ``(key, line, row)``."""
        query = "SELECT key, line, row FROM rows WHERE state IN ('in_flight', 'unknown')"
        for key, line, row in self._db.execute(query).fetchall():
            yield key, line, json.loads(row)

    def last_sent(self) -> float | None:
        """When (epoch seconds) the latest unsettled row was marked, or None if there is none."""
        query = "SELECT MAX(updated) FROM rows WHERE state IN ('in_flight', 'unknown')"
        row = self._db.execute(query).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def record(self, key: str) -> dict[str, Any] | None:
        """Return the results record stored for a finished row."""
        row = self._db.execute("SELECT record FROM rows WHERE key = ?", (key,)).fetchone()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    def mark_in_flight(self, rows: Iterable[tuple[str, int, dict[str, Any]]]) -> None:
        """Commit ``in_flight`` for rows about to be handed to the sender (one transaction)."""
        self.flush()
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO rows (key, line, state, row, updated) VALUES (?, ?, 'in_flight', ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET state = 'in_flight', updated = excluded.updated",
                [(key, line, json.dumps(raw, ensure_ascii=False), now) for key, line, raw in rows],
            )

    def finish(self, key: str, state: str, record: dict[str, Any] | None) -> None:
        """Record a row's outcome (written in batches; see `flush`)."""
        text = None if record is None else json.dumps(record, ensure_ascii=False, default=str)
        self._pending.append((state, text, time.time(), key))
        if len(self._pending) >= 500 or time.monotonic() - self._last_flush > 0.5:
            self.flush()

    def forget(self, key: str) -> None:
        """Drop a row proven never to have landed, so the run sends it again."""
        self.flush()
        with self._transaction():
            self._db.execute("DELETE FROM rows WHERE key = ?", (key,))

    def flush(self) -> None:
        """Commit the outcomes recorded so far."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        with self._transaction():
            self._db.executemany(
                "UPDATE rows SET state = ?, record = ?, updated = ? WHERE key = ?", pending
            )

    def close(self) -> None:
        """Commit and close (closed even when the commit fails for lack of space)."""
        try:
            self.flush()
        finally:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on failure; "full" named by path."""

    __slots__ = ("_db", "_path")

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        with writing(self._path):
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                with writing(self._path):
                    self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            return
        self._rollback()
        if is_full(exc):
            raise StorageFullError(self._path, str(exc)) from exc

    def _rollback(self) -> None:
        # SQLite rolls a transaction back itself on SQLITE_FULL: ROLLBACK would then fail.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
