"""Run the server: ``irefer mcp`` (stdio by default, streamable HTTP with ``--http``)."""

from __future__ import annotations

import ipaddress
import logging

from irefer_async import ConfigurationError, IReferClient

from ._server import build_server

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


async def run_server(
    *,
    http: tuple[str, int] | None = None,
    allow_writes: bool = False,
    confirm: bool = True,
) -> None:
    """Serve the campaign named by the ``IREFER_*`` environment until the client goes away.

    Keys, API root and campaign come from ``IREFER_LICENSE_KEY``, ``IREFER_API_KEY``,
    ``IREFER_BASE_URL`` and ``IREFER_CAMPAIGN_ID`` (what ``irefer emulator`` prints). Raises
    `ConfigurationError` before serving when one is missing. ``http=(host, port)`` serves
    streamable HTTP at ``http://host:port/mcp``; otherwise stdio.
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
            await server.run_stdio_async()
        else:
            host, port = http
            if not _loopback(host):
                logger.warning(
                    "irefer mcp: serving on %s:%d without authentication: anyone who can "
                    "reach it can use the tools (put an authenticating proxy in front)",
                    host,
                    port,
                )
            await server.run_streamable_http_async(host=host, port=port)
