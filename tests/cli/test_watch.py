"""``irefer watch``: --once, --exec, --forward, dead letters, options, and SIGKILL restarts."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _watch_support import SECRET, Receiver, loopback, reward_each_referral
from click.testing import CliRunner
from rich.console import Console
from standardwebhooks import Webhook

from irefer_async.cli import cli
from irefer_async.cli._target import Target
from irefer_async.cli._watch import WatchOptions, run_watch
from irefer_async.feed import event_id, verify_signature
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator


def _options(workdir: Path, **kw: Any) -> WatchOptions:
    defaults: dict[str, Any] = {
        "target": Target(emulator=True), "store": workdir / "feed.sqlite", "once": True,
        "rate": None, "progress": "none", "min_backoff": 0.01, "max_backoff": 0.05,
    }  # fmt: skip
    defaults.update(kw)
    return WatchOptions(**defaults)


async def _watch(options: WatchOptions) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = await run_watch(options, Console(file=io.StringIO()), out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_watch_once_baselines_then_prints_new_events(
    emulator: Emulator, runner: CliRunner, workdir: Path
) -> None:
    """First --once takes the baseline (prints nothing); the next prints the change as JSON."""
    ann = emulator.add_participant("ann@example.com")
    args = ["watch", "--emulator", "--once", "--progress", "json"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    poll = json.loads(first.stderr.splitlines()[0])
    assert poll["event"] == "poll" and poll["baseline"] is True
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    second = runner.invoke(cli, args)
    assert second.exit_code == 0, second.output
    events = [json.loads(line) for line in second.stdout.splitlines()]
    assert sorted(e["type"] for e in events) == [
        "participant.joined", "referral.credited", "reward.triggered"  # 1 referral: a reward
    ]  # fmt: skip
    assert all(list(e)[:2] == ["id", "type"] for e in events)
    assert runner.invoke(cli, args).stdout == ""  # acknowledged: not printed again


async def test_exec_gets_the_event_on_stdin_and_no_credentials(
    emulator: Emulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--exec: one JSON line on stdin, IREFER_EVENT_* set, keys and secret not inherited."""
    monkeypatch.setenv("IREFER_API_KEY", "leak-me-not-123456")
    monkeypatch.setenv("IREFER_WEBHOOK_SECRET", SECRET)
    ann = emulator.add_participant("ann@example.com")
    assert (await _watch(_options(workdir)))[0] == 0
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    cmd = 'cat >> got.jsonl; env | grep -c -e IREFER_API_KEY -e IREFER_WEBHOOK >> leaks.txt; ' \
          'echo "$IREFER_EVENT_TYPE $IREFER_EVENT_ID" >> env.txt'  # fmt: skip
    code, lines = await _watch(_options(workdir, exec_cmd=cmd))
    assert code == 0
    got = [json.loads(line) for line in (workdir / "got.jsonl").read_text().splitlines()]
    assert sorted(e["type"] for e in got)[:2] == ["participant.joined", "referral.credited"]
    assert (workdir / "env.txt").read_text().splitlines() == [f"{e['type']} {e['id']}" for e in got]
    assert (workdir / "leaks.txt").read_text().split() == ["0"] * len(got)
    assert [(r["id"], r["status"], r["attempts"]) for r in lines] == [
        (e["id"], "acked", 1) for e in got
    ]


async def test_a_failing_exec_is_retried_then_dead_lettered(
    emulator: Emulator, workdir: Path
) -> None:
    """Non-zero exits: retried --attempts times, then written to the dead-letter file, exit 1."""
    ann = emulator.add_participant("ann@example.com")
    await _watch(_options(workdir))
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    cmd = "cat >> tries.jsonl; exit 3"
    code, lines = await _watch(_options(workdir, exec_cmd=cmd, attempts=3,
                                        types=("participant.joined",)))  # fmt: skip
    assert code == 1
    assert len((workdir / "tries.jsonl").read_text().splitlines()) == 3
    dead = [
        json.loads(x) for x in (workdir / "feed.sqlite.dead-letter.jsonl").read_text().splitlines()
    ]
    assert len(dead) == 1 and dead[0]["error"] == "--exec exited with 3"
    assert dead[0]["event"]["type"] == "participant.joined"
    assert lines == [{"id": dead[0]["event"]["id"], "type": "participant.joined",
                      "status": "dead_letter", "attempts": 3, "error": "--exec exited with 3"}]  # fmt: skip
    assert (await _watch(_options(workdir, exec_cmd=cmd)))[1] == []  # acknowledged


