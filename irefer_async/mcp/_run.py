"""Run the server: ``irefer mcp`` (stdio by default, streamable HTTP with ``--http``)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from irefer_async import ConfigurationError, IReferClient

from ._server import build_server
from ._stdin import serve_stdio

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["parse_http", "run_server"]

DEFAULT_HOST = "127.0.0.1"

logger = logging.getLogger("irefer_async.mcp")


def _loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def parse_http(value: str) -> tuple[str, int]:
    """Read ``--http [HOST:]PORT`` (host 127.0.0.1 unless given; ``[::1]:PORT`` for IPv6)."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    host = host.removeprefix("[").removesuffix("]") or DEFAULT_HOST
    if not port_text.isdecimal() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(f"--http: expected [HOST:]PORT with a port 1-65535, got {value!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigurationError(
                f"--http: HOST must be an IP address or localhost, got {host!r}"
            ) from None
    return host, int(port_text)


#: Seconds open HTTP streams get to finish once the server is asked to stop.
HTTP_GRACE = 3


def mcp_url(host: str, port: int) -> str:
    """Return the streamable HTTP endpoint's URL (an IPv6 host in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/mcp"


async def _serve_http(
    server: MCPServer, host: str, port: int, ready: Callable[[str], object] | None
) -> None:
    """Serve streamable HTTP until cancelled, then shut uvicorn down gracefully.

    uvicorn's own signal handling is left out: the caller's cancellation (Ctrl-C, or SIGTERM
    through the CLI) asks it to stop, so a stop is the same clean shutdown for both signals
    (its own handlers ran beside the CLI's SIGTERM handler, which cancelled it mid-lifespan).
    """
    import uvicorn  # noqa: PLC0415 - a dependency of mcp, loaded for --http only

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # stopped by cancellation (below), not by signal handlers of its own

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and ready is not None:
                ready(mcp_url(host, port))

    config = uvicorn.Config(
        server.streamable_http_app(host=host),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=HTTP_GRACE,
    )
    uv = Server(config)
    serving = asyncio.ensure_future(uv.serve())
    try:
        await asyncio.wait({serving})  # a cancellation lands here, not inside uvicorn
    finally:
        uv.should_exit = True  # a no-op once it ended
        await asyncio.wait({serving})
    serving.result()


async def run_server(
    *,
    http: tuple[str, int] | None = None,
    allow_writes: bool = False,
    confirm: bool = True,
    ready: Callable[[str], object] | None = None,
) -> None:
    """Serve the campaign named by the ``IREFER_*`` environment until the client goes away.

    Keys, API root and campaign come from ``IREFER_LICENSE_KEY``, ``IREFER_API_KEY``,
    ``IREFER_BASE_URL`` and ``IREFER_CAMPAIGN_ID`` (what ``irefer emulator`` prints). Raises
    `ConfigurationError` before serving when one is missing. ``http=(host, port)`` serves
    streamable HTTP at ``http://host:port/mcp`` (``ready`` is called with that URL once it
    listens); otherwise stdio. Cancelling it (Ctrl-C) stops either at once, even with stdin
    left open.
    """
    client = IReferClient()
    if client.campaign_id is None:
        await client.aclose()
        raise ConfigurationError(
            "IREFER_CAMPAIGN_ID is not set: export the campaign id (or run `irefer emulator` "
            "and paste the lines it prints)"
        )
    async with client:
        server = build_server(client, allow_writes=allow_writes, confirm=confirm)
        if http is None:
            await serve_stdio(server.run_stdio_async)
        else:
            host, port = http
            if not _loopback(host):
                logger.warning(
                    "irefer mcp: serving on %s:%d without authentication: anyone who can "
                    "reach it can use the tools (put an authenticating proxy in front)",
                    host,
                    port,
                )
            await _serve_http(server, host, port, ready)
