"""Helpers for the ``irefer watch`` tests: a loopback emulator in a thread, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from irefer_async.feed import verify_signature
from irefer_async.testing import CampaignSpec, Emulator, RewardSpec

T = TypeVar("T")

SECRET = "whsec-feed-test-secret"


def reward_each_referral() -> CampaignSpec:
    """The default campaign with one reward at every single referral (EACHTIME at 1)."""
    base = Emulator().default_campaign
    return CampaignSpec(
        id=base.id, name=base.name, license_key=base.license_key, api_key=base.api_key,
        rewards=(RewardSpec(1, "Coupon", delivery="EACHTIME"),), actions=base.actions,
    )  # fmt: skip


class Loopback:
    """An emulator served on a loopback port by a thread; mutations run on its loop."""

    def __init__(self, emulator: Emulator, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.emulator = emulator
        self.loop = loop
        self.url = url

    def call(self, fn: Callable[[Emulator], T]) -> T:
        """Run *fn(emulator)* on the server's loop (the emulator is not thread-safe)."""

        async def run() -> T:
            return fn(self.emulator)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)


@contextmanager
def loopback(emulator: Emulator) -> Iterator[Loopback]:
    """Serve *emulator* on 127.0.0.1 from a thread until the block ends."""
    ready = threading.Event()
    handle: list[Any] = []

    def serve() -> None:
        async def main() -> None:
            async with emulator.serve(port=0) as url:
                done = asyncio.Event()
                handle.append((asyncio.get_running_loop(), done, url))
                ready.set()
                await done.wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    loop, done, url = handle[0]
    try:
        yield Loopback(emulator, loop, url)
    finally:
        loop.call_soon_threadsafe(done.set)
        thread.join(10)


class Receiver:
    """A raw-asyncio webhook receiver that misbehaves on purpose.

    It answers 503 to the first ``fail_first`` requests, holds ``hold`` seconds before
    reading a request, and for the request numbers in ``drop_after`` records the event and
    then drops the connection without answering (the work is done, the sender cannot know).
    Every request's signature is checked with ``verify_signature``.
    """

    def __init__(self, *, fail_first: int = 0, hold: float = 0.0,
                 drop_after: frozenset[int] = frozenset()) -> None:  # fmt: skip
        self.fail_first = fail_first
        self.hold = hold
        self.drop_after = drop_after
        self.requests = 0
        self.bad_signatures = 0
        #: (raw body, signature header) of every request whose signature verified.
        self.received: list[tuple[bytes, str]] = []
        self.server: asyncio.Server | None = None

    @property
    def ids(self) -> list[str]:
        """Event ids received (signature verified), in arrival order, duplicates kept."""
        return [json.loads(body)["id"] for body, _ in self.received]

    async def start(self, port: int) -> None:
        """Listen on 127.0.0.1:*port*."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(self.hold)
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests += 1
            n = self.requests
            if n <= self.fail_first:
                status = b"503 Service Unavailable"
            else:
                try:
                    verify_signature(body, headers.get("x-irefer-signature"), SECRET)
                except Exception:
                    self.bad_signatures += 1
                    status = b"401 Unauthorized"
                else:
                    self.received.append((body, headers["x-irefer-signature"]))
                    status = b"200 OK"
                    if n in self.drop_after:
                        writer.transport.abort()  # done, but the sender never hears it
                        return
            writer.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def free_port_number() -> int:
    """A free TCP port on 127.0.0.1 (nothing listens on it yet)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
