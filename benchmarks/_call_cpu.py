"""The SDK's own CPU per call on httpx: one read and one write against ``httpx.MockTransport``.

``python -m benchmarks._call_cpu [CALLS]``: a ``referrer_stats`` read, the same read with
``share_reads=False, retry=None`` (no sharing, no deadline), a ``new_signup`` write, and the
hand-written ``send(build_request(...))`` + JSON parse on an ``httpx.AsyncClient`` over the same
mock transport, each timed by this thread's CPU time over ``CALLS`` calls (default 4,000), the
best of 5 rounds, in µs per call. What the SDK adds is a row minus the hand-written one. To
compare two checkouts, run it from outside both with each on ``PYTHONPATH``, in turn.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from irefer_async import IReferClient
from irefer_async.decoding import loads

BASE = "http://bench.test/v1.0/"
LICENSE_KEY = "W4qL" + "a" * 28
_STATS = {
    "campaign_name": "Bench",
    "email": "ann@example.com",
    "confirmed": "1",
    "referral_link": "https://example.com/?ref=abc123",
    "referrals_made": 3,
    "reward_next": "Mug",
    "reward_next_description": "A mug",
    "reward_next_referrals_remaining": 2,
    "rewards_earned": [],
    "rewards_offered": [
        {"signups_count": n, "reward_heading": f"R{n}", "reward_description": "x"}
        for n in (1, 5, 10)
    ],
}
_SIGNUP = {
    "campaign_name": "Bench",
    "email": "ann@example.com",
    "confirmed": "0",
    "referral_link": "https://example.com/?ref=abc123",
    "referrer": None,
    "reward_next": "Mug",
    "reward_next_description": "A mug",
    "reward_next_referrals_required": 1,
    "rewards_offered": _STATS["rewards_offered"],
}
STATS_BODY = json.dumps(_STATS).encode()
SIGNUP_BODY = json.dumps(_SIGNUP).encode()


def _answer(request: httpx.Request) -> httpx.Response:
    body = SIGNUP_BODY if request.url.path.endswith("newSignup") else STATS_BODY
    return httpx.Response(200, headers=[(b"content-type", b"application/json")], content=body)


async def _best(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for _ in range(calls):
            await call()
        best = min(best, (time.thread_time() - started) / calls * 1e6)
    return best


async def measure(calls: int = 4000) -> dict[str, float]:
    """Best-of-5 CPU µs per call of each contender."""

    def client(**options: Any) -> IReferClient:
        return IReferClient(
            LICENSE_KEY, "key", campaign_id=2605, base_url=BASE, rate_limit=None,
            max_concurrency=64, transport=httpx.MockTransport(_answer), **options,
        )  # fmt: skip

    sdk, bare = client(), client(share_reads=False, retry=None)
    http = httpx.AsyncClient(transport=httpx.MockTransport(_answer))
    query = "campaign_id=2605&email=ann%40example.com&api_key=key"
    url = f"{BASE}{LICENSE_KEY}.js/referrerStats?{query}"

    async def hand() -> Any:
        response = await http.send(http.build_request("GET", url))
        return loads(response.content)

    contenders: dict[str, Callable[[], Awaitable[Any]]] = {
        "hand-written send + parse": hand,
        "read (referrer_stats)": lambda: sdk.referrer_stats("ann@example.com"),
        "read, no sharing, no deadline": lambda: bare.referrer_stats("ann@example.com"),
        "write (new_signup)": lambda: sdk.new_signup("ann@example.com", name="Ann"),
    }
    found: dict[str, float] = {}
    async with sdk, bare, http:
        for call in contenders.values():  # warm
            for _ in range(300):
                await call()
        for name, call in contenders.items():
            found[name] = await _best(call, calls)
    return found


if __name__ == "__main__":
    results = asyncio.run(measure(int(sys.argv[1]) if sys.argv[1:] else 4000))
    hand_us = results["hand-written send + parse"]
    for label, value in results.items():
        print(f"{value:7.1f} µs  (SDK adds {value - hand_us:5.1f})  {label}")
