"""Crash-resume: ``irefer import signups`` SIGKILLed at random points, resumed each time.

The emulator runs in its own process (``python -m irefer_async.testing``), the CLI in another;
the CLI is killed with SIGKILL (no cleanup at all) once its results file has grown past a
random point, at least five times, and resumed with ``--resume`` each time, then run to the end.
Afterwards every row has exactly one participant (the emulator's snapshot), no signup created
a second one, and the results file holds exactly one final ``ok`` record per row. A few
"after processing" faults (the write lands, the answer is lost) are injected on ``newSignup``
so that rows in flight at a kill are really ambiguous.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from _support import EmulatorProcess, cli_env, leaks


def _write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("email,name,source\n")
        for i in range(n):
            f.write(f"crash{i}@example.com,Crash {i},e\n")


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def _cli(emulator: EmulatorProcess, csv: Path, results: Path, *, resume: bool) -> list[str]:
    return [
        sys.executable, "-m", "irefer_async.cli", "import", "signups", str(csv),
        "--base-url", emulator.url, "--concurrency", "16", "--rate", "0",
        "--progress", "none", "--results", str(results),
        "--ledger", str(results.with_suffix(".ledger.sqlite")),
        # The emulator has processed a write when it answers or drops: no held-write fault
        # here, so a short settle window is enough (the default 10 s is for real servers).
        "--settle", "0.2",
        *(["--resume"] if resume else []),
    ]  # fmt: skip


def crash_and_resume(
    emulator: EmulatorProcess, tmp: Path, n: int, kills: int, seed: int
) -> dict[str, int]:
    """Run the import, killing it ``kills`` times; return the figures."""
    rng = random.Random(seed)
    csv = tmp / "signups.csv"
    results = tmp / "signups.results.jsonl"
    _write_csv(csv, n)
    emulator.control(
        "faults",
        {"rate": 0.03, "kinds": ["drop_after", "http_5xx_after", "http_5xx_before"],
         "methods": ["newSignup"], "seed": seed},
    )  # fmt: skip
    outputs: list[str] = []
    killed = 0
    resume = False
    progress: list[int] = []
    while killed < kills:
        # Kill once the results file has passed a random point of what is left.
        done = progress[-1] if progress else 0
        target = done + rng.randint(1, max(2, (n - done) // (kills - killed + 1)))
        proc = subprocess.Popen(
            _cli(emulator, csv, results, resume=resume),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            lines = _count_lines(results)
            if lines >= target:
                break
            time.sleep(0.005)
        if proc.poll() is not None:  # finished before the kill point: fine, but count no kill
            out, err = proc.communicate()
            outputs.append(out + err)
            break
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        outputs.append(out + err)
        assert proc.returncode == -signal.SIGKILL
        killed += 1
        progress.append(_count_lines(results))
        resume = True
    final = subprocess.run(
        _cli(emulator, csv, results, resume=resume),
        capture_output=True, env=cli_env(), text=True, timeout=600, check=False,
    )  # fmt: skip
    outputs.append(final.stdout + final.stderr)
    assert final.returncode == 0, final.stdout + final.stderr

    # Every row has exactly one participant.
    snapshot = emulator.control("snapshot")
    emails = Counter(p["email"] for p in snapshot["campaigns"][0]["participants"])
    expected = {f"crash{i}@example.com" for i in range(n)}
    assert set(emails) == expected
    assert max(emails.values()) == 1
    journal = emulator.control("journal")
    created = Counter(e["params"]["email"] for e in journal if e["effect"] == "participant_created")
    assert max(created.values()) == 1 and len(created) == n

    # The results file: one final ok record per row.
    records = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    keys = Counter(r["key"] for r in records)
    assert len(records) == n and set(keys) == expected and max(keys.values()) == 1
    assert {r["status"] for r in records} == {"ok"}

    # No secret in anything the CLI printed or wrote.
    texts = [*outputs, results.read_text(encoding="utf-8")]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp.iterdir()]
    assert not [s for t in texts for s in leaks(t)]
    figures = {
        "rows": n,
        "kills": killed,
        "resends_refused": sum(1 for e in journal if e["effect"] == "duplicate_rejected"),
        "faults": sum(1 for e in journal if e["fault"]),
        "reconciled": sum(1 for r in records if r.get("reconciled")),
    }
    print(f"crash-resume: {figures}")
    return figures


@pytest.mark.system
def test_crash_resume_fast(emulator_process: EmulatorProcess, tmp_path: Path) -> None:
    """1,000 rows, SIGKILLed 5 times at random points: one participant and one record per row."""
    figures = crash_and_resume(emulator_process, tmp_path, 1_000, kills=5, seed=11)
    assert figures["kills"] == 5


@pytest.mark.system
@pytest.mark.slow
def test_crash_resume_20k(emulator_process: EmulatorProcess, tmp_path: Path) -> None:
    """20,000 rows, SIGKILLed 8 times at random points: one participant and one record per row."""
    figures = crash_and_resume(emulator_process, tmp_path, 20_000, kills=8, seed=12)
    assert figures["kills"] == 8
