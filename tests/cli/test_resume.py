"""Crash-safe resume: the ledger, settling in-flight rows with a read, no row sent twice or lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _import_support import cancel_import_midway, signups_csv
from click.testing import CliRunner
from rich.console import Console

from irefer_async.cli import cli
from irefer_async.cli._import import ImportOptions, run_import
from irefer_async.cli._ledger import Ledger
from irefer_async.cli._target import Target
from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_LICENSE_KEY,
    Emulator,
    Fault,
    WriteEffect,
)


def _results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_each_once(emulator: Emulator, n: int) -> None:
    """Every row is a participant exactly once, and no request was a rejected duplicate."""
    emails = Counter(p["email"] for p in emulator.snapshot()["campaigns"][0]["participants"])
    assert emails == Counter({f"u{i}@example.com": 1 for i in range(n)})
    effects = Counter(e.effect for e in emulator.journal if e.method == "newSignup")
    assert effects[WriteEffect.DUPLICATE_REJECTED] == 0
    created = Counter(
        e.params["email"] for e in emulator.journal if e.effect is WriteEffect.PARTICIPANT_CREATED
    )
    assert set(created.values()) <= {1}


def test_resume_settles_in_flight_rows(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """In-flight rows that landed are confirmed by a read, the others are sent; finished ones skipped."""
    path = signups_csv(workdir / "s.csv", 30)
    ledger = Ledger(workdir / "s.csv.results.jsonl.ledger.sqlite", kind="signups", resume=False)
    # The crashed run: rows 0-9 finished, 10-19 in flight (10-14 had landed), 20-29 never read.
    ledger.mark_in_flight(
        (f"u{i}@example.com", i + 2, {"email": f"u{i}@example.com"}) for i in range(20)
    )
    for i in range(10):
        emulator.add_participant(f"u{i}@example.com")
        ledger.finish(
            f"u{i}@example.com", "ok", {"line": i + 2, "status": "ok", "key": f"u{i}@example.com"}
        )
    for i in range(10, 15):
        emulator.add_participant(f"u{i}@example.com")
    ledger.close()

    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator", "--resume"])
    assert result.exit_code == 0, result.stdout + result.stderr
    records = _results(workdir / "s.csv.results.jsonl")
    assert sorted(r["line"] for r in records) == list(range(2, 32))
    assert {r["status"] for r in records} == {"ok"}
    assert sum(1 for r in records if r.get("reconciled")) == 5
    sent = sorted(
        int(e.params["email"][1:].split("@")[0])
        for e in emulator.journal
        if e.method == "newSignup"
    )
    assert sent == list(range(15, 30))
    # One shared referrers scan settles all ten rows (two when the first came before the
    # settle window ended); referrerStats only fills the five that landed.
    scans = [e for e in emulator.journal if e.method == "referrers"]
    assert 1 <= len(scans) <= 2
    reads = [e.params["email"] for e in emulator.journal if e.method == "referrerStats"]
    assert sorted(reads) == sorted(f"u{i}@example.com" for i in range(10, 15))
    assert "resumed" in result.stdout
    _assert_each_once(emulator, 30)


def test_resume_leaves_unsettled_rows_unknown(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """When the read cannot tell, the row is reported unknown and never resent."""
    path = signups_csv(workdir / "s.csv", 3)
    ledger = Ledger(workdir / "s.csv.results.jsonl.ledger.sqlite", kind="signups", resume=False)
    ledger.mark_in_flight([("u1@example.com", 3, {"email": "u1@example.com"})])
    ledger.close()
    emulator.inject_fault("http_5xx_before", method="referrers", times=None)
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator", "--resume"])
    assert result.exit_code == 1
    by_key = {r["key"]: r["status"] for r in _results(workdir / "s.csv.results.jsonl")}
    assert by_key == {"u0@example.com": "ok", "u1@example.com": "unknown", "u2@example.com": "ok"}
    assert "u1@example.com" not in [
        e.params.get("email") for e in emulator.journal if e.method == "newSignup"
    ]


def test_resume_of_another_kind_is_refused(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """A signups ledger cannot resume an actions import."""
    Ledger(workdir / "a.csv.results.jsonl.ledger.sqlite", kind="signups", resume=False).close()
    path = workdir / "a.csv"
    path.write_text("external_id,action,referrer_code\nx,/dashboard,abc\n")
    result = runner.invoke(cli, ["import", "actions", str(path), "--emulator", "--resume"])
    assert result.exit_code == 2
    assert "signups" in result.stderr


def test_cancelled_import_then_resume(emulator: Emulator, workdir: Path) -> None:
    """Cancel an import mid-run: no task left behind; a resume completes every row exactly once."""
    n = 200
    path = signups_csv(workdir / "s.csv", n)
    emulator.inject_fault_rate(1.0, [Fault("latency", delay=0.01)], methods=["newSignup"])
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the test
    options = ImportOptions(
        kind="signups", path=path, target=Target(emulator=True), concurrency=8, rate=None,
        progress="none",
    )  # fmt: skip

    async def cancel_midway() -> None:
        await cancel_import_midway(options, console, emulator)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(cancel_midway())
    ledger = Ledger(workdir / "s.csv.results.jsonl.ledger.sqlite", kind="signups", resume=True)
    states = Counter(ledger.states().values())
    ledger.close()
    assert states["ok"] >= 30
    assert states["unknown"] + states["in_flight"] >= 1
    emulator.clear_faults()
    resumed = asyncio.run(run_import(attrs_evolve(options, resume=True), console))
    console.file.close()
    assert resumed.exit_code == 0
    records = _results(workdir / "s.csv.results.jsonl")
    assert sorted(r["line"] for r in records) == list(range(2, n + 2))
    _assert_each_once(emulator, n)


def attrs_evolve(options: ImportOptions, **changes: Any) -> ImportOptions:
    import attrs

    return attrs.evolve(options, **changes)


@pytest.fixture
def loopback() -> Iterator[tuple[Emulator, str]]:
    """The emulator served on a loopback port from a thread (for subprocesses)."""
    emulator = Emulator(seed=0)
    ready = threading.Event()
    handle: list[Any] = []

    def serve() -> None:
        async def main() -> None:
            async with emulator.serve(port=0) as url:
                done = asyncio.Event()
                handle.append((asyncio.get_running_loop(), done, url))
                ready.set()
                await done.wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    loop, done, url = handle[0]
    yield emulator, url
    loop.call_soon_threadsafe(done.set)
    thread.join(10)


@pytest.mark.system
@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_kill_9_then_resume(loopback: tuple[Emulator, str], workdir: Path) -> None:
    """A real process killed with SIGKILL mid-import, then resumed: each row landed exactly once."""
    emulator, url = loopback
    n = 600
    path = signups_csv(workdir / "s.csv", n)
    emulator.inject_fault_rate(1.0, [Fault("latency", delay=0.02)], methods=["newSignup"])
    env = {
        **os.environ,
        "IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY,
        "IREFER_API_KEY": DEFAULT_API_KEY,
        "IREFER_BASE_URL": url,
        "IREFER_CAMPAIGN_ID": "2605",
    }
    command = [sys.executable, "-m", "irefer_async.cli", "import", "signups", str(path),
               "--rate", "0", "--concurrency", "16", "--progress", "none",
               # A write in flight at the kill lands at most 0.02 s (its latency) later: a 1 s
               # settle window proves "not landed" safely (the default 10 s is for real servers).
               "--settle", "1"]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while sum(1 for e in emulator.journal if e.method == "newSignup") < 150:
        assert process.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    before = sum(1 for e in emulator.journal if e.method == "newSignup")
    assert before < n
    ledger = Ledger(workdir / "s.csv.results.jsonl.ledger.sqlite", kind="signups", resume=True)
    states = Counter(ledger.states().values())
    ledger.close()
    assert states["in_flight"] >= 1  # killed with rows in flight: the case that matters
    emulator.clear_faults()
    resume = subprocess.run([*command, "--resume"], env=env, cwd=workdir, capture_output=True, check=False,
                            text=True, timeout=60)  # fmt: skip
    assert resume.returncode == 0, resume.stdout + resume.stderr
    records = _results(workdir / "s.csv.results.jsonl")
    assert sorted(r["line"] for r in records) == list(range(2, n + 2))
    assert {r["status"] for r in records} == {"ok"}
    assert any(e.method == "referrerStats" for e in emulator.journal)  # settled by reads
    _assert_each_once(emulator, n)


def test_resume_settles_actions_with_one_list_read(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """In-flight actions are settled with a single specificActionSignups read."""
    ann = emulator.add_participant("ann@example.com")
    path = workdir / "a.csv"
    path.write_text(
        "external_id,action,referrer_code\n"
        f"p1@example.com,/dashboard,{ann.code}\np2@example.com,/dashboard,{ann.code}\n"
    )

    async def land_first() -> None:
        async with emulator.client() as client:
            await client.new_specific_action(
                "p1@example.com", action="/dashboard", referrer_code=ann.code
            )

    asyncio.run(land_first())
    ledger = Ledger(workdir / "a.csv.results.jsonl.ledger.sqlite", kind="actions", resume=False)
    ledger.mark_in_flight(
        (f"p{i}@example.com|/dashboard", i + 1, {"external_id": f"p{i}@example.com",
         "action": "/dashboard", "referrer_code": ann.code}) for i in (1, 2)
    )  # fmt: skip
    ledger.close()
    result = runner.invoke(cli, ["import", "actions", str(path), "--emulator", "--resume"])
    assert result.exit_code == 0, result.stdout + result.stderr
    methods = Counter(e.method for e in emulator.journal)
    assert 1 <= methods["specificActionSignups"] <= 2  # shared: early + settled at most
    assert methods["newSpecificAction"] == 2  # the one landed before the crash + p2 now
    actions = Counter(a["referred_person"] for a in emulator.snapshot()["campaigns"][0]["actions"])
    assert actions == {"p1@example.com": 1, "p2@example.com": 1}


def test_rerunning_a_finished_import_says_it_finished(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """The same command again after a finished import: refused (exit 2, nothing sent) with what
    the earlier run did, that --resume sends nothing new and how to import again."""
    path = signups_csv(workdir / "s.csv", 3)
    first = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert first.exit_code == 0, first.output
    sent = len(emulator.journal)
    again = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert again.exit_code == 2
    message = " ".join(again.stderr.split())
    assert "the earlier import with this ledger finished (3 ok)" in message, message
    assert "--resume sends only rows it did not finish (none, if the file is unchanged)" in message
    assert "delete" in message and "s.csv.results.jsonl.ledger.sqlite" in message
    assert len(emulator.journal) == sent


def test_rerunning_an_unfinished_import_says_so(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    ledger = Ledger(workdir / "s.csv.results.jsonl.ledger.sqlite", kind="signups", resume=False)
    ledger.mark_in_flight([("u1@example.com", 3, {"email": "u1@example.com"})])
    ledger.close()
    path = signups_csv(workdir / "s.csv", 3)
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "did not finish (1 row may have been sent, outcome not known)" in message, message
    assert "pass --resume to continue it" in message
