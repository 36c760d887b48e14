"""Big campaigns through the MCP server: peak memory and event-loop stalls of the read tools.

Two processes, each a fresh interpreter (so its peak resident set is its own):

* ``python tests/mcp/_big_campaign.py serve N``: the emulator with N participants (some with
  referrals), N rewards and N actions, served on loopback; prints its base URL, serves until
  its stdin closes.
* ``python tests/mcp/_big_campaign.py measure URL JSON-CALLS``: an MCP server around an
  `IReferClient` aimed at URL, an in-memory MCP client making each call (``[[tool, args],
  ...]``) in turn, and a 5 ms ticker beside each; prints one JSON line per call:
  ``peak_rss_mb`` (VmHWM so far), ``base_rss_mb`` (after imports and connecting, before the
  first call), ``stall_ms`` (the longest time the ticker was late) and ``own_stall_ms`` (the
  part of it this process spent on the CPU: the rest is the machine preempting it),
  ``seconds`` and the tool's ``scanned``/``matched``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

TICK = 0.005


def _rss(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _serve(count: int) -> None:
    from irefer_async.testing import Emulator

    emulator = Emulator(seed=0)
    emulator.seed_participants(count)
    for n in range(5):  # a few referrers with referrals, so the ranking has a top
        top = emulator.add_participant(f"top{n}@example.com", name=f"Top {n}")
        for k in range(n + 1):
            emulator.add_participant(f"ref{n}-{k}@example.com", referrer_code=top.code)
    emulator.seed_rewards(count)
    emulator.seed_actions(count)
    async with emulator.serve(port=0) as url:
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _ticker(stalls: list[float], own: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + TICK
        used = time.process_time()
        await asyncio.sleep(TICK)
        late = loop.time() - due
        stalls.append(late)
        own.append(min(late, max(0.0, time.process_time() - used - TICK)))


async def _measure(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    from mcp import Client

    from irefer_async import IReferClient, Referrer
    from irefer_async.decoding import decode
    from irefer_async.mcp import build_server
    from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, DEFAULT_LICENSE_KEY

    client = IReferClient(
        DEFAULT_LICENSE_KEY, DEFAULT_API_KEY, campaign_id=DEFAULT_CAMPAIGN_ID, base_url=url,
        rate_limit=None, timeout=60,
    )  # fmt: skip
    rows = []
    async with client, Client(build_server(client)) as session:
        await session.list_tools()
        # The SDK's first decode imports cattrs (45-70 ms from source, as in CI's venvs; about
        # 10 ms with bytecode): once per process, whatever the campaign's size. Paid here, so
        # the stalls below are the tools' own.
        decode([], tuple[Referrer, ...], method="referrers")
        base = _rss("VmRSS:")
        for tool, args in calls:
            stalls: list[float] = []
            own: list[float] = []
            ticker = asyncio.create_task(_ticker(stalls, own))
            await asyncio.sleep(TICK * 2)
            started = time.perf_counter()
            result = await session.call_tool(tool, args)
            seconds = time.perf_counter() - started
            ticker.cancel()
            rows.append(_row(tool, result, seconds, base, stalls, own))
    return rows


def _row(
    tool: str, result: Any, seconds: float, base: float, stalls: list[float], own: list[float]
) -> dict[str, Any]:
    data = result.structured_content or {}
    return {
        "tool": tool,
        "error": result.content[0].text if result.is_error else None,  # type: ignore[union-attr]
        "scanned": data.get("scanned"),
        "matched": data.get("matched"),
        "items": len(data.get("items", [])),
        "seconds": round(seconds, 2),
        "base_rss_mb": round(base, 1),
        "peak_rss_mb": round(_rss("VmHWM:"), 1),
        "stall_ms": round(max(stalls, default=0.0) * 1000, 1),
        "own_stall_ms": round(max(own, default=0.0) * 1000, 1),
    }


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(_serve(int(sys.argv[2])))
    else:
        for row in asyncio.run(_measure(sys.argv[2], json.loads(sys.argv[3]))):
            print(json.dumps(row), flush=True)
