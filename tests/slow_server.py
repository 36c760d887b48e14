"""A small iRefer-like HTTP server in raw asyncio, deliberately unlike the emulator.

It misbehaves the way the issue-13 reports did: it holds a write for a while before
processing it (then answers, or drops the connection), trickles a body one byte at a time
without end, sends a body in odd pieces with gaps or cuts it half-way, answers an HTML error page that quotes the request path (license key
included), and fails a write before processing it. It keeps its own participants and
actions, stamps ``created_at`` and ``Date`` from the real clock, and counts what it served.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SlowServer:
    """``async with SlowServer() as server:`` serves on ``server.base_url`` (loopback)."""

    def __init__(self) -> None:
        self.participants: dict[str, dict[str, Any]] = {}
        self.actions: list[dict[str, Any]] = []
        self.hold: dict[str, float] = {}  # method -> seconds a write waits before processing
        self.drop_after_hold: set[str] = set()  # ... then the connection is dropped
        self.fail_before: Counter[str] = Counter()  # method -> 503s before processing
        self.trickle: dict[str, float] = {}  # method -> gap between bytes, forever
        self.quote_path: set[str] = set()  # methods answered an HTML page quoting the path
        self.pieces: dict[str, tuple[int, float]] = {}  # method -> (bytes, gap): body in pieces
        self.cut: set[str] = set()  # methods whose body is cut half-way (connection dropped)
        self.full_links = False  # ``referrers`` rows carry a link, not the bare code
        self.requests: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.base_url = ""

    async def __aenter__(self) -> SlowServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1.0/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def add_participant(self, email: str, *, created: float, referrer: str | None = None) -> None:
        """Sign ``email`` up directly, as if ``created`` (epoch seconds)."""
        code = f"C{len(self.participants) + 1:05d}"
        self.participants[email.casefold()] = {
            "id": str(len(self.participants) + 1), "campaign_id": "2605",
            "referral_link": code, "referrer_email": referrer, "name": None, "email": email,
            "phone": None, "info_1": None, "info_2": None, "info_3": None, "info_4": None,
            "info_5": None, "created_at": _iso(created), "ip": "127.0.0.1",
            "source_network": "", "referrals_count": "0",
        }  # fmt: skip

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("ascii")
                if not await self._answer(target, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, target: str, writer: asyncio.StreamWriter) -> bool:
        url = urlsplit(target)
        method = url.path.rsplit("/", 1)[-1]
        params = dict(parse_qsl(url.query))
        self.requests[method] += 1
        if method in self.quote_path:
            page = f"<html><body><h1>502 Bad Gateway</h1><p>GET {target} failed</p></body></html>"
            return self._send(writer, method, 200, page.encode(), "text/html")
        if self.fail_before[method] > 0:
            self.fail_before[method] -= 1
            return self._send(writer, method, 503, b"503 error", "text/plain")
        if method in self.trickle:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(b"Content-Length: 100000\r\n\r\n[")
            while True:
                await writer.drain()
                await asyncio.sleep(self.trickle[method])
                writer.write(b" ")
        if method in self.hold:
            await asyncio.sleep(self.hold[method])
        body = self._process(method, params)
        if method in self.drop_after_hold:
            writer.transport.abort()
            return False
        if method in self.pieces or method in self.cut:
            return await self._send_pieces(writer, method, body)
        return self._send(writer, method, 200, body, "application/json")

    async def _send_pieces(self, writer: asyncio.StreamWriter, method: str, body: bytes) -> bool:
        """Send a 200 body in odd pieces with a gap between them, or cut it half-way."""
        size, gap = self.pieces.get(method, (1 << 16, 0.0))
        date = email.utils.formatdate(time.time(), usegmt=True)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: {date}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode())
        end = len(body) // 2 if method in self.cut else len(body)
        for start in range(0, end, size):
            writer.write(body[start : min(start + size, end)])
            self.bytes_sent[method] += min(size, end - start)
            await writer.drain()
            if gap:
                await asyncio.sleep(gap)
        if end < len(body):
            writer.transport.abort()
            return False
        return True

    def _send(
        self, writer: asyncio.StreamWriter, method: str, status: int, body: bytes, kind: str
    ) -> bool:
        if writer.is_closing():
            return False
        date = email.utils.formatdate(time.time(), usegmt=True)
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nDate: {date}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        self.bytes_sent[method] += len(body)
        return True

    def _process(self, method: str, params: dict[str, str]) -> bytes:
        error = {
            "error": "input missing or incorrect",
            "error_code": f"irefer_api_{method}_err_401",
        }
        result: Any = error
        if method == "newSignup":
            if params["email"].casefold() not in self.participants:
                referrer = next(
                    (p["email"] for p in self.participants.values()
                     if p["referral_link"] == params.get("referrer_code")),
                    None,
                )  # fmt: skip
                self.add_participant(params["email"], created=time.time(), referrer=referrer)
                result = {
                    "campaign_name": "Demo", "email": params["email"], "confirmed": "0",
                    "referral_link": "https://x.io/r/C", "referrer": referrer,
                    "reward_next": None, "reward_next_description": None,
                    "reward_next_referrals_required": None, "rewards_offered": [],
                }  # fmt: skip
        elif method == "newSpecificAction":
            self.actions.append({
                "id": str(len(self.actions) + 1), "campaign_id": "2605",
                "referrer_email": "ref@x.io", "referred_person": params["external_id"],
                "specific_action": params["action"], "created_at": _iso(time.time()),
                "ip": "127.0.0.1",
            })  # fmt: skip
            result = {"campaign_name": "Demo", "external_id": params["external_id"]}
        elif method == "referrers":
            result = list(reversed(self.participants.values()))
            if self.full_links:
                result = [
                    {**p, "referral_link": f"https://x.io/join?iref={p['referral_link']}"}
                    for p in result
                ]
        elif method == "specificActionSignups":
            result = list(reversed(self.actions))
        elif method == "referrerStats":
            found = self.participants.get(params.get("email", "").casefold())
            if found is not None:
                result = {
                    "campaign_name": "Demo", "email": found["email"], "confirmed": "0",
                    "referral_link": "https://x.io/r/C", "referrals_made": "0",
                    "reward_next": None, "reward_next_description": None,
                    "reward_next_referrals_remaining": None, "rewards_offered": [],
                    "rewards_earned": [],
                }  # fmt: skip
        return json.dumps(result).encode()
