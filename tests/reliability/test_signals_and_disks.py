"""Signals and disks: SIGTERM is handled as Ctrl-C; a full disk is one line and a resume.

* A ledger that fills up for real (SQLite's ``database or disk is full``, made by ``PRAGMA
  max_page_count`` through `Ledger.on_connect`) and a results file whose writes fail with
  ``ENOSPC`` (through `_import._open_results`) stop ``irefer import`` with one line naming
  the file and the ``--resume`` command (exit 74, no traceback); the resume then finishes
  with every row signed up exactly once and one ``ok`` record per row.
* ``irefer export`` to ``/dev/full`` (a real ENOSPC) is one line naming the file.
* ``irefer import`` in its own process, sent SIGTERM mid-run (what systemd, Docker and
  Kubernetes send), prints its summary and the resume line and exits 143; resumed, nothing is
  lost or sent twice.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import IO, Any

import pytest
from _support import EmulatorProcess, cli_env, leaks, make_emulator
from click.testing import CliRunner

from irefer_async.cli import _target, cli
from irefer_async.cli._ledger import Ledger
from irefer_async.testing import Emulator, LoopClock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/helpers.py

from helpers import run_virtual

# The module (the package's own `_import` name is the command's function).
_import = importlib.import_module("irefer_async.cli._import")

N = 300


def _csv(tmp: Path, n: int = N) -> Path:
    path = tmp / "signups.csv"
    path.write_text("email,name\n" + "".join(f"d{i}@example.com,D {i}\n" for i in range(n)))
    return path


@pytest.fixture
def shared_emulator(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """One emulator for every ``--emulator`` command of a test, each run on virtual time."""
    emulator = make_emulator(secret=False, clock=LoopClock())
    monkeypatch.setattr(_target, "emulator_factory", lambda: emulator)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return run_virtual(coro)

    monkeypatch.setattr(asyncio, "run", run)
    return emulator


def _import_args(csv: Path, *extra: str) -> list[str]:
    return [
        "import", "signups", str(csv), "--emulator", "--concurrency", "8",
        "--progress", "none", *extra,
    ]  # fmt: skip


def _check_all_landed_once(emulator: Emulator, csv: Path, n: int = N) -> None:
    """Every row is a participant exactly once; the results hold one ok record per row."""
    created = Counter(
        e.params["email"] for e in emulator.journal if e.effect == "participant_created"
    )
    expected = {f"d{i}@example.com" for i in range(n)}
    assert set(created) == expected  # 0 lost
    assert max(created.values()) == 1  # 0 duplicates
    results = csv.with_name(csv.name + ".results.jsonl")
    records = [json.loads(line) for line in results.read_text("utf-8").splitlines()]
    keys = Counter(r["key"] for r in records)
    assert len(records) == n and set(keys) == expected
    assert {r["status"] for r in records} == {"ok"}


def _one_line_error(stderr: str, path: Path) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    line = lines[0]
    assert f"no space left to write {path}" in line
    return line


def test_ledger_filling_up_is_one_line_and_resume_finishes(
    shared_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``database or disk is full`` at the ledger mid-run: one line, exit 74, resume: 0 lost."""
    csv = _csv(tmp_path)
    ledger = csv.with_name(csv.name + ".results.jsonl.ledger.sqlite")
    monkeypatch.setattr(
        Ledger, "on_connect", staticmethod(lambda db: db.execute("PRAGMA max_page_count=12"))
    )
    runner = CliRunner()
    first = runner.invoke(cli, _import_args(csv))
    assert first.exit_code == 74, first.output
    assert not isinstance(first.exception, sqlite3.Error)
    line = _one_line_error(first.stderr, ledger)
    assert "database or disk is full" in line
    assert f"irefer import signups {csv} --resume" in line
    assert "(interrupted)" in first.stdout
    sent = sum(1 for e in shared_emulator.journal if e.effect == "participant_created")
    assert 0 < sent < N  # it really stopped midway

    monkeypatch.setattr(Ledger, "on_connect", None)
    second = runner.invoke(cli, [*_import_args(csv), "--resume"])
    assert second.exit_code == 0, second.output
    _check_all_landed_once(shared_emulator, csv)


