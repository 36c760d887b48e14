"""The request journal: every API request, in arrival order, with what it did.

Tests read it to assert on what actually reached the server: how many attempts a retry made,
when they arrived (``at`` is the event loop's monotonic clock, the one rate limiters use), which
fault each met and whether a write landed. ``api_key`` and ``license_key`` are kept for explicit
assertions but left out of every ``repr`` and of `JournalEntry.as_dict`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from typing import Any, overload

import attrs

from ._faults import FaultKind

__all__ = ["Journal", "JournalEntry", "WriteEffect"]


class WriteEffect(str, enum.Enum):
    """What a request changed in the emulator's state."""

    NONE = "none"
    PARTICIPANT_CREATED = "participant_created"
    DUPLICATE_REJECTED = "duplicate_rejected"
    ACTION_RECORDED = "action_recorded"


@attrs.define(eq=False)
class JournalEntry:
    """One API request as the emulator saw it. Filled in as the request is processed."""

    #: Arrival order, from 1.
    seq: int
    #: Arrival time on the event loop's clock (``loop.time()``).
    at: float
    #: The API method named in the path (as sent, even when unknown).
    method: str
    #: Which call of this method this was, from 1.
    call: int
    #: Query parameters, without ``api_key``.
    params: dict[str, str]
    #: The fault injected, if any.
    fault: FaultKind | None = None
    #: What the request changed.
    effect: WriteEffect = WriteEffect.NONE
    #: HTTP status sent; ``None`` when the connection was dropped or stalled.
    status: int | None = None
    #: The ``error_code`` of an error body, if one was sent.
    error_code: str | None = None
    #: The ``api_key`` parameter as sent (never printed).
    api_key: str | None = attrs.field(default=None, repr=False)
    #: The license key from the path as sent (never printed).
    license_key: str | None = attrs.field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready dict, without the keys."""
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "call": self.call,
            "params": dict(self.params),
            "fault": self.fault.value if self.fault else None,
            "effect": self.effect.value,
            "status": self.status,
            "error_code": self.error_code,
        }


class Journal:
    """The emulator's request journal (a read-only sequence of `JournalEntry`)."""

    __slots__ = ("_entries",)

    def __init__(self, limit: int | None = None) -> None:
        """Start empty; keep only the latest *limit* entries when given (long benchmark runs)."""
        self._entries: deque[JournalEntry] = deque(maxlen=limit)

    def append(self, entry: JournalEntry) -> None:
        """Record *entry* (the emulator does this; tests only read)."""
        self._entries.append(entry)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self._entries)

    @overload
    def __getitem__(self, index: int) -> JournalEntry: ...
    @overload
    def __getitem__(self, index: slice) -> list[JournalEntry]: ...
    def __getitem__(self, index: int | slice) -> JournalEntry | list[JournalEntry]:
        if isinstance(index, slice):
            return list(self._entries)[index]
        return self._entries[index]

    def entries(
        self, method: str | None = None, *, effect: WriteEffect | None = None
    ) -> list[JournalEntry]:
        """Entries for *method* (all when ``None``), optionally only those with *effect*."""
        return [
            e
            for e in self._entries
            if (method is None or e.method == method) and (effect is None or e.effect is effect)
        ]

    def count(self, effect: WriteEffect) -> int:
        """How many requests had *effect*."""
        return sum(1 for e in self._entries if e.effect is effect)

    def __repr__(self) -> str:
        return f"<Journal {len(self._entries)} entries>"
