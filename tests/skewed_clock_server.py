"""A small raw-asyncio iRefer-like server whose clocks disagree with the client's (issue 22).

``async with SkewedClockServer(rows=-3600, date=None) as server:`` serves on loopback
(``server.base_url``). Its participants' ``created_at`` is written by a *row clock* running
``rows`` seconds off the real one but labelled ``Z`` (``-3600``: a zone one hour behind);
its ``Date`` header runs ``date`` seconds off (None: no ``Date`` header at all). While
``lose_answers`` is True (or holds the signup's email), a ``newSignup`` is processed and then
its connection is dropped with no answer (the client cannot tell whether it landed). The clocks can be changed between
calls (``server.rows = ...``: a server whose clock was stepped).
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


class SkewedClockServer:
    """What the server holds and saw; its clocks are attributes (see the module)."""

    def __init__(self, *, rows: float = 0.0, date: float | None = 0.0) -> None:
        self.rows = rows
        self.date = date
        self.lose_answers: bool | set[str] = False
        self.participants: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._counted = asyncio.Condition()

    def add_participant(self, email: str, *, created: float, referrer: str | None = None) -> str:
        """Sign ``email`` up directly, ``created`` being the real time; return its code."""
        code = f"C{len(self.participants) + 1:05d}"
        self.participants[email.casefold()] = {
            "id": str(len(self.participants) + 1), "campaign_id": "2605",
            "referral_link": code, "referrer_email": referrer, "name": None, "email": email,
            "phone": None, "info_1": None, "info_2": None, "info_3": None, "info_4": None,
            "info_5": None, "created_at": _iso(created + self.rows), "ip": "127.0.0.1",
            "source_network": "", "referrals_count": "0",
        }  # fmt: skip
        return code

    async def received(self, method: str, count: int) -> None:
        """Wait until ``count`` requests of ``method`` have arrived."""
        async with self._counted:
            await self._counted.wait_for(lambda: self.requests[method] >= count)

    async def __aenter__(self) -> SkewedClockServer:
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                url = urlsplit(head.split(b" ", 2)[1].decode("ascii"))
                method = url.path.rsplit("/", 1)[-1]
                self.requests[method] += 1
                async with self._counted:
                    self._counted.notify_all()
                body = json.dumps(self._process(method, dict(parse_qsl(url.query)))).encode()
                lose = self.lose_answers
                who = dict(parse_qsl(url.query)).get("email", "")
                if method == "newSignup" and (lose is True or (lose and who in lose)):
                    writer.transport.abort()
                    return
                date = b""
                if self.date is not None:
                    stamp = email.utils.formatdate(time.time() + self.date, usegmt=True)
                    date = b"Date: " + stamp.encode() + b"\r\n"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + date
                    + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    def _process(self, method: str, params: dict[str, str]) -> Any:
        error = {
            "error": "input missing or incorrect",
            "error_code": f"irefer_api_{method}_err_401",
        }
        if method == "newSignup":
            if params["email"].casefold() in self.participants:
                return error
            referrer = next(
                (p["email"] for p in self.participants.values()
                 if p["referral_link"] == params.get("referrer_code")),
                None,
            )  # fmt: skip
            self.add_participant(params["email"], created=time.time(), referrer=referrer)
            return {
                "campaign_name": "Demo", "email": params["email"], "confirmed": "0",
                "referral_link": "https://x.io/r/C", "referrer": referrer, "reward_next": None,
                "reward_next_description": None, "reward_next_referrals_required": None,
                "rewards_offered": [],
            }  # fmt: skip
        if method == "referrers":
            return list(reversed(self.participants.values()))
        if method == "referrerStats":
            found = self.participants.get(params.get("email", "").casefold())
            if found is None:
                return error
            return {
                "campaign_name": "Demo", "email": found["email"], "confirmed": "0",
                "referral_link": "https://x.io/r/C", "referrals_made": "0", "reward_next": None,
                "reward_next_description": None, "reward_next_referrals_remaining": None,
                "rewards_offered": [], "rewards_earned": [],
            }  # fmt: skip
        return error
