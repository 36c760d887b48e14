"""The taskiq_signups example's worker command, run as its docstring says, with a real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

pytest.importorskip("taskiq_redis")

from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY, Emulator

ROOT = Path(__file__).parents[2]


def _cli_support() -> Any:
    folder = str(ROOT / "tests" / "cli")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import _watch_support

    return _watch_support


@pytest.mark.system
def test_the_docstring_worker_command_runs_and_serves_send(redis_server: RedisServer) -> None:
    """`taskiq worker examples.taskiq_signups.worker:broker` with TASKIQ_BROKER_URL: it
    listens (it used to fail with "Inmemory brokers cannot listen") and `send` gets answers."""
    emulator = Emulator(seed=0)
    with _cli_support().loopback(emulator) as lb:
        env = {**os.environ, "IREFER_LICENSE_KEY": DEFAULT_LICENSE_KEY,
               "IREFER_API_KEY": DEFAULT_API_KEY, "IREFER_BASE_URL": lb.url,
               "IREFER_CAMPAIGN_ID": "2605", "PYTHONDONTWRITEBYTECODE": "1",
               "TASKIQ_BROKER_URL": redis_server.url.rsplit("/", 1)[0] + "/5"}  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "-m", "taskiq", "worker", "examples.taskiq_signups.worker:broker",
             "--workers", "1"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            sent = subprocess.run(
                [sys.executable, "-m", "examples.taskiq_signups.send", "ann@example.com",
                 "bob@example.com"],
                cwd=ROOT, env=env, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        finally:
            os.killpg(worker.pid, signal.SIGKILL)  # cleanup: taskiq's own shutdown is not tested
            _, err = worker.communicate(timeout=30)
        assert sent.returncode == 0, (sent.stdout, sent.stderr, err)
        assert b"cannot listen" not in err
        assert lb.call(lambda e: e.participant("bob@example.com")) is not None
