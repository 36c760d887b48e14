"""What a newcomer reads: every command's help names the key variables, ids show as integers,
and JSON exports are readable UTF-8."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from irefer_async.cli import cli
from irefer_async.cli._export import export_rows
from irefer_async.testing import Emulator


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = sorted(_commands(cli))


def test_every_command_is_listed() -> None:
    """The walk below sees the nested commands too (a new command is covered by itself)."""
    assert {("import", "signups"), ("stats", "referrer"), ("export",), ("watch",), ("doctor",),
            ("demo",), ("emulator",)} <= set(COMMANDS)  # fmt: skip


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "irefer")
def test_help_names_both_key_variables(runner: CliRunner, command: tuple[str, ...]) -> None:
    result = runner.invoke(cli, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # help text is wrapped
    assert "IREFER_LICENSE_KEY" in text
    assert "IREFER_API_KEY" in text


LEAVES = [c for c in COMMANDS if not isinstance(cli.commands[c[0]], click.Group) or len(c) > 1]


@pytest.mark.parametrize("command", LEAVES, ids=" ".join)
def test_help_names_only_options_the_command_has(
    runner: CliRunner, command: tuple[str, ...]
) -> None:
    """The credentials footer offers --emulator only where it exists (not on `irefer mcp`)."""
    result = runner.invoke(cli, [*command, "--help"], terminal_width=100)
    text = " ".join(result.stdout.split())
    if "--emulator for none" in text:
        assert "--emulator" in text.split("--emulator for none")[0], text


# `irefer mcp` is configured by the IREFER_* environment only (an MCP client's config block).
@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] not in ("demo", "emulator", "mcp")],
                         ids=" ".join)  # fmt: skip
def test_campaign_id_shows_as_an_integer(runner: CliRunner, command: tuple[str, ...]) -> None:
    group = cli
    for name in command:
        group = group.commands[name]  # type: ignore[attr-defined]
    options = {opt: param for param in group.params for opt in getattr(param, "opts", [])}
    if isinstance(group, click.Group):
        return
    assert "--campaign-id" in options, command
    result = runner.invoke(cli, [*command, "--help"], terminal_width=100)
    assert "--campaign-id INTEGER" in result.stdout


@pytest.mark.parametrize("value", ["x", "0", "-3", "26.5"])
def test_a_campaign_id_that_is_not_a_positive_integer_is_a_usage_error(
    runner: CliRunner, emulator: Emulator, workdir: Path, value: str
) -> None:
    result = runner.invoke(cli, ["stats", "campaign", "--emulator", "--campaign-id", value])
    assert result.exit_code == 2
    assert "--campaign-id" in result.stderr and "positive integer" in result.stderr


def test_campaign_id_from_the_environment_is_checked_too(
    runner: CliRunner, emulator: Emulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IREFER_CAMPAIGN_ID", "abc")
    result = runner.invoke(cli, ["stats", "campaign", "--emulator"])
    assert result.exit_code == 2
    monkeypatch.setenv("IREFER_CAMPAIGN_ID", "2605")
    assert runner.invoke(cli, ["stats", "campaign", "--emulator"]).exit_code == 0


NAMES = ["李雷", "Zoë Ångström", "Ann 🎉"]


@pytest.fixture
def named(emulator: Emulator) -> Emulator:
    for i, name in enumerate(NAMES):
        emulator.add_participant(f"p{i}@example.com", name=name)
    return emulator


def test_json_export_is_readable_utf8_on_stdout(
    runner: CliRunner, named: Emulator, workdir: Path
) -> None:
    result = runner.invoke(cli, ["export", "referrers", "--emulator", "--format", "json"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "\\u" not in result.stdout
    for name in NAMES:
        assert name in result.stdout
    assert sorted(r["name"] for r in json.loads(result.stdout)) == sorted(NAMES)


def test_json_export_is_readable_utf8_in_a_file(
    runner: CliRunner, named: Emulator, workdir: Path
) -> None:
    result = runner.invoke(
        cli, ["export", "referrers", "--emulator", "--format", "json", "-o", "r.json"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    data = (workdir / "r.json").read_bytes()
    assert "李雷".encode() in data and b"\\u" not in data
    assert sorted(r["name"] for r in json.loads(data)) == sorted(NAMES)


async def test_json_export_escapes_only_where_the_stream_cannot_encode_it(named: Emulator) -> None:
    """An ASCII stdout (LANG=C on an old system) gets valid escaped JSON, not an encoding crash."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", newline="")
    async with named.client() as client:
        count = await export_rows(
            client, "referrers", "json", out, columns=None, console=Console(file=io.StringIO())
        )
    out.flush()
    assert count == len(NAMES)
    assert sorted(r["name"] for r in json.loads(raw.getvalue())) == sorted(NAMES)


def _accepted_sources() -> set[str]:
    """The one-letter sources newSignup's check in the endpoint table accepts."""
    import string

    from irefer_async import InvalidRequestError
    from irefer_async.endpoints import NEW_SIGNUP

    check = next(p.check for p in NEW_SIGNUP.params if p.name == "source")
    accepted = set()
    for letter in string.ascii_lowercase:
        try:
            check("newSignup", "source", letter)
        except InvalidRequestError:
            continue
        accepted.add(letter)
    return accepted


def test_signups_help_and_docs_list_the_sources_the_endpoint_accepts(runner: CliRunner) -> None:
    import re

    accepted = _accepted_sources()
    assert accepted  # the check refuses some letters and accepts these
    help_text = " ".join(runner.invoke(cli, ["import", "signups", "--help"]).stdout.split())
    listed = set(re.findall(r"\b([a-z]) \([a-z]+\)", help_text))
    assert listed == accepted, help_text
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    importing = docs.split("## Importing")[1].split("\n## ")[0]
    line = " ".join(next(p for p in importing.split("\n* ") if p.startswith("`source`")).split())
    assert set(re.findall(r"`([a-z])` \([a-z]+\)", line)) == accepted, line
