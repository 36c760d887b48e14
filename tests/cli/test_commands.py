"""``irefer stats``, ``irefer export``, ``irefer demo``, ``irefer emulator`` and the entry points."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from irefer_async.cli import cli, main
from irefer_async.testing import Emulator


@pytest.fixture
def seeded(emulator: Emulator) -> Emulator:
    """Ann referred two friends; one did an action."""
    ann = emulator.add_participant("ann@example.com", name="Ann")
    emulator.add_participant("f1@example.com", referrer_code=ann.code, source="t")
    emulator.add_participant("f2@example.com", referrer_code=ann.code, source="f")
    emulator.record_views(10)
    return emulator


def test_stats_campaign(runner: CliRunner, seeded: Emulator, workdir: Path) -> None:
    """The campaign's numbers, as a table and as JSON."""
    table = runner.invoke(cli, ["stats", "campaign", "--emulator"])
    assert table.exit_code == 0, table.output
    assert "signups_total" in table.stdout and "3" in table.stdout
    as_json = runner.invoke(cli, ["stats", "campaign", "--emulator", "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data["signups_total"] == 3 and data["referrals"] == 2 and data["total_views"] == 10


def test_stats_referrer(runner: CliRunner, seeded: Emulator, workdir: Path) -> None:
    """One participant's stats; an unknown email is an API error (exit 1)."""
    result = runner.invoke(
        cli, ["stats", "referrer", "ann@example.com", "--emulator", "--format", "json"]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["referrals_made"] == 2
    missing = runner.invoke(cli, ["stats", "referrer", "who@example.com", "--emulator"])
    assert missing.exit_code == 1
    assert "referrerStats" in missing.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_export_referrers(runner: CliRunner, seeded: Emulator, workdir: Path, fmt: str) -> None:
    """Every participant, in each format."""
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = json.loads(result.stdout)
        assert {r["email"] for r in rows} == {"ann@example.com", "f1@example.com", "f2@example.com"}
        assert "raw" not in rows[0]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert {r["email"] for r in rows} == {"ann@example.com", "f1@example.com", "f2@example.com"}
        assert {r["referrer_email"] for r in rows} == {"", "ann@example.com"}
    else:
        assert "f2@example.com" in result.stdout


def test_export_rewards_and_actions(runner: CliRunner, seeded: Emulator, workdir: Path) -> None:
    """Rewards triggered (Ann reached the first reward) and actions (none yet)."""
    rewards = runner.invoke(cli, ["export", "rewards", "--emulator", "--format", "json"])
    assert rewards.exit_code == 0
    assert [r["recipient_email"] for r in json.loads(rewards.stdout)] == ["ann@example.com"]
    actions = runner.invoke(cli, ["export", "actions", "--emulator", "--format", "csv"])
    assert actions.exit_code == 0
    assert actions.stdout.splitlines()[0].startswith("id,referrer_email")


def test_demo(runner: CliRunner, workdir: Path) -> None:
    """The demo imports generated referral chains and shows stats and top referrers."""
    result = runner.invoke(cli, ["demo", "--rows", "200", "--waves", "3"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "top referrers" in result.stdout
    assert "campaign stats" in result.stdout
    assert "200" in result.stdout


@pytest.mark.system
def test_main_and_module_entry_points(workdir: Path) -> None:
    """``main()`` is the console script; ``python -m irefer_async.cli`` works too."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = subprocess.run(
        [sys.executable, "-m", "irefer_async.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    for command in ("import", "stats", "export", "demo", "emulator"):
        assert command in out.stdout


def test_emulator_command_delegates(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """``irefer emulator`` hands its options to the emulator package's server."""
    import irefer_async.testing.__main__ as server

    seen: list[list[str]] = []
    monkeypatch.setattr(server, "main", lambda argv: seen.append(list(argv)) or 0)
    result = runner.invoke(cli, ["emulator", "--port", "9999", "--seed-demo", "--profile", "2019"])
    assert result.exit_code == 0
    assert seen == [
        ["--host", "127.0.0.1", "--port", "9999", "--seed", "0", "--profile", "2019", "--seed-demo"]
    ]
