"""Small output details of the CLI: the bar's categories, wrapping, line endings, wording."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from irefer_async.cli import cli
from irefer_async.cli._progress import Counts, RichProgress
from irefer_async.testing import Emulator


def test_the_bar_counts_the_statuses_the_table_shows() -> None:
    """failed 3 / invalid 2 / unknown 1 on the bar as in the final table (not "failed 6")."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    bar = RichProgress(Counts(10), console, "signups")
    for status in ["ok"] * 3 + ["failed"] * 3 + ["invalid"] * 2 + ["unknown", "duplicate"]:
        bar.advance(status)
    bar.close()
    last = [line for line in out.getvalue().splitlines() if "signups" in line][-1]
    assert "ok 3" in last and "failed 3" in last
    assert "invalid 2" in last and "unknown 1" in last and "duplicate 1" in last


@pytest.mark.parametrize("columns", [None, "80"])
@pytest.mark.parametrize("dry_run", [True, False])
def test_piped_row_errors_are_not_wrapped(
    runner: CliRunner,
    emulator: Emulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    columns: str | None,
    dry_run: bool,
) -> None:
    """Off a terminal each row's error is one line, however long (a file or a pipe)."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    path = workdir / "s.csv"
    path.write_text("email,source\nann@example.com," + "myspace" * 20 + "\n")
    args = ["import", "signups", str(path), "--emulator", "--progress", "none"]
    result = runner.invoke(cli, [*args, "--dry-run"] if dry_run else args)
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if "unknown lead source" in line]
    assert lines, result.stdout
    assert all(line.rstrip().endswith("'e' (email)") for line in lines), result.stdout
    assert len(lines[0]) > 200


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_the_failed_rows_file_keeps_the_inputs_line_ending(
    runner: CliRunner, emulator: Emulator, workdir: Path, eol: str, suffix: str
) -> None:
    """LF in, LF out; CRLF in, CRLF out (the failed-rows file is the input's own format)."""
    if suffix == "csv":
        lines = ["email,name", "ann@example.com,Ann", "bad,Bob", "cat@example.com,Cat", "nope,Dan"]
    else:
        lines = ['{"email": "ann@example.com"}', '{"email": "bad"}', "not json"]
    path = workdir / f"s.{suffix}"
    path.write_bytes(eol.join(lines).encode() + eol.encode())
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    failed = (workdir / f"s.failed.{suffix}").read_bytes()
    if suffix == "csv":
        assert failed == eol.join(["email,name", "bad,Bob", "nope,Dan"]).encode() + eol.encode()
    else:
        assert failed == eol.join(['{"email": "bad"}', "not json"]).encode() + eol.encode()


@pytest.mark.parametrize(("rows", "said"), [(1, "sent 1 row in"), (2, "sent 2 rows in")])
def test_sent_rows_is_singular_for_one(
    runner: CliRunner, emulator: Emulator, workdir: Path, rows: int, said: str
) -> None:
    """The import summary says "sent 1 row", "sent 2 rows"."""
    path = workdir / "s.csv"
    path.write_text("email\n" + "".join(f"u{i}@example.com\n" for i in range(rows)))
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 0
    assert said in result.stdout


@pytest.mark.parametrize(
    ("n", "noun", "said", "said_was"),
    [
        (0, "row", "0 rows", "0 rows were"),
        (1, "row", "1 row", "1 row was"),
        (2, "row", "2 rows", "2 rows were"),
        (1, "in-flight row", "1 in-flight row", "1 in-flight row was"),
        (3, "new event", "3 new events", "3 new events were"),
    ],
)
def test_counts_agree_in_number(n: int, noun: str, said: str, said_was: str) -> None:
    """Every count the CLI prints ("interrupted: 1 row was in flight", "poll 3: 1 row")."""
    from irefer_async.cli._words import count, count_was

    assert count(n, noun) == said
    assert count_was(n, noun) == said_was
