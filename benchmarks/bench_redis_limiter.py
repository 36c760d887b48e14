"""One rate limit across processes: RedisRateLimiter at R = 50/s, 4 processes x 64 tasks.

Each worker process runs one IReferClient (max_concurrency=64, rate_limit=RedisRateLimiter
on one shared key) against its own in-process emulator and submits ``new_signup`` rows for
10 s; every request's send time is recorded by a transport wrapper on CLOCK_MONOTONIC (one
clock for every process of the host). Three runs, each on a fresh redis-server:

* steady          Redis up throughout;
* restart-wait    Redis crashes (SIGKILL) at 4 s and is back at 5 s; fallback="wait";
* restart-local   Redis down from 3 s to 6 s; fallback="local", instances=4 (the local
                  limit starts 1.5 s into the outage: horizon plus one window).

Pass criteria (from issue 8): steady rate within 3% of R; no 1-second window above
R + burst in any run; no crashed worker and no lost row (every row taken was answered and
is a participant of the worker's emulator). Results: benchmarks/results/redis_limiter.json.

Run: python benchmarks/bench_redis_limiter.py [--seconds 10] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import multiprocessing
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from irefer_async import RateLimit
from irefer_async.redis import RedisRateLimiter
from irefer_async.testing import Emulator

PROCESSES = 4
CONCURRENCY = 64
BURST = 1
RESULTS = Path(__file__).with_name("results") / "redis_limiter.json"


# -- a redis-server of our own -------------------------------------------------------------


class Server:
    def __init__(self, directory: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server is not installed (apt-get install -y redis-server)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(1000):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def crash(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


# -- one worker process --------------------------------------------------------------------


class TimingTransport(httpx.AsyncBaseTransport):
    """Record when each request leaves, then hand it to the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport, times: list[float]) -> None:
        self.inner = inner
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        return await self.inner.handle_async_request(request)


_SYNC: dict[str, Any] = {}


def _init(ready: Any, go: Any, start_at: Any) -> None:
    _SYNC.update(ready=ready, go=go, start_at=start_at)


async def _worker(cfg: dict[str, Any]) -> dict[str, Any]:
    emulator = Emulator(seed=cfg["index"])
    times: list[float] = []
    limiter = RedisRateLimiter(
        cfg["url"], RateLimit(cfg["rate"], burst=BURST), name=cfg["key"],
        fallback=cfg["fallback"], instances=PROCESSES,
    )  # fmt: skip
    client = emulator.client(
        rate_limit=limiter,
        max_concurrency=CONCURRENCY,
        transport=TimingTransport(emulator.transport(), times),
    )
    taken: list[str] = []
    answered: list[str] = []
    errors: list[str] = []
    counter = iter(range(10**9))

    async def task() -> None:
        while time.monotonic() < stop_at:
            email = f"w{cfg['index']}-{next(counter)}@example.com"
            taken.append(email)
            try:
                await client.new_signup(email, name="Bench")
            except Exception as exc:  # a lost row: reported, never hidden
                errors.append(f"{email}: {type(exc).__name__}: {exc}")
            else:
                answered.append(email)

    async with limiter, client:
        await limiter._redis.ping()  # connected before the clock starts
        _SYNC["ready"].put(cfg["index"])
        await asyncio.to_thread(_SYNC["go"].wait)
        start_at = _SYNC["start_at"].value
        stop_at = start_at + cfg["seconds"]
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    landed = sum(emulator.participant(e) is not None for e in taken)
    return {"times": times, "taken": len(taken), "answered": len(answered),
            "landed": landed, "errors": errors[:5], "error_count": len(errors)}  # fmt: skip


def worker_main(cfg: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_worker(cfg))


# -- one run ----------------------------------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> tuple[int, float]:
    best, at = 0, 0.0
    for i, t in enumerate(times):
        n = bisect.bisect_left(times, t + window - 1e-9) - i
        if n > best:
            best, at = n, t
    return best, at


