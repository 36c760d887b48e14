"""A small raw-asyncio HTTP server that misbehaves where the emulator does not, for list streams.

It answers every GET with a JSON array body (or an error page) and can: send the body with
or without a content-length, in small chunks with a gap between them, hold the request before
answering, drop the connection after N body bytes, answer an HTML error page that quotes the
request path (with the secrets in it). It counts connections still open, so a test can see
that a cancelled stream closed its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs


@attrs.define
class Behaviour:
    """What the next answers do (change it between requests)."""

    rows: list[dict[str, Any]] = attrs.Factory(list)
    body: bytes | None = None  # overrides rows
    status: int = 200
    content_length: bool = True
    chunk: int = 1 << 16
    gap: float = 0.0
    hold: float = 0.0
    drop_after: int | None = None  # close abruptly after this many body bytes
    quote_path: bool = False  # an HTML error page quoting the request line


class ListServer:
    """``async with ListServer() as server: server.url``; see the module docstring."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.requests: list[str] = []
        self.open = 0
        self.closed = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ListServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1.0/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def body(self) -> bytes:
        b = self.behaviour
        return b.body if b.body is not None else json.dumps(b.rows).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.closed.clear()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                if not await self._answer(head, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open -= 1
            if not self.open:
                self.closed.set()
            writer.close()

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        b = self.behaviour
        if b.hold:
            await asyncio.sleep(b.hold)
        body = self.body()
        if b.quote_path:
            line = head.split(b"\r\n", 1)[0]
            body = b"<html><body>bad request: " + line + b"</body></html>"
        headers = [f"HTTP/1.1 {b.status} X", "Content-Type: application/json"]
        if b.content_length:
            headers.append(f"Content-Length: {len(body)}")
        else:
            headers.append("Connection: close")
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        sent = 0
        for start in range(0, len(body), b.chunk):
            piece = body[start : start + b.chunk]
            if b.drop_after is not None and sent + len(piece) >= b.drop_after:
                writer.write(piece[: b.drop_after - sent])
                await writer.drain()
                writer.transport.abort()
                return False
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
            if b.gap:
                await asyncio.sleep(b.gap)
        return b.content_length


@contextlib.asynccontextmanager
async def list_server(**behaviour: Any) -> AsyncIterator[ListServer]:
    """Run a :class:`ListServer` with these :class:`Behaviour` fields."""
    async with ListServer(Behaviour(**behaviour)) as server:
        yield server
