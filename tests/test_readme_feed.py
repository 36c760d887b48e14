"""The README's reward-feed example, run as written against the emulator (virtual time)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_readme import marked_blocks

from irefer_async.testing import Emulator


@pytest.mark.virtual_time
async def test_readme_feed_example_sends_a_coupon_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Baseline first; a referral that earns a reward prints exactly one coupon line."""
    monkeypatch.chdir(tmp_path)
    emulator = Emulator()
    namespace: dict[str, Any] = {"__name__": "readme_feed"}
    exec(compile(marked_blocks()["feed"], "README.md", "exec"), namespace)
    namespace["IReferClient"] = emulator.client
    ann = emulator.add_participant("ann@example.com")

    async def scenario() -> None:
        task = asyncio.create_task(namespace["main"]())
        await asyncio.sleep(1)  # the baseline poll ran
        emulator.add_participant("bob@example.com", referrer_code=ann.code)
        await asyncio.sleep(200)  # virtual: a few polls
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await scenario()
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("coupon")] == [
        "coupon for ann@example.com: Get a $10 Coupon!"
    ]
    assert (tmp_path / "feed.sqlite").exists()
