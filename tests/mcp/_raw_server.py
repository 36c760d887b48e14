"""A raw-asyncio iRefer server that misbehaves in two ways the MCP tools must survive.

* ``"lost_answer"``: ``newSignup`` adds the participant, then closes the connection without a
  byte of answer (landed, answer lost); ``referrers`` lists the participants, ``Date`` set.
* ``"cut_list"``: ``referrers`` announces a long body and closes it half way.

``server.calls`` counts requests by API method.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

from samples import REFERRERS


class RawServer:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls: Counter[str] = Counter()
        self.rows: list[dict[str, Any]] = [dict(row) for row in REFERRERS]
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = urlsplit(head.split(b" ", 2)[1].decode())
                method = target.path.rsplit("/", 1)[-1]
                self.calls[method] += 1
                query = {k: v[0] for k, v in parse_qs(target.query).items()}
                if method == "newSignup":
                    self._signup(query["email"])
                    break  # processed; the answer is lost
                if method == "referrers":
                    body = json.dumps(self.rows).encode()
                    if self.mode == "cut_list":
                        body = json.dumps(self.rows * 50).encode()
                        writer.write(self._head(len(body)) + body[: len(body) // 2])
                        await writer.drain()
                        break
                    writer.write(self._head(len(body)) + body)
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _signup(self, email: str) -> None:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        row = dict(REFERRERS[0], id=str(300000 + len(self.rows)), email=email, created_at=now)
        row["referral_link"] = f"New{len(self.rows):05d}"
        self.rows.append(row)

    @staticmethod
    def _head(length: int) -> bytes:
        return (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nContent-Length: {length}\r\n\r\n"
        ).encode()


@contextlib.asynccontextmanager
async def raw_server(mode: str) -> AsyncIterator[RawServer]:
    server = RawServer(mode)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/v1.0/"
    async with listener:
        yield server
