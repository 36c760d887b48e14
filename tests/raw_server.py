"""A deliberately different fake server: raw asyncio, a few dozen lines, misbehaving on cue.

Unlike the emulator it answers at the socket level: it can drop a connection after reading
the request, or answer an error page that quotes the request path (keys included).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

#: What to do with one request: return the raw bytes to send, or None to drop the connection.
Behaviour = Callable[[bytes], "bytes | None"]


def drop(_: bytes) -> bytes | None:
    """Read the request, then close the connection without a word."""
    return None


def not_found_quoting_the_path(request: bytes) -> bytes | None:
    """Answer 404 with an HTML page that quotes the request line (the license key with it)."""
    line = request.split(b"\r\n", 1)[0]
    body = b"<html><body>Not Found: " + line + b"</body></html>"
    head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nConnection: close\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


@contextlib.asynccontextmanager
async def raw_server(behaviour: Behaviour) -> AsyncIterator[str]:
    """Serve *behaviour* on a loopback port; yield the base URL to give the client."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        answer = behaviour(request)
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/v1.0/"
