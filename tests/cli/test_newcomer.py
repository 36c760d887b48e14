"""The newcomer's path: aiming commands at a running emulator, help, messages, interruptions."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _import_support import cancel_import_midway, signups_csv
from click.testing import CliRunner
from rich.console import Console

from irefer_async.cli import cli
from irefer_async.cli._import import ImportOptions, run_import
from irefer_async.cli._target import Target
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator, Fault

IREFER = [sys.executable, "-m", "irefer_async.cli"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}


@pytest.mark.system
def test_emulator_banner_aims_later_commands_and_state_survives(workdir: Path) -> None:
    """`irefer emulator` prints the lines to paste; import then stats see the same campaign."""
    pytest.importorskip("uvicorn")
    server = subprocess.Popen(
        [*IREFER, "emulator", "--port", "0"], env=_clean_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline() for _ in range(8)]
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in banner
            if line.strip().startswith("export ")
        )
        assert set(exports) == {
            "IREFER_BASE_URL", "IREFER_CAMPAIGN_ID", "IREFER_LICENSE_KEY", "IREFER_API_KEY",
        }  # fmt: skip
        assert exports["IREFER_LICENSE_KEY"] == DEFAULT_LICENSE_KEY
        assert exports["IREFER_API_KEY"] == DEFAULT_API_KEY
        env = {**_clean_env(), **exports}
        path = signups_csv(workdir / "people.csv", 30)
        imported = subprocess.run(
            [*IREFER, "import", "signups", str(path), "--progress", "none"],
            env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert imported.returncode == 0, imported.stdout + imported.stderr
        stats = subprocess.run(
            [*IREFER, "stats", "campaign", "--format", "json"],
            env=env, cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["signups_total"] == 30
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_banner_never_shows_a_key_from_the_environment() -> None:
    """Keys set in the environment are named, not printed; the demo keys are printed."""
    from irefer_async.testing.__main__ import _campaign_from_env, banner

    mine = "W4qL" + "s" * 28
    os.environ["IREFER_LICENSE_KEY"] = mine
    try:
        lines = "\n".join(banner("http://127.0.0.1:1/v1.0/", _campaign_from_env(0)))
    finally:
        del os.environ["IREFER_LICENSE_KEY"]
    assert "ssssss" not in lines
    assert "$IREFER_LICENSE_KEY" in lines
    assert f"export IREFER_API_KEY={DEFAULT_API_KEY}" in lines


@pytest.mark.system
def test_emulator_on_a_port_in_use_is_one_line_and_exit_2() -> None:
    """No traceback: one line naming the address, exit code 2."""
    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*IREFER, "emulator", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_interrupted_demo_does_not_suggest_resume(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in `irefer demo`: exit 130, and no --resume hint (demo has no such option)."""
    from irefer_async.cli import _demo

    async def interrupted(*_: Any, **__: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_demo, "run_demo", interrupted)
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 130
    assert "--resume" not in result.stderr
    assert "irefer demo" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["import", "signups"], ["import", "actions"], ["stats", "campaign"], ["stats", "referrer"],
     ["demo"], ["emulator"]],
)  # fmt: skip
def test_help_shows_examples_and_every_option_has_help(
    runner: CliRunner, command: list[str]
) -> None:
    """Each command's --help has an example; no option is left without a help text."""
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    group = cli
    for name in command:
        group = group.commands[name]  # type: ignore[attr-defined]
    for param in group.params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{' '.join(command)} {param.name}"  # type: ignore[attr-defined]


def test_missing_key_names_the_variable_not_a_keyword(runner: CliRunner, workdir: Path) -> None:
    """The CLI takes no key argument: its message names the environment variable to set."""
    result = runner.invoke(cli, ["stats", "campaign", "--campaign-id", "2605"])
    assert result.exit_code == 2
    assert "IREFER_LICENSE_KEY is not set" in result.stderr
    assert "license_key=" not in result.stderr
    os.environ["IREFER_LICENSE_KEY"] = DEFAULT_LICENSE_KEY
    try:
        result = runner.invoke(cli, ["stats", "campaign", "--campaign-id", "2605"])
    finally:
        del os.environ["IREFER_LICENSE_KEY"]
    assert result.exit_code == 2
    assert "IREFER_API_KEY is not set" in result.stderr


