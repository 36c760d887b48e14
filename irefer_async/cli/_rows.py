"""Input files: CSV with a header or JSON lines, read lazily and validated row by row.

A row becomes a request only if it passes the SDK's own checks (the same
`build_params` the client runs), so a row reported valid here is never rejected client-side
later. Cells are sent exactly as written, like the SDK sends its arguments (no trimming); an
empty CSV cell or a JSON null means "not given".

Columns the command does not know are ignored (real exports carry extra ones) and reported
once, by `check_header` for CSV and in `Ignored` for JSON lines; ``strict=True`` refuses them.
Problems of the whole file (a header that is not UTF-8, a required column missing from the
header) raise `InputFileError` once, before any row is read, instead of failing every row.
Line numbers are those of the line a record starts on (the header is line 1).

The failed-rows file is written in the input's own format (CSV: the same header, the cells
as read), so it can be fed back to ``irefer import`` unedited.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Literal

import attrs

import irefer_async.endpoints as ep
from irefer_async import InvalidRequestError, NewSignupRequest, NewSpecificActionRequest

__all__ = [
    "KINDS",
    "FailedRowsWriter",
    "Ignored",
    "InputFileError",
    "InputRow",
    "Kind",
    "check_header",
    "count_rows",
    "detect_format",
    "line_ending_of",
    "read_rows",
]

Format = Literal["csv", "jsonl"]


@attrs.frozen
class Kind:
    """What a file holds: signups or specific actions (columns and key from the endpoint table)."""

    name: str
    endpoint: ep.Endpoint[Any]
    request: type[Any]

    #: The columns a file may have: the endpoint's parameters, then ``campaign_id``.
    columns: tuple[str, ...] = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: (*self.endpoint.param_names, "campaign_id"), True),
    )
    #: The columns every row must fill.
    required: tuple[str, ...] = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: tuple(p.name for p in self.endpoint.params if p.required), True
        ),
    )

    def key(self, values: Mapping[str, str]) -> str | None:
        """Return the duplicate key of a validated row: the endpoint table's row key."""
        return self.endpoint.row_key(values)


#: The two kinds of import, by CLI name.
KINDS = {
    "signups": Kind("signups", ep.NEW_SIGNUP, NewSignupRequest),
    "actions": Kind("actions", ep.NEW_SPECIFIC_ACTION, NewSpecificActionRequest),
}


@attrs.define(slots=True)
class InputRow:
    """One row of the input file, as read, and what validation made of it."""

    #: 1-based line number (CSV: the line the record starts on; the header is line 1).
    line: int
    #: The row as read (CSV: column -> cell; JSONL: the object).
    raw: dict[str, Any]
    #: The request, when the row is valid.
    request: Any = None
    #: The duplicate key, when the row is valid.
    key: str | None = None
    #: Why the row is invalid (None when valid).
    error: str | None = None


