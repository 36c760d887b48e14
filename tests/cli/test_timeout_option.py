"""``--timeout`` on every command that talks to iRefer, and watch's rate default on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from irefer_async.cli import _doctor, _watch, cli
from irefer_async.cli._watch import WatchOptions
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator


def _spy_clients(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the keywords of every client an emulator builds (and build it as usual)."""
    seen: list[dict[str, Any]] = []
    original = Emulator.client

    def client(self: Emulator, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(Emulator, "client", client)
    return seen


@pytest.mark.parametrize(
    "args",
    [
        ["export", "referrers", "--emulator", "--format", "csv"],
        ["watch", "--emulator", "--once", "--progress", "none"],
        ["doctor", "--emulator", "--json"],
    ],
)
def test_timeout_reaches_the_client(
    runner: CliRunner,
    emulator: Emulator,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    """export, watch and doctor take --timeout (as documented) and build their client with it."""
    seen = _spy_clients(monkeypatch)
    result = runner.invoke(cli, [*args, "--timeout", "2.5"])
    assert result.exit_code == 0, result.output + result.stderr
    assert seen and all(kwargs.get("timeout") == 2.5 for kwargs in seen)
    without = runner.invoke(cli, args)
    assert without.exit_code == 0
    assert "timeout" not in seen[-1]


def test_doctor_timeout_reaches_the_real_client(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a base URL, doctor's client gets --timeout too."""
    seen: list[dict[str, Any]] = []
    original = _doctor.IReferClient

    def build(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(_doctor, "IReferClient", build)
    env = {"IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY, "IREFER_API_KEY": DEFAULT_API_KEY,
           "IREFER_CAMPAIGN_ID": "2605", "IREFER_BASE_URL": "http://127.0.0.1:9/v1.0/"}  # fmt: skip
    runner.invoke(cli, ["doctor", "--timeout", "0.5", "--json"], env=env)
    assert [kwargs["timeout"] for kwargs in seen] == [0.5]


@pytest.mark.parametrize(
    ("base_url", "rate"),
    [("http://127.0.0.1:8080/v1.0/", None), ("http://localhost:8080/v1.0/", None),
     ("https://app.irefer.io/v1.0/", "default")],
)  # fmt: skip
def test_watch_drops_the_default_rate_on_loopback_like_import(
    runner: CliRunner,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    rate: str | None,
) -> None:
    """No --rate: unlimited against an emulator on this machine, the 5/s default elsewhere."""
    seen: list[WatchOptions] = []

    async def run_watch(options: WatchOptions, *args: Any) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(_watch, "run_watch", run_watch)
    env = {"IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY, "IREFER_API_KEY": DEFAULT_API_KEY,
           "IREFER_CAMPAIGN_ID": "2605", "IREFER_BASE_URL": base_url}  # fmt: skip
    result = runner.invoke(cli, ["watch", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert [options.rate for options in seen] == [rate]


def test_export_format_has_help(runner: CliRunner) -> None:
    """`irefer export --help` says what each --format does."""
    result = runner.invoke(cli, ["export", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--format" in text
    assert "streamed as rows arrive" in text