def test_timeout_option_reaches_the_client(
    runner: CliRunner, emulator: Emulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--timeout sets the client's per-request timeout."""
    seen: list[dict[str, Any]] = []
    build = emulator.client

    def client(**options: Any) -> Any:
        seen.append(options)
        return build(**options)

    monkeypatch.setattr(emulator, "client", client)
    stats = runner.invoke(cli, ["stats", "campaign", "--emulator", "--timeout", "2.5"])
    assert stats.exit_code == 0
    assert "fresh, empty emulator" in stats.stderr  # a 0 here is no surprise
    path = signups_csv(workdir / "s.csv", 2)
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator", "--timeout", "3"])
    assert result.exit_code == 0
    assert "its state is gone now" in result.stdout  # says plainly what --emulator did
    assert [o.get("timeout") for o in seen] == [2.5, 3.0]
    assert runner.invoke(cli, ["stats", "campaign", "--emulator", "--timeout", "0"]).exit_code == 2


def test_interrupted_import_keeps_in_flight_rows_for_resume(
    emulator: Emulator, workdir: Path
) -> None:
    """Rows cut short are neither failed nor in the failed-rows file; resume counts only its own."""
    n = 200
    path = signups_csv(workdir / "s.csv", n)
    emulator.inject_fault_rate(1.0, [Fault("latency", delay=0.01)], methods=["newSignup"])
    out = io.StringIO()
    console = Console(file=out, width=200)
    options = ImportOptions(
        kind="signups", path=path, target=Target(emulator=True), concurrency=8, rate=None,
        progress="none",
    )  # fmt: skip

    asyncio.run(cancel_import_midway(options, console, emulator))
    summary = out.getvalue()
    assert "(interrupted)" in summary
    assert "in flight when interrupted" in summary
    assert not (workdir / "s.failed.csv").exists()
    records = [json.loads(line) for line in (workdir / "s.csv.results.jsonl").open()]
    assert {r["status"] for r in records} <= {"ok", "unknown"}
    assert all(r["error_type"] == "Interrupted" for r in records if r["status"] == "unknown")
    ok_before = sum(r["status"] == "ok" for r in records)

    emulator.clear_faults()
    out.truncate(0)
    resumed = asyncio.run(run_import(attrs_evolve(options, resume=True), console))
    assert resumed.exit_code == 0
    carried = ok_before + resumed.reconciled
    assert resumed.counts.sent == n - carried
    assert resumed.counts.by_status["ok"] == n


def attrs_evolve(options: ImportOptions, **changes: Any) -> ImportOptions:
    import attrs

    return attrs.evolve(options, **changes)


def test_cli_shows_what_an_err_401_may_mean(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """`stats referrer` for an unknown email and a duplicate signup say what the code may mean."""
    result = runner.invoke(cli, ["stats", "referrer", "nobody@example.com", "--emulator"])
    assert result.exit_code == 1
    assert "not a participant of the campaign" in result.stderr
    path = signups_csv(workdir / "s.csv", 1)
    emulator.add_participant("u0@example.com")
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    (record,) = [json.loads(line) for line in (workdir / "s.csv.results.jsonl").open()]
    assert "already a participant" in record["error"]  # DuplicateSignupError


def test_no_default_rate_limit_against_a_loopback_emulator() -> None:
    """The 5/s default protects iRefer; a running `irefer emulator` on loopback needs none."""
    from irefer_async.cli._target import is_loopback

    assert is_loopback("http://127.0.0.1:8765/v1.0/")
    assert is_loopback("http://localhost:8765/v1.0/")
    assert is_loopback("http://[::1]:8765/v1.0/")
    assert not is_loopback("https://api.irefer.io/v1.0/")
    assert not is_loopback("http://127.example.com/v1.0/")
    assert not is_loopback(None)
