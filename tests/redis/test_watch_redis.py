"""`irefer watch --redis URL`: the feed's state in Redis instead of a SQLite file."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer
from rich.console import Console

from irefer_async.cli import _target
from irefer_async.cli._target import Target
from irefer_async.cli._watch import WatchOptions, run_watch
from irefer_async.feed import event_id
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator

#: Every test here needs a redis-server (started by tests/redis/conftest.py).
pytestmark = pytest.mark.system


async def test_watch_keeps_its_state_in_redis(
    redis_server: RedisServer, key_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Baseline then events through Redis; no SQLite file is created."""
    emulator = Emulator()
    monkeypatch.setattr(_target, "emulator_factory", lambda: emulator)
    options = WatchOptions(target=Target(emulator=True), store=tmp_path / "unused.sqlite",
                           redis_url=redis_server.url, feed_name=key_name, once=True,
                           rate=None, progress="none")  # fmt: skip
    ann = emulator.add_participant("ann@example.com")
    out = io.StringIO()
    assert await run_watch(options, Console(file=io.StringIO()), out) == 0
    assert out.getvalue() == ""
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    assert await run_watch(options, Console(file=io.StringIO()), out) == 0
    types = sorted(json.loads(line)["type"] for line in out.getvalue().splitlines())
    assert types == ["participant.joined", "referral.credited", "reward.triggered"]
    assert not (tmp_path / "unused.sqlite").exists()


# -- 3 watchers on one Redis store, SIGKILLed at random moments ------------------------------


def _cli_support() -> Any:
    """tests/cli/_watch_support.py (a loopback emulator, a campaign rewarding each referral)."""
    folder = str(Path(__file__).resolve().parent.parent / "cli")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import _watch_support

    return _watch_support


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def check_shared_deliveries(files: list[list[str]], kills: int) -> int:
    """The duplicate window with several watchers (docs/feed.md, "The delivery contract", 4).

    *files* are each watcher slot's deliveries in order, with a ``RESTART`` line where its
    watcher was SIGKILLed. A duplicate is allowed only for an event that was in flight at a
    kill (the last delivery of that slot before its ``RESTART``), at most once per such kill,
    byte for byte. Returns the number of redeliveries.
    """
    in_flight: Counter[str] = Counter()
    for lines in files:
        previous: str | None = None
        for line in lines:
            if line == "RESTART":
                if previous is not None:
                    in_flight[previous] += 1
                previous = None
            else:
                previous = line
    assert sum(in_flight.values()) <= kills
    deliveries = Counter(line for lines in files for line in lines if line != "RESTART")
    ids = Counter(json.loads(line)["id"] for line in deliveries.elements())
    redelivered = 0
    for line, n in deliveries.items():
        assert ids[json.loads(line)["id"]] == n, f"same id, different bytes: {line[:80]}"
        if n > 1:
            assert n - 1 <= in_flight[line], f"delivered {n} times, not in flight: {line[:80]}"
            redelivered += n - 1
    return redelivered


def test_the_shared_duplicate_check_accepts_only_in_flight_redeliveries() -> None:
    """The checker: a redelivery of the event in flight at a kill passes, by any slot; any
    other duplicate, more than one per kill, or changed bytes fail."""
    a, b, c = (json.dumps({"id": x}) for x in "abc")
    assert check_shared_deliveries([[a, b, "RESTART"], [c, b]], kills=1) == 1
    assert check_shared_deliveries([[a, "RESTART"], [b], [c]], kills=1) == 0
    changed = json.dumps({"id": "b", "n": 2})
    for files in ([[a, b], [b]], [[a, b, "RESTART"], [b, b]], [[a, b, "RESTART"], [changed]]):
        with pytest.raises(AssertionError):
            check_shared_deliveries(files, kills=1)