def run(name: str, rate: float, seconds: float, fallback: str, outage: tuple[float, float] | None):
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(tmp)
        server.start()
        try:
            cfgs = [
                {"index": i, "url": server.url, "key": f"bench-{name}", "rate": rate,
                 "fallback": fallback, "seconds": seconds}
                for i in range(PROCESSES)
            ]  # fmt: skip
            ctx = multiprocessing.get_context("spawn")
            ready, go, shared_start = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
            with ctx.Pool(PROCESSES, initializer=_init, initargs=(ready, go, shared_start)) as pool:
                pending = pool.map_async(worker_main, cfgs, chunksize=1)
                for _ in range(PROCESSES):  # every worker imported, connected and waiting
                    ready.get(timeout=120)
                start_at = shared_start.value = time.monotonic() + 0.1
                go.set()
                if outage is not None:
                    time.sleep(max(0.0, start_at + outage[0] - time.monotonic()))
                    down = time.monotonic()
                    server.crash()
                    time.sleep(max(0.0, start_at + outage[1] - time.monotonic()))
                    server.start()
                    up = time.monotonic()
                results = pending.get(timeout=seconds + 120)
        finally:
            server.stop()
    times = sorted(t for r in results for t in r["times"])
    in_run = [t for t in times if start_at <= t < start_at + seconds]
    steady = (len(in_run) - 1) / (in_run[-1] - in_run[0])
    peak, peak_at = max_in_window(times)
    row: dict[str, Any] = {
        "run": name,
        "fallback": fallback,
        "requests_in_run": len(in_run),
        "achieved_rate": round(steady, 3),
        "rate_error_pct": round(100 * (steady - rate) / rate, 2),
        "max_1s_window": peak,
        "max_window_starts_at_s": round(peak_at - start_at, 3),
        "bound": int(rate) + BURST,
        "rows_taken": sum(r["taken"] for r in results),
        "rows_answered": sum(r["answered"] for r in results),
        "rows_landed": sum(r["landed"] for r in results),
        "rows_lost": sum(r["taken"] - r["answered"] for r in results),
        "errors": [e for r in results for e in r["errors"]][:5],
        "per_process_requests": [len(r["times"]) for r in results],
        "tail_s": round(times[-1] - (start_at + seconds), 2),
    }
    if outage is not None:
        gap = [t for t in times if down <= t < up + 5]
        during = [t for t in times if down <= t < up]
        after = next((t for t in times if t >= up), None)
        row["outage_s"] = round(up - down, 2)
        row["requests_during_outage"] = len(during)
        row["first_request_after_restart_s"] = None if after is None else round(after - up, 3)
        row["requests_in_5s_after_restart"] = len([t for t in gap if t >= up])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rate, seconds = args.rate, args.seconds
    outage = (0.4 * seconds, 0.5 * seconds)
    # The local fallback starts 1.5 s into an outage (horizon + one window): a longer one.
    long_outage = (0.3 * seconds, 0.6 * seconds)
    rows = [
        run("steady", rate, seconds, "wait", None),
        run("restart-wait", rate, seconds, "wait", outage),
        run("restart-local", rate, seconds, "local", long_outage),
    ]
    checks = {
        "steady rate within 3% of R": abs(rows[0]["rate_error_pct"]) <= 3.0,
        "no 1-s window above R + burst (all runs)": all(
            r["max_1s_window"] <= r["bound"] for r in rows
        ),
        "no lost rows, no crashed worker (all runs)": all(
            r["rows_lost"] == 0 and r["rows_landed"] == r["rows_taken"] for r in rows
        ),
    }
    header = (
        f"{'run':<14}{'rate/s':>9}{'err %':>8}{'max 1s':>8}{'bound':>7}{'taken':>7}"
        f"{'landed':>8}{'lost':>6}{'outage s':>10}{'during':>8}{'1st after s':>12}"
    )
    print(
        f"RedisRateLimiter: {PROCESSES} processes x {CONCURRENCY} tasks, R={rate:g}/s, "
        f"burst={BURST}, {seconds:g} s per run "
        f"(down {outage[0]:g}-{outage[1]:g} s for wait, {long_outage[0]:g}-{long_outage[1]:g} s"
        " for local)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['run']:<14}{r['achieved_rate']:>9.2f}{r['rate_error_pct']:>8.2f}"
              f"{r['max_1s_window']:>8}{r['bound']:>7}{r['rows_taken']:>7}{r['rows_landed']:>8}"
              f"{r['rows_lost']:>6}{r.get('outage_s', '-'):>10}"
              f"{r.get('requests_during_outage', '-'):>8}"
              f"{r.get('first_request_after_restart_s', '-'):>12}")  # fmt: skip
    for check, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {check}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "redis_limiter",
        "config": {"processes": PROCESSES, "concurrency": CONCURRENCY, "rate": rate,
                   "burst": BURST, "seconds": seconds, "outage_wait": outage,
                   "outage_local": long_outage},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "runs": rows,
        "checks": checks,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULTS}")
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
