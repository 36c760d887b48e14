"""``irefer import signups|actions FILE``: validate, submit in bulk, account for every row.

Per input row the results file (JSON lines) gets one record:

```text
{"line": 7, "key": "ann@example.com", "status": "ok", "error": null, "error_type": null,
 "row": {...the row as read...}, "result": {...the API's answer...}}
```

``status`` is ok, failed, unknown (may have landed: settle it with ``--resume``), invalid
(never sent) or duplicate (a key seen earlier in the file: skipped). Failed, unknown and
invalid rows are also written, as read, to the failed-rows file in the input's own format.

Stopped by Ctrl-C or SIGTERM, the import prints its summary (rows in flight are left to
``--resume``, never counted as failed). A disk that fills up under the ledger, the results or
the failed-rows file stops it the same way: `StorageFullError` names the file and the
``--resume`` command, and the rows it could not record stay unsettled in the ledger (a
ledger write that fails marks nothing, so nothing unmarked is ever sent). `_open_results`
and `Ledger.on_connect` are the seams the tests fill the disk through.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
from rich.console import Console
from rich.table import Table

from irefer_async import BulkOutcome, BulkRun, BulkStatus, IReferClient, IReferError
from irefer_async.endpoints import referral_code_of

from ._ledger import FINISHED, Ledger
from ._progress import Counts, NoProgress, make_reporter
from ._rows import (
    KINDS,
    FailedRowsWriter,
    Format,
    Ignored,
    InputRow,
    Kind,
    SeenKeys,
    check_header,
    count_rows,
    detect_format,
    header_of,
    line_ending_of,
    read_rows,
    validate,
)
from ._stops import StorageFullError, writing
from ._target import Target, build_client
from ._words import count, count_was

__all__ = ["ImportOptions", "ImportReport", "referral_code", "run_import"]

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_INTERRUPTED = 130
_SAMPLES = 5


@attrs.frozen
class ImportOptions:
    """Everything ``irefer import`` was asked to do."""

    kind: str
    path: Path
    target: Target
    concurrency: int = 8
    rate: float | str | None = "default"
    dry_run: bool = False
    results: Path | None = None
    failed: Path | None = None
    ledger: Path | None = None
    resume: bool = False
    progress: str = "auto"
    progress_interval: float = 1.0
    strict_columns: bool = False


@attrs.define
class ImportReport:
    """What an import did: counts by status and where the files are."""

    counts: Counts
    results: Path | None
    failed: Path | None
    failed_rows: int
    resumed: int = 0
    reconciled: int = 0
    interrupted: bool = False
    #: The first few problems (line, status, error).
    samples: list[str] = attrs.Factory(list)
    #: One-line notices about the whole file (ignored columns...).
    notices: list[str] = attrs.Factory(list)
    #: Rows cancelled in flight by the interruption: left to ``--resume``, not "failed".
    cut_short: int = 0
    #: The file that could not be written for lack of space, when that stopped the run.
    storage_full: StorageFullError | None = None

    @property
    def exit_code(self) -> int:
        """0 when every row is ok (duplicates are skipped, not failures), else 1."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        s = self.counts.by_status
        return EXIT_ROWS_FAILED if s["failed"] or s["unknown"] or s["invalid"] else EXIT_OK


def referral_code(referral_link: str) -> str:
    """Return the code in a referral link (see the results' ``referral_code`` property)."""
    return referral_code_of(referral_link)


