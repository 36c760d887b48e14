"""Reading and validating input files, and writing failed rows back."""

from __future__ import annotations

import csv
from pathlib import Path

from irefer_async import NewSignupRequest, NewSpecificActionRequest
from irefer_async.cli._rows import (
    KINDS,
    FailedRowsWriter,
    SeenKeys,
    count_rows,
    detect_format,
    read_rows,
)


def test_format_from_extension_or_content(tmp_path: Path) -> None:
    """.csv / .jsonl by name; otherwise a leading '{' means JSON lines."""
    (tmp_path / "a.txt").write_text('\n{"email": "a@example.com"}\n')
    (tmp_path / "b.txt").write_text("email\na@example.com\n")
    (tmp_path / "c.csv").write_text("")
    (tmp_path / "d.ndjson").write_text("")
    assert detect_format(tmp_path / "a.txt") == "jsonl"
    assert detect_format(tmp_path / "b.txt") == "csv"
    assert detect_format(tmp_path / "c.csv") == "csv"
    assert detect_format(tmp_path / "d.ndjson") == "jsonl"


def test_csv_rows_become_requests(tmp_path: Path) -> None:
    """Empty cells are 'not given'; other cells are sent exactly as written; source names work."""
    path = tmp_path / "s.csv"
    path.write_text(
        "email,name,source,campaign_id\na@example.com,  Padded  ,twitter,\nb@example.com,B,,77\n"
        'c@example.com,"multi\nline",,\n'
    )
    rows = list(read_rows(path, "csv", KINDS["signups"]))
    assert [r.error for r in rows] == [None, None, None]
    assert rows[0].request == NewSignupRequest("a@example.com", name="  Padded  ", source="twitter")
    assert rows[1].request == NewSignupRequest("b@example.com", name="B", campaign_id="77")
    assert [r.line for r in rows] == [2, 3, 4]  # a multi-line record: the line it starts on
    assert count_rows(path, "csv") == 3


def test_csv_lines_are_exact(tmp_path: Path) -> None:
    """Blank lines, multi-line records and an oversized cell do not shift the line numbers."""
    limit = csv.field_size_limit()
    path = tmp_path / "s.csv"
    path.write_text(
        "email,name\n"  # 1
        "a@example.com,A\n"  # 2
        "\n"  # 3 (blank)
        'b@example.com,"two\nlines"\n'  # 4-5
        f"c@example.com,{'x' * (limit + 10)}\n"  # 6: over the csv module's limit
        "d@example.com,D\n"  # 7
        'e@example.com,"x\n\ny"\n'  # 8-10
        "f@example.com,F\n"  # 11
    )
    rows = list(read_rows(path, "csv", KINDS["signups"]))
    assert [(r.line, r.error is None) for r in rows] == [
        (2, True), (4, True), (6, False), (7, True), (8, True), (11, True),
    ]  # fmt: skip
    assert rows[3].request.email == "d@example.com"


def test_empty_email_is_not_a_missing_column(tmp_path: Path) -> None:
    """An empty required cell says so; a missing column says that."""
    path = tmp_path / "s.csv"
    path.write_text("email,name\n,Nobody\n")
    (row,) = read_rows(path, "csv", KINDS["signups"])
    assert row.error == "empty required cell(s): email"
    path = tmp_path / "s.jsonl"
    path.write_text('{"email": null}\n{"name": "X"}\n')
    rows = list(read_rows(path, "jsonl", KINDS["signups"]))
    assert [r.error for r in rows] == [
        "empty required cell(s): email", "missing required column(s): email",
    ]  # fmt: skip


def test_non_utf8_rows_are_reported_at_their_line(tmp_path: Path) -> None:
    """A data row in another encoding fails alone, at its own line (JSONL line 1 is line 1)."""
    path = tmp_path / "s.csv"
    path.write_bytes(b"email,name\na@example.com,Ren\xe9\nb@example.com,B\n")
    rows = list(read_rows(path, "csv", KINDS["signups"]))
    assert [(r.line, r.error is None) for r in rows] == [(2, False), (3, True)]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"email": "a@example.com", "name": "Ren\xe9"}\n{"email": "b@example.com"}\n')
    rows = list(read_rows(path, "jsonl", KINDS["signups"]))
    assert [(r.line, r.error is None) for r in rows] == [(1, False), (2, True)]


def test_csv_row_errors(tmp_path: Path) -> None:
    """Extra cells, a bad campaign id: per-row errors."""
    path = tmp_path / "s.csv"
    path.write_text("email,campaign_id\na@example.com,1,extra\nb@example.com,abc\n")
    errors = [r.error for r in read_rows(path, "csv", KINDS["signups"])]
    assert errors[0] == "1 more cell(s) than the header has columns"
    assert errors[1] is not None and "campaign_id" in errors[1]


def test_jsonl_actions(tmp_path: Path) -> None:
    """JSON lines: objects only; numbers are accepted as text; missing columns reported."""
    path = tmp_path / "a.jsonl"
    path.write_text(
        '{"external_id": 42, "action": "/dashboard", "referrer_code": "X"}\n'
        "[1, 2]\n"
        '{"external_id": "p@example.com", "action": "/dashboard"}\n'
        '{"external_id": "p@example.com", "action": {"nested": 1}, "referrer_code": "X"}\n'
    )
    rows = list(read_rows(path, "jsonl", KINDS["actions"]))
    assert rows[0].request == NewSpecificActionRequest("42", "/dashboard", "X")
    assert rows[0].key == "42|/dashboard"
    assert rows[1].error == "not a JSON object"
    assert rows[2].error is not None and "referrer_code" in rows[2].error
    assert rows[3].error is not None and "text" in rows[3].error


def test_failed_rows_keep_header_and_cells(tmp_path: Path) -> None:
    """The failed-rows CSV has the input's header and the cells as read."""
    out = tmp_path / "f.csv"
    writer = FailedRowsWriter(out, "csv", ["email", "name", "phone"])
    writer.write({"email": "a@example.com", "name": "A, with comma", "phone": ""})
    writer.close()
    with out.open(newline="") as f:
        assert list(csv.reader(f)) == [
            ["email", "name", "phone"],
            ["a@example.com", "A, with comma", ""],
        ]
    assert writer.count == 1


def test_seen_keys() -> None:
    """Duplicate detection: a key met again gives the line it was first met on."""
    seen = SeenKeys()
    assert seen.earlier("a@example.com", 2) is None
    assert seen.earlier("a@example.com", 5) == 2
    assert seen.earlier("b@example.com", 6) is None
    assert seen.earlier("a@example.com", 9) == 2
