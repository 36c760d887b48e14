"""`irefer mcp` stops at once on Ctrl-C (SIGINT) and SIGTERM, stdin left open or not.

The MCP SDK reads stdin in a worker thread that a cancellation waits for: without care the
server ran on until stdin closed. Over streamable HTTP, SIGTERM is as clean as Ctrl-C (no
traceback) and the server says where it listens.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("mcp.server.mcpserver")

pytestmark = pytest.mark.system

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}
    env.update(
        IREFER_BASE_URL="http://127.0.0.1:9",  # never called: the test calls no tool
        IREFER_CAMPAIGN_ID="1",
        IREFER_LICENSE_KEY="W4qLs7YtE3kP9wQz1XcV5bN8mJ2hG6fD",
        IREFER_API_KEY="stop-api-Rk4Wq9Zt7Lm2",
    )
    return env


def _start(*options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "irefer_async.cli", "mcp", *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip


def _stopped_within(proc: subprocess.Popen[bytes], seconds: float) -> tuple[int, str]:
    """Wait for the exit with stdin left open (`communicate` would close it)."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"irefer mcp still running {seconds} s after the signal")
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read().decode()


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_stdio_server_stops_at_once_with_stdin_open(sig: int, code: int, word: str) -> None:
    proc = _start()
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())  # it serves: its reader is blocked on stdin
        assert reply["id"] == 1 and "result" in reply, reply
        proc.send_signal(sig)
        returncode, err = _stopped_within(proc, 5)  # stdin still open
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    assert returncode == code, err
    assert err.strip().splitlines()[-1] == word, err
    assert "Traceback" not in err, err


def test_ctrl_c_cancels_the_command_first_on_every_python() -> None:
    """Ctrl-C cancels the command's task alone, so it stops what it started in order (uvicorn's
    lifespan, here a waiting task), then ``KeyboardInterrupt``; a second one raises at once.

    Python 3.10's ``asyncio.run`` has no Ctrl-C handler: ``KeyboardInterrupt`` left the loop from
    wherever it was (the selector, a callback) and every task was cancelled at once, so uvicorn's
    lifespan task saw a cancellation it reported as a traceback. The signal is sent from a loop
    callback, outside the command's coroutine, as it arrives in the selector.
    """
    from irefer_async.cli._stops import terminable

    seen: list[str] = []

    async def command() -> None:
        stop = asyncio.Event()

        async def lifespan() -> None:
            try:
                await stop.wait()
                seen.append("stopped in order")
            except asyncio.CancelledError:
                seen.append("cancelled from outside")
                raise

        serving = asyncio.ensure_future(lifespan())
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGINT)
        try:
            await asyncio.Event().wait()  # until the signal's cancellation
        finally:
            stop.set()
            await serving

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(terminable(command()))
    assert seen == ["stopped in order"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_second_ctrl_c_stops_a_clean_up_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    """``KeyboardInterrupt`` at once, and nothing more: no "exception never retrieved" report."""
    from irefer_async.cli._stops import terminable

    async def command() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(os.kill, os.getpid(), signal.SIGINT)
        try:
            await asyncio.Event().wait()
        finally:  # a clean-up that would never end
            loop.call_soon(os.kill, os.getpid(), signal.SIGINT)
            await asyncio.Event().wait()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(terminable(command()))
    gc.collect()  # the task, whose unretrieved exception would be reported now
    assert not caplog.records


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_http_server_says_where_and_stops_without_a_traceback(
    sig: int, code: int, word: str
) -> None:
    port = _free_port()
    proc = _start("--http", str(port))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until it listens (startup imports take seconds)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
        proc.send_signal(sig)
        returncode, err = _stopped_within(proc, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.strip().splitlines()
    assert returncode == code, err
    assert lines == [f"serving MCP at http://127.0.0.1:{port}/mcp", word], err
