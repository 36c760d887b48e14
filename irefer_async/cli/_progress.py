"""Progress of an import: a live rich bar on a terminal, periodic JSON lines otherwise.

The JSON lines go to stderr, one object per line, so a log collector or a CI job can follow a
long import while stdout keeps the human summary:

```text
{"event": "progress", "done": 1200, "total": 5000, "ok": 1190, "failed": 10, ...}
```
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["Counts", "JsonProgress", "NoProgress", "Reporter", "RichProgress", "make_reporter"]

STATUSES = ("ok", "failed", "unknown", "invalid", "duplicate")
_STYLES = {"unknown": "yellow", "invalid": "red", "duplicate": "dim"}


class Counts:
    """Rows by status, and the clock of the run."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.started = time.monotonic()
        #: Rows counted above whose outcome came from an earlier run (``--resume``): not sent.
        self.carried = 0

    @property
    def done(self) -> int:
        """Rows with a final status."""
        return sum(self.by_status.values())

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    @property
    def sent(self) -> int:
        """Rows handed to the API in this run (not those an earlier run finished)."""
        s = self.by_status
        return s["ok"] + s["failed"] + s["unknown"] - self.carried

    @property
    def rate(self) -> float:
        """Rows per second finished by this run (rows carried from an earlier run excluded)."""
        elapsed = self.elapsed
        return (self.done - self.carried) / elapsed if elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts, rate and ETA."""
        elapsed = self.elapsed
        rate = self.rate
        left = None if self.total is None else max(self.total - self.done, 0)
        eta = None if left is None or rate <= 0 else round(left / rate, 1)
        return {
            "done": self.done,
            "total": self.total,
            **self.by_status,
            "elapsed": round(elapsed, 3),
            "rate": round(rate, 1),
            "eta": eta,
        }


class Reporter(Protocol):
    """Receives every row's final status."""

    def advance(self, status: str) -> None:
        """Count one row."""

    def close(self) -> None:
        """Emit a last update: the run is over."""


class NoProgress:
    """Counts only."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def advance(self, status: str) -> None:
        """Count one row."""
        self.counts.by_status[status] += 1

    def close(self) -> None:
        """Nothing to do."""


class JsonProgress(NoProgress):
    """A JSON line every ``interval`` seconds and a last one at the end."""

    def __init__(self, counts: Counts, stream: IO[str], interval: float) -> None:
        super().__init__(counts)
        self._stream = stream
        self._interval = interval
        self._next = time.monotonic() + interval
        self._emit()

    def _emit(self) -> None:
        self._stream.write(json.dumps({"event": "progress", **self.counts.as_dict()}) + "\n")
        self._stream.flush()

    def advance(self, status: str) -> None:
        """Count one row; emit a line when the interval has passed."""
        self.counts.by_status[status] += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            self._emit()

    def close(self) -> None:
        """Emit the final counts."""
        self._emit()


class RichProgress(NoProgress):
    """A live bar: done/total, rate, ETA, and the rows by status as the summary table counts them.

    ok and failed always; unknown, invalid and duplicate once there is one.
    """

    def __init__(self, counts: Counts, console: Console, description: str) -> None:
        super().__init__(counts)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.0f}/s"),
            TextColumn("[green]ok {task.fields[ok]}"),
            TextColumn("[red]failed {task.fields[failed]}"),
            TextColumn("{task.fields[others]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task(
            description, total=counts.total, rate=0.0, ok=0, failed=0, others=""
        )
        self._last = 0.0
        self._progress.start()

    def advance(self, status: str) -> None:
        """Count one row; refresh the bar's fields at most 10 times a second."""
        self.counts.by_status[status] += 1
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            self._update()

    def _update(self) -> None:
        c = self.counts
        others = " ".join(
            f"[{_STYLES[status]}]{status} {c.by_status[status]}[/]"
            for status in ("unknown", "invalid", "duplicate")
            if c.by_status[status]
        )
        self._progress.update(
            self._task,
            completed=c.done,
            rate=c.rate,
            ok=c.by_status["ok"],
            failed=c.by_status["failed"],
            others=others,
        )

    def close(self) -> None:
        """Show the final state and stop the live display."""
        self._update()
        self._progress.stop()


def make_reporter(
    mode: str, counts: Counts, console: Console, description: str, interval: float
) -> NoProgress:
    """``auto`` picks the bar on a terminal and JSON lines otherwise."""
    if mode == "auto":
        mode = "bar" if console.is_terminal else "json"
    if mode == "bar":
        return RichProgress(counts, console, description)
    if mode == "json":
        return JsonProgress(counts, sys.stderr, interval)
    return NoProgress(counts)