class _FillingFile:
    """A text file whose writes fail with ENOSPC once ``room`` characters were written."""

    def __init__(self, real: IO[str], room: int) -> None:
        self._real = real
        self._room = room
        self.name = real.name

    def write(self, text: str) -> int:
        if len(text) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(text)
        return self._real.write(text)

    def flush(self) -> None:
        self._real.flush()

    def fileno(self) -> int:
        return self._real.fileno()

    def close(self) -> None:
        self._real.close()


def test_results_file_filling_up_is_one_line_and_resume_finishes(
    shared_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC writing results.jsonl mid-run: one line naming it, exit 74; resume: 0 lost."""
    csv = _csv(tmp_path)
    results = csv.with_name(csv.name + ".results.jsonl")
    real_open = _import._open_results
    monkeypatch.setattr(_import, "_open_results", lambda p: _FillingFile(real_open(p), 20_000))
    runner = CliRunner()
    first = runner.invoke(cli, _import_args(csv))
    assert first.exit_code == 74, first.output
    line = _one_line_error(first.stderr, results)
    assert "No space left on device" in line and "--resume" in line
    assert "(interrupted)" in first.stdout

    monkeypatch.setattr(_import, "_open_results", real_open)
    second = runner.invoke(cli, [*_import_args(csv), "--resume"])
    assert second.exit_code == 0, second.output
    _check_all_landed_once(shared_emulator, csv)


def test_ledger_full_at_the_start_sends_nothing(
    shared_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No room even for the ledger's schema: one line, nothing sent."""
    csv = _csv(tmp_path, 10)
    monkeypatch.setattr(
        Ledger, "on_connect", staticmethod(lambda db: db.execute("PRAGMA max_page_count=1"))
    )
    result = CliRunner().invoke(cli, _import_args(csv))
    assert result.exit_code == 74, result.output
    _one_line_error(result.stderr, csv.with_name(csv.name + ".results.jsonl.ledger.sqlite"))
    assert not list(shared_emulator.journal)


def test_export_to_a_full_disk_is_one_line(shared_emulator: Emulator) -> None:
    """``--output /dev/full``: every write fails with ENOSPC for real."""
    for i in range(3):
        shared_emulator.add_participant(f"x{i}@example.com")
    for fmt in ("csv", "json"):
        args = ["export", "referrers", "--emulator", "--format", fmt, "--output", "/dev/full"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 74, result.output
        line = _one_line_error(result.stderr, Path("/dev/full"))
        assert "export again" in line


# -- SIGTERM, a real process -----------------------------------------------------------------


def _cli(emulator: EmulatorProcess, csv: Path, *, resume: bool) -> list[str]:
    return [
        sys.executable, "-m", "irefer_async.cli", "import", "signups", str(csv),
        "--base-url", emulator.url, "--concurrency", "8", "--rate", "0",
        "--progress", "none", "--settle", "0.2", *(["--resume"] if resume else []),
    ]  # fmt: skip


@pytest.mark.system
def test_sigterm_prints_the_summary_and_exits_143(
    emulator_process: EmulatorProcess, tmp_path: Path
) -> None:
    """SIGTERM mid-import: summary, resume line, exit 143; resumed: 0 lost, 0 duplicates."""
    n = 400
    csv = _csv(tmp_path, n)
    results = csv.with_name(csv.name + ".results.jsonl")
    emulator_process.control(
        "faults", {"rate": 0.5, "kinds": [{"kind": "latency", "delay": 0.05}], "seed": 5}
    )
    proc = subprocess.Popen(
        _cli(emulator_process, csv, resume=False),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if results.exists() and results.stat().st_size > 2_000:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the import ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err
    assert "(interrupted)" in out and "--resume settles the first" in out
    assert f"terminated; `irefer import signups {csv} --resume`" in err
    emulator_process.control("faults", {"rate": 0.0, "kinds": ["latency"], "seed": 5})
    final = subprocess.run(
        _cli(emulator_process, csv, resume=True),
        capture_output=True, env=cli_env(), text=True, timeout=300, check=False,
    )  # fmt: skip
    assert final.returncode == 0, final.stdout + final.stderr
    journal = emulator_process.control("journal")
    created = Counter(e["params"]["email"] for e in journal if e["effect"] == "participant_created")
    assert len(created) == n and max(created.values()) == 1
    records = [json.loads(line) for line in results.read_text("utf-8").splitlines()]
    assert len(records) == n and {r["status"] for r in records} == {"ok"}
    assert not leaks(out + err + final.stdout + final.stderr)