@pytest.mark.system
async def test_forward_to_a_receiver_down_then_failing_then_dropping(
    emulator: Emulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Receiver refused, then 503s, then answers lost after the work: nothing lost, all signed."""
    from _watch_support import free_port_number

    monkeypatch.setenv("IREFER_WEBHOOK_SECRET", SECRET)
    ann = emulator.add_participant("ann@example.com")
    await _watch(_options(workdir))
    for i in range(10):
        emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
    port = free_port_number()
    receiver = Receiver(fail_first=3, hold=0.01, drop_after=frozenset({5, 9}))
    options = _options(workdir, forward=f"http://127.0.0.1:{port}/hooks", attempts=100)

    async def start_later() -> None:
        await asyncio.sleep(0.3)  # down (connection refused) for the first attempts
        await receiver.start(port)

    starter = asyncio.create_task(start_later())
    code, lines = await _watch(options)
    await starter
    await receiver.stop()
    assert code == 0
    expected = {line["id"] for line in lines}
    assert len(expected) == len(lines) >= 10 + 10  # joins, credits and the rewards earned
    assert set(receiver.ids) == expected  # nothing lost
    assert receiver.bad_signatures == 0
    counts = Counter(receiver.ids)
    assert sorted(counts.values()) == [1] * (len(expected) - 2) + [2] * 2  # 2 dropped answers
    assert all(line["status"] == "acked" for line in lines)
    assert any(line["attempts"] > 1 for line in lines)
    body, headers = receiver.received[0]
    with pytest.raises(Exception, match="replay window"):  # a captured POST, replayed later
        verify_signature(body, headers, SECRET, now=time.time() + 301)
    # Every attempt of one event carries its id as webhook-id, and the library agrees.
    assert all(h["webhook-id"] == json.loads(b)["id"] for b, h in receiver.received)
    assert all(Webhook(SECRET).verify(b, h, json_parse=False) is None
               for b, h in receiver.received[-3:])  # fmt: skip


def test_option_errors_exit_2_before_any_request(
    emulator: Emulator, runner: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--exec with --forward, --forward without its secret or with a pre-whsec_ one, a too-short
    interval: exit 2, and the secret is not quoted."""
    monkeypatch.setenv("OLD_STYLE_SECRET", "old-free-text-secret-value")
    cases = [
        (["--exec", "true", "--forward", "http://x"], "exclude each other"),
        (["--forward", "http://127.0.0.1:9/h"], "IREFER_WEBHOOK_SECRET"),
        (["--forward", "ftp://x"], "http:// or https://"),
        (
            ["--forward", "http://127.0.0.1:9/h", "--secret-env", "OLD_STYLE_SECRET"],
            "OLD_STYLE_SECRET: the webhook secret must have the Standard Webhooks form",
        ),
        (["--interval", "0.1", "--rate", "5"], "too short"),
    ]
    for extra, message in cases:
        result = runner.invoke(cli, ["watch", "--emulator", "--once", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in " ".join(result.stderr.split())
        assert "free-text-secret" not in result.output
    assert len(emulator.journal) == 0


# -- the SIGKILL figure --------------------------------------------------------------------


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY,
            "IREFER_API_KEY": DEFAULT_API_KEY, "IREFER_BASE_URL": url,
            "IREFER_CAMPAIGN_ID": "2605"}  # fmt: skip


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _kill_restart_run(workdir: Path, events: int, kills: int, seed: int) -> dict[str, int]:
    """Deliver *events* rewards through `irefer watch --exec` while SIGKILLing it *kills* times."""
    rng = random.Random(seed)
    emulator = Emulator(seed=0, campaigns=[reward_each_referral()])
    out = workdir / "delivered.jsonl"
    with loopback(emulator) as lb:
        code = lb.call(lambda e: e.add_participant("ann@example.com").code)
        command = [sys.executable, "-m", "irefer_async.cli", "watch", "--store",
                   str(workdir / "feed.sqlite"), "--rate", "0", "--progress", "none",
                   "--type", "reward.triggered"]  # fmt: skip
        env = _env(lb.url)
        baseline = subprocess.run([*command, "--once"], env=env, cwd=workdir, timeout=60,
                                  capture_output=True, check=False)  # fmt: skip
        assert baseline.returncode == 0, baseline.stderr
        watch = [*command, "--interval", "0.05", "--exec", f"cat >> {out}"]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(watch, env=env, cwd=workdir, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        process = start()
        produced = 0
        chunk = max(1, events // (4 * kills))
        kill_at = sorted(rng.sample(range(chunk, events), kills))
        deadline = time.monotonic() + 60 + events * 0.05
        done_kills = 0
        while True:
            assert time.monotonic() < deadline, "the watcher fell too far behind"
            if produced < events:
                n = min(chunk, events - produced)
                lb.call(lambda e, start=produced, n=n: [
                    e.add_participant(f"p{start + i}@example.com", referrer_code=code)
                    for i in range(n)
                ])  # fmt: skip
                produced += n
            delivered = len(out.read_text().splitlines()) if out.exists() else 0
            if done_kills < kills and delivered >= kill_at[done_kills] - rng.randrange(chunk):
                time.sleep(rng.uniform(0, 0.05))  # land anywhere: poll, exec, ack
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                while not _group_gone(process.pid):  # let an in-flight `cat` finish writing
                    time.sleep(0.005)
                with out.open("a") as fh:
                    fh.write("RESTART\n")
                done_kills += 1
                process = start()
                continue
            if produced >= events and done_kills == kills:
                ids = {line for line in out.read_text().splitlines() if line != "RESTART"}
                if len(ids) >= events:
                    break
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        rows = lb.call(lambda e: [r["id"] for r in e.snapshot()["campaigns"][0]["rewards"]])
    expected = {event_id(2605, "reward.triggered", rid) for rid in rows}
    assert len(expected) == events
    lines = out.read_text().splitlines()
    delivered_ids = [json.loads(x)["id"] for x in lines if x != "RESTART"]
    assert set(delivered_ids) == expected  # no event lost
    redelivered = _assert_redelivered_only_in_flight(lines)
    assert redelivered <= kills  # at most one event per crash
    return {"events": events, "kills": kills, "redelivered": redelivered}


def _assert_redelivered_only_in_flight(lines: list[str]) -> int:
    """The feed's duplicate window (docs/feed.md, "The delivery contract", 4): a duplicate is
    only the event in flight at a crash, redelivered first at the next start, byte for byte.

    *lines* are the deliveries in order, with a ``RESTART`` line at each kill. A watcher killed
    again before it delivered anything (still starting) leaves two ``RESTART`` lines in a row:
    the event in flight at the first kill is then redelivered by the next watcher that
    delivers, still first. Returns the number of redeliveries.
    """
    seen: set[str] = set()
    previous: str | None = None  # the last delivery, the one in flight if a kill follows
    restarted = False  # a kill since that delivery
    redelivered = 0
    for index, line in enumerate(lines):
        if line == "RESTART":
            restarted = True
            continue
        event_id = json.loads(line)["id"]
        if event_id in seen:
            assert restarted and line == previous, (index, lines[max(0, index - 3) : index + 1])
            redelivered += 1
        seen.add(event_id)
        previous, restarted = line, False
    return redelivered


def test_the_duplicate_window_check_accepts_only_in_flight_redeliveries() -> None:
    """The kill test's checker: a redelivery right after a kill (or two kills in a row, or the
    same event in flight at two kills) passes; any other duplicate, or changed bytes, fails."""
    a, b = json.dumps({"id": "a", "n": 1}), json.dumps({"id": "b"})
    check = _assert_redelivered_only_in_flight
    assert check([a, b, "RESTART", b, "RESTART"]) == 1
    assert check([a, "RESTART", "RESTART", a, b]) == 1
    assert check([a, "RESTART", a, "RESTART", a, b]) == 2
    changed = json.dumps({"id": "a", "n": 2})
    for bad in ([a, b, a], [a, b, "RESTART", a], [a, "RESTART", b, a], [a, a],
                [a, "RESTART", changed]):  # fmt: skip
        with pytest.raises(AssertionError):
            check(bad)


@pytest.mark.system
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_sigkill_restarts_lose_no_event(tmp_path: Path) -> None:
    """300 rewards via --exec, the watcher SIGKILLed twice: none lost, redelivered only in flight."""
    _kill_restart_run(tmp_path, events=300, kills=2, seed=1)


@pytest.mark.system
@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL, process groups")
def test_sigkill_restarts_lose_no_event_10k(tmp_path: Path) -> None:
    """The figure: 10,000 rewards via --exec, 5 random SIGKILLs and restarts, nothing lost."""
    result = _kill_restart_run(tmp_path, events=10_000, kills=5, seed=7)
    print(result)


async def test_a_failed_poll_is_reported_and_the_next_one_delivers(
    emulator: Emulator, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API failing past its retries in one poll: a poll_failed line, then business as usual."""
    ann = emulator.add_participant("ann@example.com")
    await _watch(_options(workdir))
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    emulator.inject_fault("http_5xx_before", method="referrers", times=4)  # one poll's attempts
    options = _options(workdir, once=False, max_polls=2, interval=0.01, progress="json")
    code, lines = await _watch(options)
    assert code == 0
    assert sorted(line["type"] for line in lines) == [
        "participant.joined", "referral.credited", "reward.triggered"
    ]  # fmt: skip
    progress = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [p["event"] for p in progress] == ["poll_failed", "poll", "summary"]
    assert progress[-1] == {"event": "summary", "polls": 2, "acked": 3, "dead_letter": 0,
                            "retries": 0, "pending": 0}  # fmt: skip
    assert progress[0]["error_type"] == "ServerError"
    assert "W4qL" not in progress[0]["error"]  # the license key never shows


def test_exec_from_the_command_line_keeps_stdout_for_json_lines(
    emulator: Emulator, runner: CliRunner, workdir: Path
) -> None:
    """The command's own output goes to stderr; stdout has only the JSON outcome lines."""
    ann = emulator.add_participant("ann@example.com")
    assert runner.invoke(cli, ["watch", "--emulator", "--once"]).exit_code == 0
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    result = runner.invoke(cli, ["watch", "--emulator", "--once", "--type", "participant.joined",
                                 "--exec", "echo handled; cat > /dev/null"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["type"], x["status"]) for x in lines] == [("participant.joined", "acked")]


async def test_a_hung_exec_is_killed_at_its_timeout(emulator: Emulator, workdir: Path) -> None:
    """--exec-timeout: a command that hangs is killed, the attempt fails, then dead-lettered."""
    ann = emulator.add_participant("ann@example.com")
    await _watch(_options(workdir))
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    options = _options(workdir, exec_cmd="exec sleep 30", exec_timeout=0.2, attempts=1,
                       types=("participant.joined",))  # fmt: skip
    started = time.monotonic()
    code, lines = await _watch(options)
    assert time.monotonic() - started < 10
    assert code == 1
    assert [(x["status"], x["error"]) for x in lines] == [
        ("dead_letter", "--exec timed out after 0.2 s")
    ]


def test_the_default_rate_bounds_the_interval(runner: CliRunner, workdir: Path) -> None:
    """Against the real API (client default 5/s) an interval under 0.6 s is refused."""
    env = {"IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY, "IREFER_API_KEY": DEFAULT_API_KEY,
           "IREFER_CAMPAIGN_ID": "2605", "IREFER_BASE_URL": "http://192.0.2.1:9/v1.0/"}  # fmt: skip
    result = runner.invoke(cli, ["watch", "--interval", "0.5"], env=env)
    assert result.exit_code == 2 and "--interval must be >= 0.6 s" in result.stderr


@pytest.mark.parametrize("once", [True, False], ids=["once", "running"])
async def test_the_poll_line_is_written_after_the_polls_deliveries(
    emulator: Emulator, workdir: Path, capsys: pytest.CaptureFixture[str], once: bool
) -> None:
    """A poll that found N events reports them acked and 0 pending, never "0 acked, N pending"."""
    ann = emulator.add_participant("ann@example.com")
    await _watch(_options(workdir))
    capsys.readouterr()
    for i in range(3):
        emulator.add_participant(f"p{i}@example.com", referrer_code=ann.code)
    options = _options(workdir, once=once, max_polls=1, interval=0.01, progress="json")
    code, lines = await _watch(options)
    assert code == 0 and len(lines) >= 6  # 3 joins, 3 credits, the rewards earned
    poll, summary = (json.loads(x) for x in capsys.readouterr().err.splitlines())
    assert poll["event"] == "poll" and sum(poll["events"].values()) == len(lines)
    assert (poll["acked"], poll["pending"]) == (len(lines), 0)
    assert summary["acked"] == len(lines)


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process taking the SQLite file's write lock for *seconds* (like a backup)."""
    script = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "db.execute('ROLLBACK')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(seconds)],
                            stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"locked\n"
    return proc


@pytest.mark.system
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file locks")
def test_a_store_locked_by_another_process_for_8_s_is_waited_out(tmp_path: Path) -> None:
    """A running watcher whose store another process locks for 8 s: one line saying it waits,
    then every event delivered, nothing lost, no traceback (it used to die with
    ``sqlite3.OperationalError: database is locked``)."""
    emulator = Emulator(seed=0, campaigns=[reward_each_referral()])
    out = tmp_path / "delivered.jsonl"
    store = tmp_path / "feed.sqlite"
    with loopback(emulator) as lb:
        code = lb.call(lambda e: e.add_participant("ann@example.com").code)
        command = [sys.executable, "-m", "irefer_async.cli", "watch", "--store", str(store),
                   "--rate", "0", "--progress", "json", "--type", "reward.triggered"]  # fmt: skip
        env = _env(lb.url)
        baseline = subprocess.run([*command, "--once"], env=env, timeout=60,
                                  capture_output=True, check=False)  # fmt: skip
        assert baseline.returncode == 0, baseline.stderr
        watcher = subprocess.Popen(
            [*command, "--interval", "0.2", "--exec", f"cat >> {out}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            lb.call(lambda e: [e.add_participant(f"a{i}@example.com", referrer_code=code)
                               for i in range(20)])  # fmt: skip
            holder = _hold_lock(store, 8.0)
            lb.call(lambda e: [e.add_participant(f"b{i}@example.com", referrer_code=code)
                               for i in range(20)])  # fmt: skip
            assert holder.wait(30) == 0
            deadline = time.monotonic() + 60
            while not out.exists() or len(out.read_text().splitlines()) < 40:
                assert watcher.poll() is None, watcher.stderr and watcher.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            watcher.send_signal(signal.SIGTERM)
            _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    lines = [json.loads(x) for x in err.decode().splitlines()]
    waits = [x for x in lines if x["event"] == "store_locked"]
    assert len(waits) >= 1 and "waiting (up to 60 s)" in waits[0]["message"]
    assert b"Traceback" not in err and b"OperationalError" not in err
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 40  # nothing lost, nothing twice


def test_a_store_locked_past_the_lock_timeout_stops_with_a_clear_message(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """--lock-timeout 0.3 and the store held longer: exit 2, one clear line, no traceback."""
    first = runner.invoke(cli, ["watch", "--emulator", "--once", "--progress", "none"])
    assert first.exit_code == 0, first.output
    other = sqlite3.connect(workdir / "irefer-feed.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        result = runner.invoke(cli, ["watch", "--emulator", "--once", "--progress", "json",
                                     "--lock-timeout", "0.3"])  # fmt: skip
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 2, result.output
    assert "stayed locked by another process" in result.stderr
    assert "nothing was lost" in result.stderr
    assert json.loads(result.stderr.splitlines()[0])["event"] == "store_locked"
    assert "Traceback" not in result.output


def _default(name: str) -> Any:
    from irefer_async.cli._watch import watch

    return next(p.default for p in watch.params if p.name == name)


def test_the_default_lease_outlasts_the_longest_delivery(runner: CliRunner) -> None:
    """--lease's default keeps its own rule: above every attempt's timeout and backoff (it was
    300 s, under --attempts x --max-backoff = 480 s)."""
    from irefer_async.cli._watch import default_lease

    attempts, backoff, timeout = (_default(n) for n in ("attempts", "max_backoff", "exec_timeout"))
    lease = default_lease(attempts, backoff, timeout)
    longest = attempts * timeout + (attempts - 1) * backoff  # every attempt and wait at its worst
    assert lease >= longest and lease > attempts * backoff
    assert _default("lease") is None  # derived, so a larger --attempts raises it too
    assert default_lease(20, 60, 60) > 20 * 60
    text = " ".join(runner.invoke(cli, ["watch", "--help"]).stdout.split())
    assert f"--attempts x (--max-backoff + --exec-timeout): {lease:g} with the defaults" in text


async def test_watch_hands_the_feed_the_derived_lease(
    emulator: Emulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from irefer_async.cli import _watch

    leases: list[float] = []
    real = _watch.RewardFeed

    def feed(*args: Any, **kw: Any) -> Any:
        leases.append(kw["lease"])
        return real(*args, **kw)

    monkeypatch.setattr(_watch, "RewardFeed", feed)
    await _watch_run(_options(workdir, attempts=3, max_backoff=2.0, exec_timeout=5.0))
    await _watch_run(_options(workdir, lease=7.0))
    assert leases == [3 * (2.0 + 5.0), 7.0]


async def _watch_run(options: WatchOptions) -> None:
    code, _ = await _watch(options)
    assert code == 0
