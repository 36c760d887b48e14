"""``irefer doctor``: the table, --json, exit codes 0 / 1 / 2, the write probe's announcement."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from irefer_async.cli import cli
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY


def test_doctor_passes_against_the_emulator(runner: CliRunner, workdir: Path) -> None:
    """Every check passes (network skipped in-process): exit 0, a table of checks."""
    result = runner.invoke(cli, ["doctor", "--emulator"])
    assert result.exit_code == 0, result.output
    assert "endpoint.referrers" in result.stdout and "│ fail" not in result.stdout
    assert "0 failed" in result.stdout
    assert DEFAULT_LICENSE_KEY not in result.output and DEFAULT_API_KEY not in result.output


@pytest.mark.parametrize("profile", ["2018", "drifted"])
def test_piped_doctor_pads_no_line(runner: CliRunner, workdir: Path, profile: str) -> None:
    """Not a terminal: no line ends in spaces (rich padded the title to the table's width)."""
    result = runner.invoke(cli, ["doctor", "--emulator", "--profile", profile])
    lines = result.stdout.splitlines()
    assert lines[0] == "irefer doctor"
    assert [line for line in lines if line != line.rstrip()] == []


def test_doctor_json_is_the_report(runner: CliRunner, workdir: Path) -> None:
    """--json prints ProbeReport.as_dict()."""
    result = runner.invoke(cli, ["doctor", "--emulator", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["exit_code"] == 0
    assert {c["name"] for c in report["checks"]} >= {"credentials", "drift", "timing.latency"}


def test_doctor_exits_1_and_names_the_removed_endpoints(runner: CliRunner, workdir: Path) -> None:
    """Against the 2019 profile: exit 1, the failing endpoint in the table."""
    result = runner.invoke(cli, ["doctor", "--emulator", "--profile", "2019", "--json"])
    assert result.exit_code == 1
    failed = [c["name"] for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"]
    assert failed == ["endpoint.specificActionSignups"]


def test_doctor_shows_the_drift_table(runner: CliRunner, workdir: Path) -> None:
    """Against the drifted profile: a second table with each field and a redacted example."""
    result = runner.invoke(cli, ["doctor", "--emulator", "--profile", "drifted"])
    assert result.exit_code == 0  # drift is a warning
    assert "differences from the 2018 guide" in result.stdout
    assert "Referrer.referral_count" in result.stdout


def test_the_write_probe_is_announced_on_stderr(runner: CliRunner, workdir: Path) -> None:
    """The line saying a signup will be sent, with the address redacted."""
    result = runner.invoke(cli, ["doctor", "--emulator", "--write-probe", "probe@example.com"])
    assert result.exit_code == 0
    assert "sending one newSignup" in result.stderr
    assert "probe@example.com" not in result.output


def test_usage_errors_exit_2(runner: CliRunner, workdir: Path) -> None:
    """A bad option, --profile without --emulator, a write probe that is no address."""
    assert runner.invoke(cli, ["doctor", "--nope"]).exit_code == 2
    assert runner.invoke(cli, ["doctor", "--profile", "2019"]).exit_code == 2
    assert runner.invoke(cli, ["doctor", "--emulator", "--write-probe", "x"]).exit_code == 2


def test_missing_configuration_fails_without_a_request(runner: CliRunner, workdir: Path) -> None:
    """No keys, no campaign: the configuration checks fail (exit 1), nothing is sent."""
    result = runner.invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["config.license_key"]["status"] == "fail"
    assert checks["probe"]["summary"] == "nothing sent: fix the configuration first"


def test_a_refused_host_through_the_cli(
    runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real keys in the environment, a closed loopback port: the TCP check names it."""
    mp = monkeypatch
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.setenv("IREFER_LICENSE_KEY", DEFAULT_LICENSE_KEY)
    mp.setenv("IREFER_API_KEY", DEFAULT_API_KEY)
    args = [
        "doctor",
        "--json",
        "--campaign-id",
        "2605",
        "--base-url",
        f"http://127.0.0.1:{port}/v1.0/",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert f"cannot connect to 127.0.0.1:{port}" in checks["network.tcp"]["summary"]
    assert DEFAULT_LICENSE_KEY not in result.output and DEFAULT_API_KEY not in result.output
