"""Cancellation and lifecycle: nothing left running or open, and clear errors on misuse.

Cancelling a single call, a bulk run or the CLI mid-flight leaves no pending task (besides the
test's own) and no busy connection in the httpx pool; closing the client closes the pool; a
closed client and a client used from a second event loop raise ``ClientStateError``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpcore
import pytest
from _support import (
    NO_WAIT,
    SECRET_API_KEY,
    SECRET_LICENSE_KEY,
    EmulatorProcess,
    cli_env,
    make_emulator,
)

import irefer_async as ia
from irefer_async.testing import Emulator, Fault, FaultKind


def _pool(client: ia.IReferClient) -> httpcore.AsyncConnectionPool:
    return client._http._transport._pool  # type: ignore[attr-defined,no-any-return]


def _busy(client: ia.IReferClient) -> list[Any]:
    """Connections of the client's pool that are neither idle nor closed."""
    return [c for c in _pool(client).connections if not (c.is_idle() or c.is_closed())]


async def _no_other_tasks() -> None:
    await asyncio.sleep(0)  # let cancelled tasks finish unwinding
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not others, others


async def _wait_for_requests(emulator: Emulator | EmulatorProcess, n: int) -> None:
    for _ in range(2000):
        if isinstance(emulator, Emulator):
            seen = len(emulator.journal)
        else:
            seen = len(await asyncio.to_thread(emulator.control, "journal"))
        if seen >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the request never reached the emulator")


