"""The read tools over a big campaign: flat memory and no event-loop stall (issue 24's targets:
150 MB and 50 ms at 1,000,000 participants; the default run checks 20,000, `-m slow` 1M)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp.server.mcpserver")

SCRIPT = Path(__file__).with_name("_big_campaign.py")
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def served(count: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "serve", str(count)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), "the emulator did not start"
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)


CALLS = [
    ("top_referrers", {"limit": 10}),
    ("top_referrers", {"limit": 10, "by": "newest"}),
    ("find_participants", {"query": "no-such-person"}),
    ("recent_rewards", {"limit": 20}),
    ("action_signups", {"limit": 20}),
]


def measure(url: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "measure", url, json.dumps(CALLS)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.strip().splitlines()]


def check(count: int) -> list[dict[str, object]]:
    with served(count) as url:
        rows = measure(url)
    for row in rows:
        assert row["error"] is None, row
        assert row["peak_rss_mb"] < 150, row  # type: ignore[operator]
        # The process's own part of the longest stall: a loaded machine preempting the
        # process for longer is not the server's doing (see _big_campaign.py).
        assert row["own_stall_ms"] < 50, row  # type: ignore[operator]
    top = rows[0]
    assert top["scanned"] == count + 5 + 15 and top["items"] == 10
    assert rows[1]["scanned"] == count + 20 and rows[1]["items"] == 10
    assert rows[2]["scanned"] == count + 20
    return rows


@pytest.mark.system
def test_read_tools_stay_flat_over_20_000_participants() -> None:
    check(20_000)


@pytest.mark.slow
@pytest.mark.system
def test_read_tools_stay_flat_over_a_million_participants() -> None:
    for row in check(1_000_000):
        print(json.dumps(row))
