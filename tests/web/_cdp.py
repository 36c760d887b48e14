"""A headless Chromium driven over the DevTools protocol (a websocket, through aiohttp).

Why the DevTools protocol rather than selenium or playwright: aiohttp (already a test
dependency) is the whole client; there is no chromedriver whose version must match the
browser's and no browser download: it drives Debian's /usr/bin/chromium as installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,700",
    "--remote-debugging-port=0",
]
_LISTENING = re.compile(rb"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    """The Chromium binary: ``$CHROMIUM``, else ``chromium`` on the PATH (Debian's package)."""
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


class Page:
    """One tab: navigate, evaluate, wait for a condition, screenshot, read cookies."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    async def send(self, method: str, **params: Any) -> Any:
        return await self._browser.send(method, params, session=self._session)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        )

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression!r} failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy (a page loading or a script answering)."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(RuntimeError):  # a page being replaced
                    value = await self.evaluate(expression)
                    if value:
                        return value
                await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> Path:
        answer = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(_write, path, base64.b64decode(answer["data"]))
        return path

    async def cookies(self, url: str) -> list[dict[str, Any]]:
        answer = await self.send("Network.getCookies", urls=[url])
        return answer["cookies"]  # type: ignore[no-any-return]


class Browser:
    """The DevTools connection to one browser process."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is None or future.done():
                continue
            if "error" in data:
                future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
            else:
                future.set_result(data.get("result", {}))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the browser went away"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> Any:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send_str(json.dumps(message))
        async with asyncio.timeout(30):
            return await future

    async def new_page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        for domain in ("Page", "Runtime", "Network"):
            await page.send(f"{domain}.enable")
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close")
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def chromium(binary: str, profile: Path) -> AsyncIterator[Browser]:
    """Start a headless Chromium with a fresh profile; yield its DevTools connection."""
    process = await asyncio.create_subprocess_exec(
        binary, *FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        async with asyncio.timeout(60):
            while True:
                line = await process.stderr.readline()
                if not line:
                    raise RuntimeError("chromium exited before listening")
                found = _LISTENING.search(line)
                if found:
                    break
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(found.group(1).decode(), max_msg_size=0)
            browser = Browser(ws)
            try:
                yield browser
            finally:
                await browser.close()
        drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass
