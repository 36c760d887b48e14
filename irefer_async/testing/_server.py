"""The loopback front: `Emulator.serve` runs the ASGI app under uvicorn on 127.0.0.1.

uvicorn answers 500 when an app fails before responding, so it cannot drop a connection for us.
A thin subclass of its h11 protocol records each connection's asyncio transport by peer address
in a `Loopback` owned by this server; the server's own app looks the transport up
and aborts it, which is a real dropped connection for the client. Stalled requests wait on the
loopback's event, set at shutdown, so leaving ``serve()`` never hangs. The emulator itself holds
no server state: everything here goes through `Emulator.handle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from ._asgi import EmulatorApp, Loopback
from ._outcome import Handler

__all__ = ["serve"]

_SHUTDOWN_GRACE = 5.0


def _protocol_class(registry: dict[tuple[str, int], asyncio.Transport]) -> type[Any]:
    from uvicorn.protocols.http.h11_impl import H11Protocol  # optional extra  # noqa: PLC0415

    class _TrackedH11Protocol(H11Protocol):
        _peer: tuple[str, int] | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Without it, Nagle + delayed ACK hold each small response ~40 ms on loopback.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = transport.get_extra_info("peername")
            if peer:
                self._peer = (peer[0], peer[1])
                registry[self._peer] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self._peer is not None:
                registry.pop(self._peer, None)
            super().connection_lost(exc)

    return _TrackedH11Protocol


@contextlib.asynccontextmanager
async def serve(emulator: Handler, *, host: str, port: int) -> AsyncIterator[str]:
    """Run *emulator* on *host*:*port* until the block exits; yield its base URL."""
    try:
        import uvicorn  # optional extra  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "serving the emulator needs uvicorn: pip install 'irefer-async[emulator]'"
        ) from exc

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    loopback = Loopback()
    config = uvicorn.Config(
        EmulatorApp(emulator, loopback=loopback),
        host=host,
        port=bound_port,
        http=_protocol_class(loopback.connections),
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{bound_port}/v1.0/"
    finally:
        loopback.closing.set()
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), _SHUTDOWN_GRACE)
        except asyncio.TimeoutError:
            server.force_exit = True
            await task
        finally:
            sock.close()
