"""``irefer export referrers|rewards|actions``: stream a whole campaign list to CSV or JSON.

Rows are read with the client's list iterators (``iter_referrers()``...) and written as they
arrive, so memory stays flat whatever the campaign's size (a million participants in well
under 150 MB). CSV gets a header then one line per row; JSON is one array with one row per
line. ``--format table`` needs every row to size its columns, so it collects them: use it
for small campaigns.

On a terminal, a progress line on stderr shows rows and bytes received and the rate; when
stderr is not a terminal nothing is shown, so a redirected export stays clean.

A disk that fills up under the output stops the export with `StorageFullError`, one line
naming the file (the command exits 74); SIGTERM stops it as Ctrl-C does.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn

from irefer_async import IReferClient, ListStream

from ._query import _cell, flatten, render_rows
from ._stops import writing

__all__ = ["AGAIN", "COLUMNS", "export_rows", "replacing"]

#: What to do when the output could not be written for lack of space.
AGAIN = "free some space and run the export again"

#: The columns each export shows unless ``--all-columns`` is given.
COLUMNS = {
    "referrers": ["id", "email", "name", "referral_link", "referrer_email", "referrals_count",
                  "source_network", "created_at"],
    "rewards": ["id", "recipient_email", "reward_heading", "referrals_made", "reward_to",
                "triggered_at"],
    "actions": ["id", "referrer_email", "referred_person", "specific_action", "created_at"],
}  # fmt: skip

# Flush the output at least every this many rows, and redraw progress at most this often.
_FLUSH_ROWS = 1000
_REDRAW_SECONDS = 0.2


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[str]]:
    """Open a file that becomes ``path`` only if the block succeeds.

    A regular file (or a new one) is written as a temporary file beside it, renamed over
    ``path`` at the end and removed on any failure (an interrupt included), so a failed
    export leaves no ``[`` nor empty file, and an earlier file stays as it was. Anything
    else (``/dev/stdout``, a FIFO, a device; a file in a directory it cannot write to) is
    written in place.
    """
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        if path.exists() and not path.is_file():
            raise PermissionError  # not a file to replace: written in place
        opened = part.open("x", encoding="utf-8", newline="")  # umask applies, as for path
    except PermissionError:  # also a writable file in a directory that is not
        with path.open("w", encoding="utf-8", newline="") as out:
            yield out
        return
    try:
        with opened as out:
            yield out
        if path.exists():
            shutil.copymode(path, part)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def _stream_for(client: IReferClient, what: str) -> ListStream[Any]:
    if what == "referrers":
        return client.iter_referrers()
    if what == "rewards":
        return client.iter_rewards()
    return client.iter_specific_action_signups()


class _Meter:
    """Rows and bytes on a terminal (a rich progress line on stderr), else nothing."""

    def __init__(self, what: str, stream: ListStream[Any], err: Console | None) -> None:
        self._stream = stream
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last = 0.0
        if err is not None and err.is_terminal:
            self._progress = Progress(
                TextColumn(f"exporting {what}"),
                TextColumn("{task.fields[rows]:>12,} rows"),
                TextColumn("{task.fields[mb]:>9.1f} MB"),
                TextColumn("{task.fields[rate]:>9,.0f} rows/s"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            )
            self._task = self._progress.add_task(what, total=None, rows=0, mb=0.0, rate=0.0)
        self._started = time.monotonic()

    def __enter__(self) -> _Meter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self.update(force=True)
            self._progress.stop()

    def update(self, *, force: bool = False) -> None:
        if self._progress is None or self._task is None:
            return
        now = time.monotonic()
        if not force and now - self._last < _REDRAW_SECONDS:
            return
        self._last = now
        rows = self._stream.delivered
        elapsed = max(now - self._started, 1e-9)
        self._progress.update(
            self._task, rows=rows, mb=self._stream.bytes_read / 1e6, rate=rows / elapsed
        )


def _csv_writer(out: IO[str], names: Sequence[str]) -> Callable[[dict[str, Any]], None]:
    writer = csv.writer(out)
    writer.writerow(names)

    def write(row: dict[str, Any]) -> None:
        writer.writerow([_cell(row.get(n)) for n in names])

    return write


def _writes_unicode(out: IO[str]) -> bool:
    """Return whether ``out`` encodes any text (a UTF-8 file or terminal; StringIO has none)."""
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return True
    return codecs.lookup(encoding).name.startswith(("utf-8", "utf-16", "utf-32"))


async def export_rows(
    client: IReferClient,
    what: str,
    fmt: str,
    out: IO[str],
    *,
    columns: Sequence[str] | None,
    console: Console,
    err: Console | None = None,
    name: str | None = None,
) -> int:
    """Write every row of ``what`` to ``out`` as ``fmt``; return the number of rows.

    ``columns`` limits CSV and table output to those fields (None: every field). JSON
    always has every field. Progress goes to ``err`` when it is a terminal. Nothing is
    written before the first row arrives (JSON's ``[`` included), so a failed first read
    leaves ``out`` untouched. ``name`` is the file a full disk is reported for (default
    ``out.name``).
    """
    with writing(name or str(getattr(out, "name", "<output>")), AGAIN):
        return await _export(client, what, fmt, out, columns=columns, console=console, err=err)


async def _export(
    client: IReferClient,
    what: str,
    fmt: str,
    out: IO[str],
    *,
    columns: Sequence[str] | None,
    console: Console,
    err: Console | None,
) -> int:
    stream = _stream_for(client, what)
    if fmt == "table":
        async with stream:
            rows = [flatten(item) async for item in stream]
        render_rows(rows, "table", console, title=what, columns=columns)
        return len(rows)
    count = 0
    # Readable UTF-8 ("李", not "\\u674e"), unless the stream cannot encode it (then escapes).
    ascii_only = not _writes_unicode(out)
    with _Meter(what, stream, err) as meter:
        async with stream:
            write: Callable[[dict[str, Any]], None] | None = None
            async for item in stream:
                row = flatten(item)
                if (
                    fmt == "json"
                ):  # the array opens with its first row: a failed read writes nothing
                    text = json.dumps(row, default=str, ensure_ascii=ascii_only)
                    out.write(("[\n" if not count else ",\n") + text)
                else:
                    if write is None:
                        write = _csv_writer(out, list(columns) if columns else list(row))
                    write(row)
                count += 1
                if count % _FLUSH_ROWS == 0:
                    out.flush()
                    meter.update()
            if fmt == "json":
                out.write("\n]\n" if count else "[]\n")
            elif write is None:
                _csv_writer(out, list(columns) if columns else [])
        out.flush()
    return count