def _result_fields(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    fields = {
        f.name: getattr(result, f.name)
        for f in attrs.fields(type(result))
        if f.name not in ("raw", "rewards_offered", "fetched_at")
    }
    link = fields.get("referral_link")
    if isinstance(link, str):
        fields["referral_code"] = referral_code(link)
    return fields


def _record(row: InputRow, status: str, error: str | None, error_type: str | None = None,
            result: Any = None) -> dict[str, Any]:  # fmt: skip
    return {
        "line": row.line,
        "key": row.key,
        "status": status,
        "error": error,
        "error_type": error_type,
        "row": row.raw,
        "result": _result_fields(result),
    }


def _outcome_record(row: InputRow, outcome: BulkOutcome[Any, Any]) -> dict[str, Any]:
    error = outcome.error
    return _record(
        row,
        outcome.status.value,
        None if error is None else str(error),
        None if error is None else type(error).__name__,
        outcome.result,
    )


def _default_paths(opts: ImportOptions) -> tuple[Path, Path, Path]:
    path = opts.path
    results = opts.results or path.with_name(path.name + ".results.jsonl")
    suffix = path.suffix or (".csv" if detect_format(path) == "csv" else ".jsonl")
    failed = opts.failed or path.with_name(f"{path.stem}.failed{suffix}")
    ledger = opts.ledger or results.with_name(results.name + ".ledger.sqlite")
    return results, failed, ledger


def _open_results(path: Path) -> IO[str]:
    """Open the results file for writing (a seam: tests replace it to fill the disk)."""
    # A row in another encoding is echoed with \udcXX escapes: still valid UTF-8 and JSON.
    return path.open("w", encoding="utf-8", errors="backslashreplace")


class _Sink:
    """Results file, failed-rows file, ledger and progress: where every row ends up.

    Once a write has failed for lack of space (`full`), nothing more is written: a row that
    ends after that is counted as cut short, its ledger row left unsettled for ``--resume``.
    """

    def __init__(
        self,
        results: IO[str] | None,
        failed: FailedRowsWriter | None,
        ledger: Ledger | None,
        reporter: NoProgress,
        paths: tuple[Path, Path] = (Path("results"), Path("failed")),
    ) -> None:
        self.results = results
        self.failed = failed
        self.ledger = ledger
        self.reporter = reporter
        self.paths = paths
        #: The first few problems, for the summary.
        self.samples: list[str] = []
        #: The first write that failed for lack of space.
        self.full: StorageFullError | None = None
        #: Rows that ended after `full`: left to ``--resume``.
        self.unrecorded = 0

    def emit(self, row: InputRow, record: dict[str, Any], *, ledger_state: str | None) -> None:
        if self.full is not None:
            self.unrecorded += 1
            return
        try:
            self._write(row, record, ledger_state)
        except StorageFullError as exc:
            self.full = exc
            self.unrecorded += 1
            raise

    def _write(self, row: InputRow, record: dict[str, Any], ledger_state: str | None) -> None:
        status = record["status"]
        if self.results is not None:
            with writing(self.paths[0]):
                self.results.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        if self.failed is not None and status in ("failed", "unknown", "invalid"):
            with writing(self.paths[1]):
                self.failed.write(row.raw)
        if status in ("failed", "unknown", "invalid", "duplicate") and len(self.samples) < _SAMPLES:
            self.samples.append(f"line {row.line}: {status}: {record['error']}")
        if self.ledger is not None and ledger_state is not None and row.key is not None:
            self.ledger.finish(row.key, ledger_state, record)
        self.reporter.advance(status)

    def cut_short(self, row: InputRow) -> None:
        """Record a row cancelled in flight by an interruption: left to ``--resume``.

        It may or may not have been sent, so it is neither failed nor in the failed-rows
        file (re-importing that file could send it twice); the ledger keeps it unsettled.
        """
        if self.full is not None:
            return  # the ledger keeps it in flight: --resume settles it
        record = _record(
            row,
            "unknown",
            "interrupted while in flight (it may or may not have been sent); "
            "--resume settles it with a read",
            "Interrupted",
        )
        try:
            if self.results is not None:
                with writing(self.paths[0]):
                    self.results.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            if self.ledger is not None and row.key is not None:
                self.ledger.finish(row.key, "unknown", record)
        except StorageFullError as exc:
            self.full = exc  # the ledger keeps it in flight: --resume settles it


async def _settle(client: IReferClient, kind: Kind, ledger: Ledger, console: Console) -> int:
    """Resume: decide, with reads, whether rows left in flight landed. Returns how many did.

    The reads are the endpoint table's reconciling reads, the same the client runs for an
    ambiguous write; the action list is read once per campaign and shared by every row.
    """
    unsettled = list(ledger.unsettled())
    if not unsettled:
        return 0
    # Settle before deciding: a row sent by the earlier run less than the settle window ago
    # may still be processed; the shared scans answer every row at once (one list read per
    # campaign and list, not one read per row).
    last = ledger.last_sent() or 0.0

    async def one(key: str, line: int, raw: dict[str, Any]) -> tuple[str, InputRow, Any]:
        row = validate(kind, line, raw)
        try:
            result = await client.find_landed(row.request, sent_at=last)
        except IReferError as exc:
            return key, row, exc
        return key, row, result

    landed = 0
    for key, row, result in await asyncio.gather(*(one(*item) for item in unsettled)):
        if isinstance(result, IReferError):
            console.print(
                f"[yellow]line {row.line}: cannot tell whether it landed ({result}); left unknown"
            )
            continue
        if result is None:
            ledger.forget(key)
            continue
        landed += 1
        record = _record(row, "ok", None, result=result)
        record["reconciled"] = True
        ledger.finish(key, "ok", record)
    ledger.flush()
    return landed


def _feed(  # noqa: PLR0917 - private, called once
    kind: Kind,
    rows: Iterator[InputRow],
    sink: _Sink,
    ledger: Ledger | None,
    states: dict[str, str],
    pending: dict[int, InputRow],
    report: ImportReport,
    batch: int,
) -> Generator[Any, None, None]:
    """Yield the requests to send, in file order; every other row is accounted for on the way.

    Rows are marked in flight in the ledger a batch at a time, before any of them is yielded.
    """
    seen = SeenKeys()
    index = 0
    buffer: list[InputRow] = []
    for row in rows:
        if row.error is not None:
            sink.emit(row, _record(row, "invalid", row.error, "InvalidRow"), ledger_state=None)
            continue
        assert row.key is not None
        first = seen.earlier(row.key, row.line)
        if first is not None:
            duplicate = _record(row, "duplicate", kind.duplicate_error(first), "DuplicateRow")
            sink.emit(row, duplicate, ledger_state=None)
            continue
        state = states.get(row.key)
        if ledger is not None and state is not None:
            if state in FINISHED:
                record = ledger.record(row.key) or _record(row, state, None)
                record["line"] = row.line
                report.resumed += 1
                if state != "invalid":
                    report.counts.carried += 1
                sink.emit(row, record, ledger_state=None)
                continue
            # Still in flight and no read could settle it: never resend blindly.
            sink.emit(row, _record(row, "unknown", "in flight in an earlier run; its outcome "
                                   "could not be settled", "WriteOutcomeUnknownError"),
                      ledger_state=None)  # fmt: skip
            continue
        buffer.append(row)
        if len(buffer) >= batch:
            index = yield from _flush(buffer, ledger, pending, index)
    if buffer:
        yield from _flush(buffer, ledger, pending, index)


def _flush(
    buffer: list[InputRow], ledger: Ledger | None, pending: dict[int, InputRow], index: int
) -> Generator[Any, None, int]:
    if ledger is not None:
        ledger.mark_in_flight((r.key or "", r.line, r.raw) for r in buffer)
    rows = buffer[:]
    buffer.clear()
    for row in rows:
        pending[index] = row
        index += 1
        yield row.request
    return index


async def _submit(
    run: BulkRun[Any, Any], pending: dict[int, InputRow], sink: _Sink, report: ImportReport
) -> None:
    """Consume the bulk run; on interruption, record what was produced but not yielded."""

    def emit(outcome: BulkOutcome[Any, Any]) -> None:
        row = pending.pop(outcome.index)
        sink.emit(row, _outcome_record(row, outcome), ledger_state=outcome.status.value)

    interrupted = False
    try:
        async with run:
            async for outcome in run:
                emit(outcome)
    except (asyncio.CancelledError, KeyboardInterrupt, StorageFullError) as exc:
        interrupted = True
        if isinstance(exc, StorageFullError) and sink.full is None:
            sink.full = exc  # raised by the ledger while marking rows: write nothing more
        raise
    finally:
        for outcome in run.undelivered:
            if interrupted and outcome.status is BulkStatus.UNKNOWN:
                # Cancelled in flight by the interruption: --resume settles it with a read.
                sink.cut_short(pending.pop(outcome.index))
                report.cut_short += 1
            else:
                emit(outcome)


def _check_file(path: Path, fmt: Format, kind: Kind, *, strict: bool) -> Ignored:
    """Report a problem of the whole file once, before any row is read or sent."""
    ignored = Ignored()
    if fmt == "csv":
        check_header(path, kind, ignored, strict=strict)
    return ignored


def _dry_run(  # noqa: PLR0917 - private, called once
    path: Path, fmt: Format, kind: Kind, counts: Counts, console: Console, strict: bool
) -> ImportReport:
    """Validate and count; show the first errors."""
    reporter = NoProgress(counts)
    shown = 0
    seen = SeenKeys()
    ignored = _check_file(path, fmt, kind, strict=strict)
    for row in read_rows(path, fmt, kind, strict=strict, ignored=ignored):
        if row.error is not None:
            if shown < 20:
                console.print(f"line {row.line}: [red]invalid[/]: ", end="")
                console.print(row.error, markup=False)
                shown += 1
            reporter.advance("invalid")
        elif row.key is not None and (first := seen.earlier(row.key, row.line)) is not None:
            if shown < 20:
                console.print(f"line {row.line}: [yellow]duplicate[/]: ", end="")
                console.print(kind.duplicate_error(first), markup=False)
                shown += 1
            reporter.advance("duplicate")
        else:
            reporter.advance("ok")
    notice = ignored.notice(strict=strict)
    return ImportReport(counts, None, None, 0, notices=[notice] if notice else [])


async def run_import(opts: ImportOptions, console: Console) -> ImportReport:
    """Run one import; the caller turns the report into output and an exit code."""
    kind = KINDS[opts.kind]
    fmt: Format = detect_format(opts.path)
    results_path, failed_path, ledger_path = _default_paths(opts)
    counts = Counts(count_rows(opts.path, fmt))
    header = header_of(opts.path) if fmt == "csv" else None

    if opts.dry_run:
        return _dry_run(opts.path, fmt, kind, counts, console, opts.strict_columns)
    ignored = _check_file(opts.path, fmt, kind, strict=opts.strict_columns)

    client, _ = build_client(opts.target, rate=opts.rate, concurrency=opts.concurrency)
    try:
        ledger = Ledger(ledger_path, kind=kind.name, resume=opts.resume)
    except BaseException as exc:
        await _abandon(exc, opts, client, None)
        raise
    failed = FailedRowsWriter(failed_path, fmt, header, line_ending=line_ending_of(opts.path))
    try:
        with writing(results_path):
            results = _open_results(results_path)
    except BaseException as exc:
        await _abandon(exc, opts, client, ledger)
        raise
    report = ImportReport(counts, results_path, failed_path, 0)
    sink = _Sink(results, failed, ledger, NoProgress(counts), (results_path, failed_path))
    report.samples = sink.samples
    full: StorageFullError | None = None
    try:
        async with client:
            await _send_all(client, opts, kind, fmt, ignored, sink, report, console)
    except (asyncio.CancelledError, KeyboardInterrupt):
        report.interrupted = True
        raise
    except StorageFullError as exc:
        full = exc
    finally:
        sink.reporter.close()
        full = _close_files(ledger, results, failed, (results_path, failed_path)) or full
        report.failed_rows = failed.count
        report.cut_short += sink.unrecorded
        _conclude(report, ignored, opts, console, full)
    if full is not None:
        raise full
    return report


async def _send_all(  # noqa: PLR0917 - private, called once
    client: IReferClient,
    opts: ImportOptions,
    kind: Kind,
    fmt: Format,
    ignored: Ignored,
    sink: _Sink,
    report: ImportReport,
    console: Console,
) -> None:
    """Settle an earlier run's rows (``--resume``), then send every row not finished yet."""
    ledger = sink.ledger
    assert ledger is not None
    states: dict[str, str] = {}
    if opts.resume:
        report.reconciled = await _settle(client, kind, ledger, console)
        states = ledger.states()
    sink.reporter = make_reporter(
        opts.progress, report.counts, console, f"{kind.name}", opts.progress_interval
    )
    pending: dict[int, InputRow] = {}
    rows = read_rows(opts.path, fmt, kind, strict=opts.strict_columns, ignored=ignored)
    feed = _feed(kind, rows, sink, ledger, states, pending, report, batch=max(opts.concurrency, 16))
    bulk = client.bulk_new_signups if kind.name == "signups" else client.bulk_new_specific_actions
    try:
        await _submit(bulk(feed, concurrency=opts.concurrency), pending, sink, report)
    finally:
        feed.close()


async def _abandon(
    exc: BaseException, opts: ImportOptions, client: IReferClient, ledger: Ledger | None
) -> None:
    """Close what was opened when the import cannot start (nothing was sent)."""
    if ledger is not None:
        ledger.close()
    await client.aclose()
    if isinstance(exc, StorageFullError):
        exc.hint = _resume_hint(opts)


def _resume_hint(opts: ImportOptions) -> str:
    return (
        f"free some space, then `irefer import {opts.kind} {opts.path} --resume` (with the "
        "same options) settles the rows that were in flight and sends the rest"
    )


def _close_files(
    ledger: Ledger, results: IO[str], failed: FailedRowsWriter, paths: tuple[Path, Path]
) -> StorageFullError | None:
    """Commit and close every file; return the first failure for lack of space (if any).

    Each is closed even when another could not be written: a results line or an outcome lost
    here leaves its row unsettled in the ledger, which ``--resume`` settles with a read.
    """
    first: StorageFullError | None = None

    def results_close() -> None:
        try:
            results.flush()
            os.fsync(results.fileno())
        finally:
            results.close()

    steps = ((ledger.path, ledger.close), (paths[0], results_close), (paths[1], failed.close))
    for path, close in steps:
        try:
            with writing(path):
                close()
        except StorageFullError as exc:
            first = first or exc
    return first


def _conclude(
    report: ImportReport,
    ignored: Ignored,
    opts: ImportOptions,
    console: Console,
    full: StorageFullError | None = None,
) -> None:
    notice = ignored.notice(strict=opts.strict_columns)
    if notice:
        report.notices.append(notice)
    if full is not None:  # stopped like an interruption: the caller prints the one line
        full.hint = _resume_hint(opts)
        report.interrupted = True
        report.storage_full = full
    if report.interrupted:  # the caller never gets the report: show it now
        print_summary(report, console, kind=opts.kind, dry_run=False)


def print_summary(report: ImportReport, console: Console, *, kind: str, dry_run: bool) -> None:
    """Print the summary table, and where the files are."""
    c = report.counts
    for notice in report.notices:
        console.print(notice, markup=False)
    title = " (dry run)" if dry_run else " (interrupted)" if report.interrupted else ""
    console.print(f"[bold]irefer import {kind}{title}")
    table = Table()
    table.add_column("status")
    table.add_column("rows", justify="right")
    labels = {"ok": "valid" if dry_run else "ok"}
    for status, n in c.by_status.items():
        if n or status in ("ok", "failed"):
            table.add_row(labels.get(status, status), str(n))
    if report.cut_short:
        table.add_row("in flight when interrupted", str(report.cut_short))
    table.add_row("[bold]total", f"[bold]{c.done + report.cut_short}")
    console.print(table)
    if report.interrupted and c.total is not None:
        left = c.total - c.done - report.cut_short
        console.print(
            f"interrupted: {count_was(report.cut_short, 'row')} in flight (they may or may "
            f"not have been sent; not counted as failed) and {count_was(left, 'row')} not "
            "reached; "
            "--resume settles the first and sends the rest"
        )
    elapsed = c.elapsed
    if not dry_run:
        rate = c.sent / elapsed if elapsed > 0 else 0.0
        console.print(f"sent {count(c.sent, 'row')} in {elapsed:.1f}s ({rate:.0f}/s)")
    if report.resumed or report.reconciled:
        console.print(
            f"resumed: {count(report.resumed, 'row')} already finished, "
            f"{count(report.reconciled, 'in-flight row')} found to have landed"
        )
    if report.results is not None:
        console.print(f"results: {report.results}")
    for sample in report.samples:
        console.print(sample, markup=False)
    if report.failed is not None and report.failed_rows:
        console.print(
            f"failed rows: {report.failed} ({report.failed_rows}); fix and re-run with "
            f"`irefer import {kind} {report.failed}`"
        )