def _client(url: str, **kwargs: Any) -> ia.IReferClient:
    """A client for the emulator process (which runs apart, so every task here is the SDK's)."""
    kwargs.setdefault("max_concurrency", 1)
    return ia.IReferClient(
        SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605, base_url=url, retry=NO_WAIT,
        rate_limit=None, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("call", ["referrers", "new_signup", "new_signup_reconciling"])
async def test_cancel_single_call_over_loopback(
    call: str, emulator_process: EmulatorProcess
) -> None:
    """A call cancelled while its request stalls: no task left, no busy connection, usable."""
    stall = {"kind": "timeout_before", "delay": 30}
    if call == "new_signup_reconciling":
        emulator_process.control("faults", {"kind": "http_5xx_after", "method": "newSignup"})
        emulator_process.control("faults", {**stall, "method": "referrerStats"})
    else:
        emulator_process.control("faults", stall)
    async with _client(emulator_process.url) as client:
        coro = client.referrers() if call == "referrers" else client.new_signup("c@x.example")
        task = asyncio.create_task(coro)
        await _wait_for_requests(emulator_process, 2 if call == "new_signup_reconciling" else 1)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _no_other_tasks()
        assert not _busy(client)
        # The concurrency slot (max_concurrency=1) was released: the next call goes through.
        await asyncio.wait_for(client.campaign_stats(), timeout=10)
    assert client.is_closed
    assert not _pool(client).connections


async def test_cancel_in_process_latency() -> None:
    """A call cancelled during an in-process latency fault leaves nothing behind."""
    emulator = make_emulator()
    emulator.inject_fault(Fault(FaultKind.LATENCY, delay=30))
    async with emulator.client(retry=NO_WAIT) as client:
        task = asyncio.create_task(client.rewards())
        await _wait_for_requests(emulator, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _no_other_tasks()
        assert await client.rewards() == ()


@pytest.mark.parametrize("how", ["cancel_consumer", "break", "aclose"])
async def test_cancel_bulk_run_over_loopback(how: str, emulator_process: EmulatorProcess) -> None:
    """A bulk run ended mid-flight: no worker task left, rows accounted for, client usable."""
    emulator_process.control(
        "faults", {"rate": 0.3, "kinds": [{"kind": "latency", "delay": 0.2}], "seed": 1}
    )
    rows = [{"email": f"b{i}@example.com"} for i in range(500)]
    async with _client(emulator_process.url, max_concurrency=8) as client:
        run = client.bulk_new_signups(rows)
        seen: list[Any] = []

        async def consume() -> None:
            async with run:
                async for outcome in run:
                    seen.append(outcome)
                    if how == "break" and len(seen) >= 40:
                        break

        task = asyncio.create_task(consume())
        while len(seen) < 40 and not task.done():  # noqa: ASYNC110 - polling the consumer
            await asyncio.sleep(0.005)
        if how == "cancel_consumer":
            task.cancel()
        elif how == "aclose":
            await run.aclose()
        with pytest.raises(asyncio.CancelledError) if how == "cancel_consumer" else _nothing():
            await task
        await _no_other_tasks()
        assert not run.in_flight
        indexes = [o.index for o in seen] + [o.index for o in run.undelivered]
        assert len(indexes) == len(set(indexes)) == run.summary.total
        assert set(indexes) == set(range(run.summary.total))
        # Undelivered: rows cut off in flight (unknown) and outcomes produced but not yielded.
        assert run.summary.unknown == sum(
            o.status is ia.BulkStatus.UNKNOWN for o in run.undelivered
        )
        assert run.summary.interrupted
        await asyncio.wait_for(client.campaign_stats(), timeout=10)


async def test_bulk_cancellation_leaves_no_slot_or_task_behind(
    emulator_process: EmulatorProcess,
) -> None:
    """Bulk runs closed mid-flight, eight times over: nothing of the SDK's left behind.

    After each ``aclose()`` no task of the run is left, every one of the client's 8
    concurrency slots is free again, nobody waits for one, and the client answers a call at
    once (a pool filled with abandoned exchanges would make it wait). httpcore 1.0.9 may keep a cancelled exchange's connection marked ACTIVE in its pool
    (encode/httpcore#1093, open upstream), so the pool's own bookkeeping is checked only where
    the SDK owns it: closing the client closes every connection.
    """
    emulator_process.control(
        "faults", {"rate": 0.3, "kinds": [{"kind": "latency", "delay": 0.2}], "seed": 1}
    )
    async with _client(emulator_process.url, max_concurrency=8) as client:
        for k in range(8):
            run = client.bulk_new_signups([{"email": f"x{k}-{i}@example.com"} for i in range(300)])

            async def consume(run: Any = run) -> None:
                async with run:
                    async for _ in run:
                        pass

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.3)
            await run.aclose()
            await task
            await _no_other_tasks()
            throttle: Any = client._throttle
            assert throttle._semaphore._value == 8 and throttle.waiting == 0
            await asyncio.wait_for(client.campaign_stats(), timeout=5)
    assert not _pool(client).connections  # closing the client closes everything


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_cancel_cli_import_in_process(tmp_path: Path) -> None:
    """``run_import`` cancelled mid-flight: no task left, files closed, the ledger resumable."""
    from rich.console import Console

    from irefer_async.cli import _target
    from irefer_async.cli._import import ImportOptions, run_import

    emulator = make_emulator(secret=False)
    emulator.inject_fault_rate(0.2, [Fault(FaultKind.LATENCY, delay=0.05)], seed=2)
    csv = tmp_path / "in.csv"
    csv.write_text("email\n" + "".join(f"k{i}@example.com\n" for i in range(1000)))
    options = ImportOptions(
        kind="signups", path=csv, target=_target.Target(emulator=True), rate=None,
        progress="none", concurrency=8,
    )  # fmt: skip
    saved = _target.emulator_factory
    _target.emulator_factory = lambda: emulator
    try:
        task = asyncio.create_task(run_import(options, Console(file=open(tmp_path / "out", "w"))))  # noqa: SIM115, ASYNC230
        await _wait_for_requests(emulator, 100)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _no_other_tasks()
        results = (tmp_path / "in.csv.results.jsonl").read_text().splitlines()
        assert all(json.loads(line)["status"] for line in results)  # complete lines only
        resumed = await run_import(
            ImportOptions(
                kind="signups", path=csv, target=_target.Target(emulator=True), rate=None,
                progress="none", concurrency=8, resume=True,
            ),
            Console(file=open(tmp_path / "out2", "w")),  # noqa: SIM115, ASYNC230
        )  # fmt: skip
    finally:
        _target.emulator_factory = saved
    assert resumed.exit_code == 0
    assert len(emulator.snapshot()["campaigns"][0]["participants"]) == 1000


@pytest.mark.system
def test_sigint_cli_import(emulator_process: EmulatorProcess, tmp_path: Path) -> None:
    """Ctrl-C on ``irefer import``: exit 130, a hint to resume, and the resume completes."""
    emulator_process.control(
        "faults", {"rate": 0.3, "kinds": [{"kind": "latency", "delay": 0.05}], "seed": 1}
    )
    csv = tmp_path / "in.csv"
    csv.write_text("email\n" + "".join(f"i{i}@example.com\n" for i in range(600)))
    results = tmp_path / "in.csv.results.jsonl"
    args = [
        sys.executable, "-m", "irefer_async.cli", "import", "signups", str(csv),
        "--base-url", emulator_process.url, "--rate", "0", "--progress", "none",
        # A cancelled write lands at most 0.05 s (its latency) after the client gave up: a
        # 1 s settle window proves "not landed" safely (the default 10 s is for real servers).
        "--settle", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.exists() and results.stat().st_size > 1000:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "--resume" in out + err
    final = subprocess.run(
        [*args, "--resume"], capture_output=True, env=cli_env(), text=True, timeout=300, check=False
    )
    assert final.returncode == 0, final.stdout + final.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(records) == 600 and {r["status"] for r in records} == {"ok"}


# -- misuse -----------------------------------------------------------------------------------


async def test_closed_client_raises_a_clear_error() -> None:
    """Every endpoint, ``async with`` and bulk rows on a closed client: ClientStateError."""
    emulator = make_emulator()
    client = emulator.client(retry=NO_WAIT)
    async with client:
        await client.campaign_stats()
    await client.aclose()  # idempotent
    calls = [
        client.referrer_stats("a@example.com"), client.campaign_stats(),
        client.new_signup("a@example.com"),
        client.new_specific_action("e", action="/dashboard", referrer_code="c"),
        client.referrers(), client.rewards(), client.specific_action_signups(),
    ]  # fmt: skip
    for call in calls:
        with pytest.raises(ia.ClientStateError, match="closed"):
            await call
    with pytest.raises(ia.ClientStateError, match="closed"):
        async with client:
            pass
    async with client.bulk_new_signups([{"email": "z@example.com"}]) as run:
        outcomes = [o async for o in run]
    assert isinstance(outcomes[0].error, ia.ClientStateError)
    assert outcomes[0].status is not ia.BulkStatus.OK
    assert len(emulator.journal) == 1


def test_client_from_two_event_loops_raises_a_clear_error() -> None:
    """A client first used in one loop raises ClientStateError in another (and in a thread)."""
    emulator = make_emulator()
    client = emulator.client(retry=NO_WAIT)
    asyncio.run(client.campaign_stats())
    with pytest.raises(ia.ClientStateError, match="another event loop"):
        asyncio.run(client.campaign_stats())
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(client.new_signup("t@example.com"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ia.ClientStateError)
    assert "one client per loop" in str(errors[0])
    assert emulator.journal.entries("newSignup") == []
