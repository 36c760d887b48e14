"""`irefer watch --redis URL`: the feed's state in Redis instead of a SQLite file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from redis_server import RedisServer
from rich.console import Console

from irefer_async.cli import _target
from irefer_async.cli._target import Target
from irefer_async.cli._watch import WatchOptions, run_watch
from irefer_async.testing import Emulator

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
