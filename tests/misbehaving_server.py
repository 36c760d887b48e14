"""A small raw-asyncio HTTP server that misbehaves in ways the emulator does not.

``async with misbehaving(mode) as server:`` serves on loopback; ``server.url`` is the API base
URL and ``server.requests`` counts request heads received. Modes:

* ``"hold"``: read the request, then hold it for ``hold`` seconds before a 200 answer;
* ``"drop"``: read the request, then close the connection without a byte of answer
  (the work may have been done: an ambiguous failure);
* ``"error_page"``: a 500 whose HTML body quotes the request path (license key included);
* ``"trickle"``: a 200 whose JSON body arrives a few bytes at a time;
* ``"echo_status"``: a malformed status line echoing the request target, cut ``cut`` bytes
  into it (``HTTP/1.1 2OO /v1.0/W4qLx9Rk2P``), as a broken proxy does: the parser's error
  quotes the line, so a fragment of the license key reaches the client's error text;
* ``"echo_header"``: a 200 status line, then a header line without a colon echoing the
  request target the same way;
* ``"drop_writes"``: a ``newSpecificAction`` is done (its row is in ``server.rows``, listed
  by every later read), then its connection is closed without a byte of answer; every other
  request is answered with those rows (a list read: ``specificActionSignups``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit


class MisbehavingServer:
    """What the server saw; filled in while it runs."""

    def __init__(self, mode: str, body: dict[str, Any], hold: float, cut: int = 16) -> None:
        self.mode = mode
        self.cut = cut
        self.body = json.dumps(body).encode()
        self.hold = hold
        self.requests = 0
        self.url = ""
        self.rows: list[dict[str, str]] = []  # "drop_writes": the actions done

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                path = head.split(b" ", 2)[1]
                if self.mode == "drop":
                    break
                if self.mode == "drop_writes":
                    target = urlsplit(path.decode())
                    if target.path.endswith("/newSpecificAction"):
                        query = {k: v[0] for k, v in parse_qs(target.query).items()}
                        self.rows.append(
                            {"referred_person": query["external_id"], "specific_action": query["action"],
                             "referrer_email": "ref@example.com", "created_at": "2026-12-06T10:00:00Z"}
                        )  # fmt: skip
                        break  # done, and the answer lost
                    self.body = json.dumps(self.rows).encode()
                if self.mode in ("echo_status", "echo_header"):
                    echo = path[: len(b"/v1.0/") + self.cut]
                    line = (
                        b"HTTP/1.1 2OO " + echo
                        if self.mode == "echo_status"
                        else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + echo
                    )
                    writer.write(line + b"\r\n\r\n{}")
                    await writer.drain()
                    break
                if self.mode == "hold":
                    await asyncio.sleep(self.hold)
                if self.mode == "error_page":
                    page = b"<html><body>500: failed on " + path + b"</body></html>"
                    writer.write(self._response(b"500 Internal Server Error", b"text/html", page))
                elif self.mode == "trickle":
                    writer.write(self._response(b"200 OK", b"application/json", b""))
                    for i in range(0, len(self.body), 16):
                        writer.write(self.body[i : i + 16])
                        await writer.drain()
                        await asyncio.sleep(0.001)
                else:
                    writer.write(self._response(b"200 OK", b"application/json", self.body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _response(self, status: bytes, kind: bytes, body: bytes) -> bytes:
        length = len(self.body) if self.mode == "trickle" else len(body)
        return (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
            + b"\r\nContent-Length: " + str(length).encode() + b"\r\n\r\n" + body
        )  # fmt: skip


@contextlib.asynccontextmanager
async def misbehaving(
    mode: str, body: dict[str, Any] | None = None, *, hold: float = 0.0, cut: int = 16
) -> AsyncIterator[MisbehavingServer]:
    """Serve ``mode`` on 127.0.0.1 (a free port) for the block."""
    server = MisbehavingServer(mode, body or {}, hold, cut)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/v1.0/"
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()
