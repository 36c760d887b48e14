"""The distributed import (irefer_async.taskiq) for real: `taskiq worker` processes on a
real redis-server, SIGKILLed mid-run, against the emulator on loopback.

Checks, from the ledger and the emulator's journal: every row exactly one outcome, no
``newSignup`` sent twice for a row, and no 1-second window (by arrival at the server) above
the shared limit plus one.
"""

from __future__ import annotations

import bisect
import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

pytest.importorskip("taskiq_redis")
import redis

from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator

EXAMPLE = Path(__file__).parents[2] / "examples" / "taskiq_worker"


def _cli_support() -> Any:
    folder = str(Path(__file__).resolve().parent.parent / "cli")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import _watch_support

    return _watch_support


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most arrivals in any window [t, t + width) (t ranging over the arrivals)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0
    )


def test_the_window_counter_counts_sliding_windows() -> None:
    """Windows slide over arrivals: 3 within 1 s anywhere counts 3."""
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 5.0]) == 3
    assert max_in_window([0.0, 1.0, 2.0]) == 1
    assert max_in_window([]) == 0


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def distributed_import(
    workdir: Path, server: RedisServer, *, rows: int, kills: int, rate: float, seed: int,
    workers: int = 3, chunk: int = 25,
) -> dict[str, Any]:  # fmt: skip
    """Import *rows* signups with *workers* `taskiq worker` processes, SIGKILLing one at a
    random moment *kills* times (restarting it); check the promises; return the figures."""
    rng = random.Random(seed)
    support = _cli_support()
    emulator = Emulator(seed=0)
    source = workdir / "signups.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name"])
        writer.writerows([f"user{i}@example.com", f"User {i}"] for i in range(rows))
    ledger_prefix = f"test-import:{seed}:{rows}"
    base = f"redis://127.0.0.1:{server.port}"
    with support.loopback(emulator) as lb:
        env = {**os.environ, "IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY,
               "IREFER_API_KEY": DEFAULT_API_KEY, "IREFER_BASE_URL": lb.url,
               "IREFER_CAMPAIGN_ID": "2605", "REDIS_URL": f"{base}/0",
               "TASKIQ_BROKER_URL": f"{base}/1", "IREFER_RATE": str(rate),
               "IREFER_WORKERS": str(workers), "IREFER_CONCURRENCY": "8",
               "IREFER_LEDGER": ledger_prefix, "IREFER_LEASE_SECONDS": "3",
               "IREFER_IDLE_TIMEOUT": "5", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        command = [sys.executable, "-m", "taskiq", "worker", "app:broker", "--workers", "1",
                   "--max-async-tasks", "4"]  # fmt: skip

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(command, cwd=EXAMPLE, env=env, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        procs = [start() for _ in range(workers)]
        store = redis.Redis.from_url(f"{base}/0")
        try:
            enqueue = subprocess.run(
                [sys.executable, "enqueue.py", str(source), str(chunk)], cwd=EXAMPLE, env=env,
                capture_output=True, timeout=120, check=False,
            )  # fmt: skip
            assert enqueue.returncode == 0, enqueue.stderr
            kill_at = sorted(rng.sample(range(rows // 10, rows * 8 // 10), kills))
            started = time.monotonic()
            deadline = started + 120 + rows / rate * 3
            done_kills = 0
            while (done := int(store.hlen(f"{ledger_prefix}:done"))) < rows:
                assert time.monotonic() < deadline, f"only {done} of {rows} rows finished"
                if done_kills < kills and done >= kill_at[done_kills]:
                    time.sleep(rng.uniform(0, 0.2))  # land anywhere in a job
                    victim = rng.randrange(workers)
                    os.killpg(procs[victim].pid, signal.SIGKILL)
                    procs[victim].wait(10)
                    while not _group_gone(procs[victim].pid):
                        time.sleep(0.005)
                    procs[victim] = start()
                    done_kills += 1
                time.sleep(0.05)
            seconds = time.monotonic() - started
            assert done_kills == kills
            outcomes = {k.decode(): v for k, v in store.hgetall(f"{ledger_prefix}:done").items()}
        finally:
            for proc in procs:  # cleanup (the ledger and journal are read afterwards)
                if not _group_gone(proc.pid):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
            store.close()
        journal = lb.call(lambda e: [(x.method, x.params.get("email"), x.at, x.effect)
                                     for x in e.journal])  # fmt: skip
        participants = lb.call(lambda e: {p["email"] for p in
                                          e.snapshot()["campaigns"][0]["participants"]})  # fmt: skip
    emails = {f"user{i}@example.com" for i in range(rows)}
    assert set(outcomes) == emails  # every row exactly one outcome (a hash: one per key)
    statuses: dict[str, int] = {}
    for raw in outcomes.values():
        status = __import__("json").loads(raw)["status"]
        statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) <= {"sent", "landed earlier"}, statuses
    assert emails <= participants  # every row landed
    sends: dict[str, int] = {}
    for method, email, _, _ in journal:
        if method == "newSignup":
            sends[email] = sends.get(email, 0) + 1
    assert set(sends) == emails
    assert max(sends.values()) == 1, [e for e, n in sends.items() if n > 1][:5]  # no duplicate
    rechecked = sum(method == "referrerStats" for method, _, _, _ in journal)
    busiest = max_in_window([at for _, _, at, _ in journal])
    assert busiest <= rate + 1, busiest
    return {"rows": rows, "kills": kills, "workers": workers, "rate": rate,
            "seconds": round(seconds, 1), "statuses": statuses, "requests": len(journal),
            "rechecked": rechecked,
            "busiest_window": busiest}  # fmt: skip


@pytest.mark.system
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_three_workers_two_sigkills_5000_rows(
    own_redis_server: RedisServer, tmp_path: Path
) -> None:
    """5,000 rows, 3 worker processes, 2 SIGKILLs: one outcome per row, no duplicate write,
    no 1-second window above the shared limit plus one."""
    result = distributed_import(tmp_path, own_redis_server, rows=5000, kills=2, rate=200, seed=5)
    print(result)


@pytest.mark.system
@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_three_workers_three_sigkills_100k_rows(
    own_redis_server: RedisServer, tmp_path: Path
) -> None:
    """The figure: 100,000 rows, 3 worker processes, 3 SIGKILLs."""
    result = distributed_import(tmp_path, own_redis_server, rows=100_000, kills=3, rate=400,
                                seed=6)  # fmt: skip
    print(result)
