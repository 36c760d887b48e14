"""``irefer export`` streams big lists: CSV and JSON written as rows arrive, with progress."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from irefer_async import IReferClient
from irefer_async.cli import cli
from irefer_async.cli._export import export_rows
from irefer_async.cli._query import flatten
from irefer_async.testing import Emulator
from irefer_async.testing import _wire as wire

N = wire.STREAM_ROWS + 700  # served as a streamed body


@pytest.fixture
def big(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    emulator.seed_participants(N)
    emulator.seed_rewards(N)
    emulator.seed_actions(N)

    async def no_tuples(*args: object, **kwargs: object) -> None:
        raise AssertionError("export must stream, not load the whole list")

    for name in ("referrers", "rewards", "specific_action_signups"):
        monkeypatch.setattr(IReferClient, name, no_tuples)
    return emulator


@pytest.mark.parametrize(
    ("what", "first_column", "key"),
    [("referrers", "id", "email"), ("rewards", "id", "recipient_email"),
     ("actions", "id", "referred_person")],
)  # fmt: skip
def test_csv_streams_every_row(
    runner: CliRunner, big: Emulator, workdir: Path, what: str, first_column: str, key: str
) -> None:
    result = runner.invoke(cli, ["export", what, "--emulator", "--format", "csv"])
    assert result.exit_code == 0, result.output + result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == N
    assert next(iter(rows[0])) == first_column
    assert len({r[key] for r in rows}) == N or what == "rewards"
    assert result.stderr == ""  # no progress when stderr is not a terminal


def test_json_streams_every_field(runner: CliRunner, big: Emulator, workdir: Path) -> None:
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", "json"])
    assert result.exit_code == 0, result.output + result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == N
    assert rows[0]["email"] == f"seeded{N - 1}@example.com"
    assert "raw" not in rows[0] and "info_5" in rows[0]


def test_output_file(runner: CliRunner, big: Emulator, workdir: Path) -> None:
    result = runner.invoke(
        cli, ["export", "actions", "--emulator", "--format", "csv", "--all-columns", "-o", "a.csv"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader((workdir / "a.csv").open(encoding="utf-8")))
    assert len(rows) == N
    assert "ip" in rows[0]


@pytest.mark.parametrize(("fmt", "expected"), [("json", []), ("csv", "id,email")])
def test_an_empty_list_is_still_valid_output(
    runner: CliRunner, emulator: Emulator, workdir: Path, fmt: str, expected: object
) -> None:
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.stdout) == expected
    else:
        assert result.stdout.startswith(str(expected))


async def test_progress_shows_rows_and_bytes_on_a_terminal() -> None:
    emulator = Emulator()
    emulator.seed_participants(N)
    out = io.StringIO()
    screen = io.StringIO()
    err = Console(file=screen, force_terminal=True, width=120)
    async with emulator.client() as client:
        count = await export_rows(
            client, "referrers", "csv", out, columns=["email"], console=Console(file=out), err=err
        )
        expected = [flatten(r)["email"] for r in await client.referrers()]
    assert count == N
    assert out.getvalue().splitlines() == ["email", *expected]
    text = screen.getvalue()
    assert f"{N:,} rows" in text
    body_mb = len(bytes(wire.referrers(emulator._campaign(None)))) / 1e6
    assert f"{body_mb:.1f} MB" in text


def test_a_failed_export_exits_1_with_a_redacted_message(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    emulator.inject_fault("error_body", method="referrers", times=None)
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", "csv"])
    assert result.exit_code == 1
    assert "referrers" in result.stderr
    assert emulator.default_campaign.api_key not in result.stderr + result.stdout


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
@pytest.mark.parametrize("existing", [None, "an earlier export\n"])
def test_a_failed_export_writes_no_file(
    runner: CliRunner, emulator: Emulator, workdir: Path, fmt: str, existing: str | None
) -> None:
    """A wrong key (the first request fails): no `[` nor empty file; an earlier file is kept."""
    out = workdir / f"ref.{fmt}"
    if existing is not None:
        out.write_text(existing, encoding="utf-8")
    emulator.inject_fault("error_body", method="referrers", times=None)
    result = runner.invoke(
        cli, ["export", "referrers", "--emulator", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    if existing is None:
        assert not out.exists()
    else:
        assert out.read_text(encoding="utf-8") == existing
    assert sorted(p.name for p in workdir.iterdir()) == ([out.name] if existing else [])


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_failed_export_prints_nothing_on_stdout(
    runner: CliRunner, emulator: Emulator, workdir: Path, fmt: str
) -> None:
    emulator.inject_fault("error_body", method="referrers", times=None)
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", fmt])
    assert result.exit_code == 1
    assert result.stdout == ""


def test_an_output_file_is_created_as_any_file_is(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """Written through a temporary file renamed at the end: the usual permissions (umask)."""
    import os

    emulator.seed_participants(3)
    umask = os.umask(0o022)
    os.umask(umask)
    result = runner.invoke(
        cli, ["export", "referrers", "--emulator", "--format", "json", "-o", "r.json"]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads((workdir / "r.json").read_text(encoding="utf-8"))) == 3
    assert (workdir / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in workdir.iterdir()] == ["r.json"]
