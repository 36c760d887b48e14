"""Loopback servers for the benchmarks, each in its own process pinned to one core.

* :func:`fast_server`: a raw ``asyncio.Protocol`` HTTP/1.1 keep-alive responder that answers
  every request with the same ~1 KB ``referrerStats`` body. It parses nothing but the end of
  the request head, so one core of it outruns any Python client: the client is what is timed.
* :func:`emulator_server`: the SDK's emulator (uvicorn), for realistic runs.

Both yield a base URL ending in ``/v1.0/``. The server process is pinned to the last CPU and
the benchmark process to the others (``os.sched_setaffinity``, where the OS has it), so the
two do not fight over one core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "REFERRER_STATS_BODY",
    "child_server",
    "client_cpus",
    "emulator_server",
    "fast_server",
    "list_body",
    "pin_client",
    "server_cpu",
    "use_nodelay",
]

_STATS: dict[str, Any] = {
    "campaign_name": "My referral campaign",
    "email": "ann@example.com",
    "confirmed": "1",
    "referral_link": "http://getirefer.com/?iref=7XYu.oRD",
    "referrals_made": 1,
    "reward_last": "Get a $10 Coupon!",
    "reward_last_description": "Refer 1 of your friends and we will send you a $10 coupon.",
    "reward_next": "Get a $50 Coupon!",
    "reward_next_description": "Refer 5 of your friends and we will send you a $50 coupon.",
    "reward_next_referrals_remaining": 4,
    "rewards_earned": [
        {
            "signups_count": "1",
            "reward_heading": "Get a $10 Coupon!",
            "reward_description": "Refer 1 of your friends and we will send you a $10 coupon.",
        }
    ],
    "rewards_offered": [
        {
            "signups_count": str(n),
            "reward_heading": f"Get a ${10 * n} Coupon!",
            "reward_description": f"Refer {n} of your friends and we will send you a coupon.",
        }
        for n in (1, 5, 10, 20)
    ],
}
#: The fixed body of :func:`fast_server`: a referrerStats answer of about 1 KB.
REFERRER_STATS_BODY = json.dumps(_STATS).encode()


def _pin(cpus: set[int]) -> None:
    if hasattr(os, "sched_setaffinity") and cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


def _cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


# Read once, before pin_client() narrows this process's affinity: the server's CPU is the last
# of the machine's, never one of the client's (reading it after pinning gave the client's own).
_ALL_CPUS = _cpus()


def pin_client() -> None:
    """Pin this (benchmark) process to every CPU but the servers' one."""
    if len(_ALL_CPUS) > 1:
        _pin(set(_ALL_CPUS[:-1]))


def client_cpus() -> set[int]:
    """The CPUs the benchmark process runs on (after :func:`pin_client`)."""
    return set(_cpus())


def server_cpu() -> set[int]:
    """The CPU every benchmark server process is pinned to (disjoint from the client's)."""
    return {_ALL_CPUS[-1]}


class _Responder(asyncio.Protocol):
    """Answers each complete request head with the fixed response; keeps the connection."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        # GET requests have no body: one response per blank line that ends a head.
        count = buffer.count(b"\r\n\r\n")
        if count:
            self._transport.write(self._response * count)  # type: ignore[union-attr]
            buffer = buffer[buffer.rfind(b"\r\n\r\n") + 4 :]
        self._buffer = buffer


def _run_fast() -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n"
        % len(REFERRER_STATS_BODY)
        + REFERRER_STATS_BODY
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Responder(response), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}/v1.0/", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin: stop
        server.close()

    asyncio.run(main())


async def list_body(emulator: Any, method: str) -> bytes:
    """The whole body of a list ``method`` of the emulator's default campaign (its public entry)."""
    from irefer_async.testing import EmulatorRequest  # noqa: PLC0415

    spec = emulator.default_campaign
    query = f"campaign_id={spec.id}&api_key={spec.api_key}".encode()
    outcome = await emulator.handle(
        EmulatorRequest("GET", f"/v1.0/{spec.license_key}.js/{method}", query)
    )
    return bytes(outcome.body if outcome.stream is None else outcome.stream)


def use_nodelay() -> None:
    """Serve the emulator with TCP_NODELAY on each connection (call in a server process)."""
    from irefer_async.testing import _server  # noqa: PLC0415 - in the child only

    # uvicorn writes the head and the body of a response separately; without TCP_NODELAY,
    # Nagle's algorithm holds the body until the client's delayed ACK (40 ms a request).
    tracked = _server._protocol_class

    def nodelay_protocol(registry: dict[Any, Any]) -> type[Any]:
        class _NoDelay(tracked(registry)):  # type: ignore[misc]
            def connection_made(self, transport: asyncio.Transport) -> None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().connection_made(transport)

        return _NoDelay

    _server._protocol_class = nodelay_protocol


def _run_emulator(participants: int = 0) -> None:
    from irefer_async.testing import Emulator  # noqa: PLC0415 - in the child only

    use_nodelay()

    async def main() -> None:
        emulator = Emulator(seed=0)
        if participants:
            emulator.seed_participants(participants)
            emulator.seed_rewards(participants)
            emulator.seed_actions(participants)
            for method in ("referrers", "rewards", "specificActionSignups"):
                await list_body(emulator, method)  # encode every row once, before timing
        async with emulator.serve(port=0) as url:
            print(url, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


@contextlib.contextmanager
def child_server(
    module: str, *args: str, name: str, wait: float = 10.0
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m module <server CPUs> *args`` pinned to the server CPU; yield it and its URL.

    The child prints its base URL on its first line and serves until its stdin is closed
    (which may also carry commands: the process's pipes are open, as text).
    """
    cpu = ",".join(map(str, server_cpu()))
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args[:1], cpu, *args[1:]],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the {name} did not start")
        yield process, url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _child(kind: str, *args: str) -> Iterator[str]:
    with child_server("benchmarks._servers", kind, *args, name=f"{kind} benchmark server") as (
        _,
        url,
    ):
        yield url


@contextlib.contextmanager
def fast_server() -> Iterator[str]:
    """Run the fixed-body responder in a child process; yield ``http://127.0.0.1:PORT/v1.0/``."""
    with _child("fast") as url:
        yield url


@contextlib.contextmanager
def emulator_server(*, participants: int = 0) -> Iterator[str]:
    """Run the emulator (uvicorn) in a child process; yield its base URL.

    ``participants`` seeds that many participants, triggered rewards and actions first.
    """
    with _child("emulator", str(participants)) as url:
        yield url


if __name__ == "__main__":
    _pin({int(cpu) for cpu in sys.argv[2].split(",")})
    if sys.argv[1] == "emulator":
        _run_emulator(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        _run_fast()
