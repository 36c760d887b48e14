"""The reward feed's poll over a big campaign: peak RSS, wall time and requests per poll.

Two measurements, each in a fresh interpreter (peak = ``VmHWM``, see ``benchmarks/_memory.py``):

* ``stream``: one :class:`RewardFeed` over a streaming source of N participants (rows decoded
  by the SDK's converter one at a time, as the client's streaming iterators yield them) and
  N/10 rewards, SQLite store: the baseline poll, then a second poll after 1% of the
  participants were credited. This is the feed's own footprint: snapshot in the store,
  compared by batches. Baseline of the ratio: the same run with N/10 participants.
* ``client``: the same two polls through a real :class:`IReferClient` against the emulator
  served on loopback by another process. It uses ``client.iter_referrers()`` and friends
  when the client has them (issue 12), the tuple methods otherwise; with the tuple methods
  one whole list is in memory at a time, so this figure grows with N until they land.

Run: ``python benchmarks/bench_feed_memory.py [--rows N] [--client-rows N] [--rounds 3]``
(defaults 1,000,000 and 20,000; ``--quick``: 100,000 and 5,000). Medians of the interleaved
rounds, with min and max. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150.0


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # noqa: PLC0415 - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Synthetic:
    """A streaming FeedSource: rows made and decoded one at a time, like a paged iterator."""

    campaign = 2605

    def __init__(self, participants: int) -> None:
        self.participants = participants
        self.credited = 0  # participants whose referrals_count is 1 (the second poll)
        self.requests = 0

    async def referrers(self) -> AsyncIterator[Any]:
        from irefer_async import Referrer  # noqa: PLC0415
        from irefer_async.decoding import decode  # noqa: PLC0415

        self.requests += 1
        for i in range(self.participants):
            raw = {
                "id": str(271001 + i), "campaign_id": "2605", "referral_link": f"c{i:08d}",
                "referrer_email": None, "name": f"User {i}", "email": f"user{i}@example.com",
                "phone": None, "info_1": None, "info_2": None, "info_3": None, "info_4": None,
                "info_5": None, "created_at": "2026-12-01 10:00:00", "ip": "127.0.0.1",
                "source_network": "", "referrals_count": "1" if i < self.credited else "0",
            }  # fmt: skip
            yield decode(raw, Referrer, method="referrers")
            if i % 1000 == 0:
                await asyncio.sleep(0)

    async def rewards(self) -> AsyncIterator[Any]:
        from irefer_async import TriggeredReward  # noqa: PLC0415
        from irefer_async.decoding import decode  # noqa: PLC0415

        self.requests += 1
        for i in range(self.participants // 10):
            raw = {
                "id": str(301 + i), "campaign_id": "2605", "triggered_at": "2026-12-01 10:00:00",
                "recipient_id": str(271001 + i), "recipient_email": f"user{i}@example.com",
                "recipient_name": None, "recipient_referral_code": f"c{i:08d}",
                "referrals_made": "1", "reward_id": "3301", "reward_heading": "Coupon",
                "reward_description": "", "reward_signups_count": "1",
            }  # fmt: skip
            yield decode(raw, TriggeredReward, method="rewards")

    async def specific_action_signups(self) -> AsyncIterator[Any]:
        self.requests += 1
        for _ in ():
            yield None


async def _two_polls(feed: Any, change: Any) -> dict[str, Any]:
    async with feed:
        started = time.perf_counter()
        first = await feed.poll()
        first_s = time.perf_counter() - started
        change()
        started = time.perf_counter()
        second = await feed.poll()
        second_s = time.perf_counter() - started
        pending = await feed.store.outbox_size()
    return {
        "baseline_poll_seconds": round(first_s, 2),
        "diff_poll_seconds": round(second_s, 2),
        "requests_per_poll": second.requests,
        "rows": second.rows,
        "events": second.events,
        "pending": pending,
        "baseline_events": first.total_events,
    }


async def _child_stream(rows: int, store: str) -> dict[str, Any]:
    from irefer_async.feed import RewardFeed  # noqa: PLC0415

    source = _Synthetic(rows)

    def change() -> None:
        source.credited = rows // 100

    result = await _two_polls(RewardFeed(source, store=store), change)
    return {"mode": "stream", "participants": rows, **result, "peak_rss_mb": _peak_rss_mb()}


async def _child_client(rows: int, store: str, url: str) -> dict[str, Any]:
    from irefer_async import IReferClient  # noqa: PLC0415
    from irefer_async.feed import RewardFeed  # noqa: PLC0415
    from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY  # noqa: PLC0415

    client = IReferClient(DEFAULT_LICENSE_KEY, DEFAULT_API_KEY, campaign_id=2605, base_url=url,
                          rate_limit=None, timeout=600)  # fmt: skip
    async with client:
        result = await _two_polls(RewardFeed(client, store=store), lambda: None)
    streaming = hasattr(client, "iter_referrers")
    return {"mode": "client", "participants": rows, "streaming_iterators": streaming, **result,
            "peak_rss_mb": _peak_rss_mb()}  # fmt: skip


def _serve_emulator(rows: int) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import asyncio, sys\n"
        "from irefer_async.testing import Emulator\n"
        "async def main():\n"
        "    e = Emulator(seed=0)\n"
        f"    ann = e.add_participant('ann@example.com')\n"
        f"    for i in range({rows} - 1):\n"
        "        code = ann.code if i % 50 == 0 else None\n"
        "        e.add_participant(f'u{i}@example.com', referrer_code=code)\n"
        "    async with e.serve(port=0) as url:\n"
        "        print(url, flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        raise RuntimeError("the emulator process did not start")
    return proc, url


def _child(args: list[str]) -> dict[str, Any]:
    output = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *args],
                            cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    if output.returncode:
        raise RuntimeError(f"child {args} failed: {output.stderr[-2000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _median(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = sorted(float(r[key]) for r in results)
    return {"median": round(statistics.median(values), 2), "min": values[0], "max": values[-1]}


def measure(rows: int, client_rows: int, rounds: int = 3) -> dict[str, Any]:
    """Stream mode at *rows* and rows/10 (the baseline), interleaved for *rounds*; client once."""
    bases: list[dict[str, Any]] = []
    bigs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            bases.append(_child(["stream", str(rows // 10), os.path.join(tmp, f"b{r}.sqlite")]))
            bigs.append(_child(["stream", str(rows), os.path.join(tmp, f"l{r}.sqlite")]))
        server, url = _serve_emulator(client_rows)
        try:
            client = _child(["client", str(client_rows), os.path.join(tmp, "c.sqlite"), url])
        finally:
            server.terminate()
            server.wait(30)
    summary = {
        name: {key: _median(results, key)
               for key in ("peak_rss_mb", "baseline_poll_seconds", "diff_poll_seconds")}
        for name, results in (("stream_baseline", bases), ("stream", bigs))
    }  # fmt: skip
    big_rss = summary["stream"]["peak_rss_mb"]["median"]
    ratio = big_rss / summary["stream_baseline"]["peak_rss_mb"]["median"]
    return {
        "name": "feed_memory",
        "title": f"reward feed: one poll of {rows:,} participants (stream) vs {rows // 10:,}",
        "rounds": rounds,
        "summary": summary,
        "stream_baseline": bases[-1],
        "stream": bigs[-1],
        "client": client,
        "ratio": round(ratio, 2),
        "target": f"stream peak RSS <= {TARGET_MB:g} MB at {rows:,} participants",
        "met": big_rss <= TARGET_MB,
        "note": "measured under load (shared machine)",
    }


def main() -> int:
    """Parse the options, run the measurements, print the JSON."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, rows, store, *rest = sys.argv[2:]
        if mode == "stream":
            result = asyncio.run(_child_stream(int(rows), store))
        else:
            result = asyncio.run(_child_client(int(rows), store, rest[0]))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--client-rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--quick", action="store_true", help="100,000 and 5,000 rows")
    ns = parser.parse_args()
    rows, client_rows = (100_000, 5_000) if ns.quick else (ns.rows, ns.client_rows)
    print(json.dumps(measure(rows, client_rows, ns.rounds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