def _shared_kill_run(
    workdir: Path, redis_url: str, name: str, *, events: int, kills: int, seed: int
) -> dict[str, int]:
    """Deliver *events* rewards through 3 `irefer watch --redis` watchers, SIGKILLing one
    at random *kills* times (each restarted at once); check nothing lost or doubled."""
    support = _cli_support()
    rng = random.Random(seed)
    emulator = Emulator(seed=0, campaigns=[support.reward_each_referral()])
    outs = [workdir / f"delivered.{i}.jsonl" for i in range(3)]
    with support.loopback(emulator) as lb:
        code = lb.call(lambda e: e.add_participant("ann@example.com").code)
        command = [sys.executable, "-m", "irefer_async.cli", "watch", "--redis", redis_url,
                   "--feed-name", name, "--rate", "0", "--progress", "none",
                   "--type", "reward.triggered", "--lease", "2", "--poll-lock", "2"]  # fmt: skip
        env = {**os.environ, "IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY,
               "IREFER_API_KEY": DEFAULT_API_KEY, "IREFER_BASE_URL": lb.url,
               "IREFER_CAMPAIGN_ID": "2605"}  # fmt: skip
        baseline = subprocess.run([*command, "--once"], env=env, cwd=workdir, timeout=60,
                                  capture_output=True, check=False)  # fmt: skip
        assert baseline.returncode == 0, baseline.stderr

        def start(i: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [*command, "--interval", "0.05", "--exec", f"cat >> {outs[i]}"],
                env=env, cwd=workdir, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

        def delivered_ids() -> set[str]:
            return {json.loads(line)["id"] for out in outs if out.exists()
                    for line in out.read_text().splitlines() if line != "RESTART"}  # fmt: skip

        watchers = [start(i) for i in range(3)]
        produced = 0
        chunk = max(1, events // (4 * kills))
        kill_at = sorted(rng.sample(range(chunk, events), kills))
        deadline = time.monotonic() + 120 + events * 0.05
        done_kills = 0
        try:
            while True:
                assert time.monotonic() < deadline, "the watchers fell too far behind"
                if produced < events:
                    n = min(chunk, events - produced)
                    lb.call(lambda e, first=produced, n=n: [
                        e.add_participant(f"p{first + i}@example.com", referrer_code=code)
                        for i in range(n)
                    ])  # fmt: skip
                    produced += n
                delivered = len(delivered_ids())
                if done_kills < kills and delivered >= kill_at[done_kills] - rng.randrange(chunk):
                    time.sleep(rng.uniform(0, 0.05))  # land anywhere: poll, exec, ack
                    victim = rng.randrange(3)
                    watchers[victim].send_signal(signal.SIGKILL)
                    watchers[victim].wait(10)
                    while not _group_gone(watchers[victim].pid):  # an in-flight `cat` ends
                        time.sleep(0.005)
                    with outs[victim].open("a") as fh:
                        fh.write("RESTART\n")
                    done_kills += 1
                    watchers[victim] = start(victim)
                    continue
                if produced >= events and done_kills == kills and delivered >= events:
                    break
                time.sleep(0.05)
            time.sleep(3)  # past the lease: a late redelivery would show now
        finally:
            for watcher in watchers:
                watcher.send_signal(signal.SIGTERM)
            for watcher in watchers:
                watcher.wait(30)
        rows = lb.call(lambda e: [r["id"] for r in e.snapshot()["campaigns"][0]["rewards"]])
    expected = {event_id(2605, "reward.triggered", rid) for rid in rows}
    assert len(expected) == events
    files = [out.read_text().splitlines() if out.exists() else [] for out in outs]
    assert delivered_ids() == expected  # none lost
    redelivered = check_shared_deliveries(files, kills)
    per_watcher = [sum(line != "RESTART" for line in lines) for lines in files]
    return {"events": events, "kills": kills, "redelivered": redelivered,
            "min_per_slot": min(per_watcher)}  # fmt: skip


@pytest.mark.system
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_three_watchers_on_one_redis_store_survive_sigkills(
    redis_server: RedisServer, key_name: str, tmp_path: Path
) -> None:
    """600 rewards, 3 watchers sharing a Redis store, 3 random SIGKILLs: none lost, none
    twice except the event in flight at a kill, and every watcher delivered some."""
    result = _shared_kill_run(tmp_path, redis_server.url, key_name, events=600, kills=3, seed=3)
    assert result["min_per_slot"] > 0
    print(result)


@pytest.mark.system
@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_three_watchers_on_one_redis_store_survive_sigkills_10k(
    redis_server: RedisServer, key_name: str, tmp_path: Path
) -> None:
    """The figure: 10,000 rewards, 3 watchers on one Redis store, 5 random SIGKILLs."""
    result = _shared_kill_run(tmp_path, redis_server.url, key_name, events=10_000, kills=5,
                              seed=11)  # fmt: skip
    print(result)