def detect_format(path: Path) -> Format:
    """CSV or JSON lines, from the extension or else the first non-blank character."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape") as f:
        head = f.read(4096).lstrip()
    return "jsonl" if head.startswith("{") else "csv"


def count_rows(path: Path, fmt: Format) -> int:
    """Count the data rows quickly (for the progress bar's total)."""
    with path.open("r", encoding="utf-8-sig", errors=_UNDECODABLE, newline="") as f:
        if fmt == "csv":
            return max(sum(1 for _ in _records(csv.reader(f))) - 1, 0)
        return sum(1 for line in f if line.strip())


#: Bytes that are not UTF-8 are kept (as lone surrogates) so the row fails alone, not the file.
_UNDECODABLE = "surrogateescape"


def _decoded(value: Any) -> bool:
    """Return False for text holding bytes that were not UTF-8 (a row in another encoding)."""
    if isinstance(value, list):
        return all(_decoded(v) for v in value)
    if not isinstance(value, str) or value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class InputFileError(InvalidRequestError):
    """The whole file cannot be imported (reported once, before any row is sent)."""


class Ignored:
    """Columns met in the file that the command does not know, and therefore does not send."""

    __slots__ = ("columns",)

    def __init__(self) -> None:
        #: The unknown column names met so far.
        self.columns: set[str] = set()

    def notice(self, *, strict: bool = False) -> str | None:
        """Return the one line naming the ignored columns (None if none were)."""
        if not self.columns or strict:
            return None
        names = ", ".join(sorted(self.columns))
        return (
            f"notice: ignored column(s) not sent to iRefer: {names} (--strict-columns refuses them)"
        )


def _clean(value: Any) -> Any:
    # Exact, like the SDK: only an empty cell (or a JSON null) means "not given".
    return None if value == "" else value


def check_header(path: Path, kind: Kind, ignored: Ignored, *, strict: bool = False) -> None:
    """Check a CSV file's header once; raise `InputFileError` for a problem of the whole file.

    Unknown columns are added to *ignored* (or refused when *strict*).
    """
    header = header_of(path)
    if not header:
        raise InputFileError(f"{path}: line 1: no header row (expected {', '.join(kind.columns)})")
    if not all(_decoded(cell) for cell in header):
        raise InputFileError(
            f"{path}: line 1 (the header): not valid UTF-8 text (is the file in another encoding?)"
        )
    missing = [c for c in kind.required if c not in header]
    if missing:
        raise InputFileError(
            f"{path}: line 1 (the header): missing required column(s): {', '.join(missing)} "
            "(the first line must name the columns)"
        )
    unknown = [c for c in header if c not in kind.columns]
    if unknown and strict:
        raise InputFileError(
            f"{path}: line 1 (the header): unknown column(s): {', '.join(unknown)} "
            f"(known: {', '.join(kind.columns)}; without --strict-columns they are ignored)"
        )
    ignored.columns.update(unknown)


def _shape_error(
    kind: Kind, raw: dict[str, Any], *, strict: bool, ignored: Ignored | None
) -> str | None:
    """Return the encoding or column problem of one row (unknown columns pass unless *strict*)."""
    if not all(_decoded(k) and _decoded(v) for k, v in raw.items()):
        return "not valid UTF-8 text (is the file in another encoding?)"
    extra = raw.get("(extra cells)")
    if extra is not None:
        return f"{len(extra)} more cell(s) than the header has columns"
    unknown = [str(k) for k in raw if k not in kind.columns]
    if unknown and strict:
        return f"unknown column(s): {', '.join(sorted(unknown))}"
    if unknown and ignored is not None:
        ignored.columns.update(unknown)
    return None


def validate(
    kind: Kind,
    line: int,
    raw: dict[str, Any],
    *,
    strict: bool = False,
    ignored: Ignored | None = None,
) -> InputRow:
    """Check one row: encoding, columns, then the SDK's own argument checks.

    Unknown columns are left out of the request (and added to *ignored*), or make the row
    invalid when *strict*.
    """
    row = InputRow(line, raw)
    row.error = _shape_error(kind, raw, strict=strict, ignored=ignored)
    if row.error is not None:
        return row
    values = {k: _clean(v) for k, v in raw.items() if k in kind.columns}
    not_text = [k for k, v in values.items() if v is not None and not isinstance(v, str | int)]
    if not_text:
        row.error = f"column(s) must be text: {', '.join(not_text)}"
        return row
    missing = [c for c in kind.required if c not in raw]
    if missing:
        row.error = f"missing required column(s): {', '.join(missing)}"
        return row
    values = {k: (str(v) if isinstance(v, int) else v) for k, v in values.items() if v is not None}
    empty = [c for c in kind.required if c not in values]
    if empty:
        row.error = f"empty required cell(s): {', '.join(empty)}"
        return row
    campaign = values.pop("campaign_id", None)
    try:
        if campaign is not None:
            campaign = ep.check_campaign_id(campaign, method=kind.endpoint.name)
        ep.build_params(kind.endpoint, campaign or "1", values)
    except InvalidRequestError as exc:
        row.error = str(exc)
        return row
    row.key = kind.key(values)
    row.request = kind.request(**values, campaign_id=campaign)
    return row


def _records(reader: Iterator[Any]) -> Iterator[Any]:
    """Yield the reader's records; a record the csv module cannot parse comes as its error.

    (A field over ``csv.field_size_limit()``, a NUL byte on Python 3.10...) The reader starts
    afresh at the next line, so one bad record fails alone.
    """
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


class _Lines:
    """The file's lines, counted, so a record is reported at the line it starts on.

    ``csv.reader.line_num`` is the record's *last* line, and after a record the csv module
    could not parse it is off by the lines it skipped.
    """

    __slots__ = ("_file", "_start", "number")

    def __init__(self, f: IO[str]) -> None:
        self._file = f
        self.number = 0
        self._start: int | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text = next(self._file)
        self.number += 1
        # csv skips blank lines between records: a record starts at its first non-blank one.
        if self._start is None and text not in ("\n", "\r\n", "\r"):
            self._start = self.number
        return text

    def start(self) -> int:
        """Return the line the record just read started on; the next one starts afresh."""
        start, self._start = self._start, None
        return start if start is not None else self.number


def _read_csv(f: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    lines = _Lines(f)
    reader = csv.DictReader(lines, restkey="\0extra")
    with contextlib.suppress(csv.Error):  # the header (line 1) is checked by check_header
        _ = reader.fieldnames
    lines.start()
    for record in _records(reader):
        line = lines.start()
        if isinstance(record, csv.Error):
            yield line, {"(unparsed)": "", "(error)": f"not valid CSV: {record}"}
            continue
        extra = record.pop("\0extra", None)
        raw: dict[str, Any] = dict(record)
        if extra:
            raw["(extra cells)"] = extra
        yield line, raw


def _read_jsonl(f: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            yield line_no, {"(unparsed)": text.rstrip("\n"), "(error)": f"not JSON: {exc}"}
            continue
        if not isinstance(value, dict):
            yield line_no, {"(unparsed)": text.rstrip("\n"), "(error)": "not a JSON object"}
            continue
        yield line_no, value


def header_of(path: Path) -> list[str]:
    """Return the CSV header, as read."""
    with path.open("r", encoding="utf-8-sig", errors=_UNDECODABLE, newline="") as f:
        header: Any = next(_records(csv.reader(f)), [])
        return header if isinstance(header, list) else []


def read_rows(
    path: Path,
    fmt: Format,
    kind: Kind,
    *,
    strict: bool = False,
    ignored: Ignored | None = None,
) -> Iterator[InputRow]:
    """Read and validate the file lazily, one `InputRow` at a time (see `validate`)."""
    with path.open("r", encoding="utf-8-sig", errors=_UNDECODABLE, newline="") as f:
        source = _read_csv(f) if fmt == "csv" else _read_jsonl(f)
        for line, raw in source:
            if "(unparsed)" in raw:
                yield InputRow(line, raw, error=str(raw.pop("(error)")))
                continue
            yield validate(kind, line, raw, strict=strict, ignored=ignored)


class SeenKeys:
    """Keys already met in the file, kept as 8-byte digests so a million rows stay small."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def add(self, key: str) -> bool:
        """Record ``key``; False if it was already there."""
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True


def line_ending_of(path: Path) -> str:
    r"""Return the input's line ending: `"\r\n"` when its first line ends so, else `"\n"`."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    end = head.find(b"\n")
    return "\r\n" if end > 0 and head[end - 1 : end] == b"\r" else "\n"


class FailedRowsWriter:
    """Write rows back in the input's format (created on the first row only)."""

    def __init__(
        self, path: Path, fmt: Format, header: list[str] | None, *, line_ending: str = "\n"
    ) -> None:
        """Write to *path* (replaced); *line_ending* is the input's (see `line_ending_of`)."""
        self.path = path
        self._fmt = fmt
        self._header = header
        self._eol = line_ending
        self._file: IO[str] | None = None
        self._csv: Any = None
        #: Rows written so far.
        self.count = 0
        if path.exists():
            path.unlink()

    def write(self, raw: Mapping[str, Any]) -> None:
        """Append one row as it was read."""
        if self._file is None:
            self._file = self.path.open(
                "w", encoding="utf-8", errors=_UNDECODABLE, newline=""
            )  # undecodable bytes are written back exactly as read
            if self._fmt == "csv":
                self._csv = csv.writer(self._file, lineterminator=self._eol)
                self._csv.writerow(self._header or list(raw))
        if self._fmt == "csv":
            header = self._header or list(raw)
            self._csv.writerow([raw.get(column) or "" for column in header])
        elif "(unparsed)" in raw:
            self._file.write(str(raw["(unparsed)"]).rstrip("\r") + self._eol)
        else:
            self._file.write(json.dumps(raw, ensure_ascii=False) + self._eol)
        self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
