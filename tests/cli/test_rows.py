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
    """Empty cells are 'not given'; whitespace is trimmed; source names are accepted."""
    path = tmp_path / "s.csv"
    path.write_text(
        "email,name,source,campaign_id\n a@example.com ,,twitter,\nb@example.com,B,,77\n"
        'c@example.com,"multi\nline",,\n'
    )
    rows = list(read_rows(path, "csv", KINDS["signups"]))
    assert [r.error for r in rows] == [None, None, None]
    assert rows[0].request == NewSignupRequest("a@example.com", source="twitter")
    assert rows[1].request == NewSignupRequest("b@example.com", name="B", campaign_id="77")
    assert [r.line for r in rows] == [2, 3, 5]
    assert count_rows(path, "csv") == 3


def test_csv_row_errors(tmp_path: Path) -> None:
    """Extra cells, a bad campaign id: per-row errors."""
    path = tmp_path / "s.csv"
    path.write_text("email,campaign_id\na@example.com,1,extra\nb@example.com,abc\n")
    errors = [r.error for r in read_rows(path, "csv", KINDS["signups"])]
    assert errors[0] is not None and "unknown column" in errors[0]
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
    """Duplicate detection."""
    seen = SeenKeys()
    assert seen.add("a@example.com")
    assert not seen.add("a@example.com")
    assert seen.add("b@example.com")
