"""A deliberately different fake server (raw asyncio, not the emulator) for the doctor's tests.

It answers every request with what ``respond`` returns for the request line, so a test can be
a proxy that quotes the request (secrets included) in an HTML error page, a service whose
``Date`` is off or that sends rate-limit headers, or one that holds a request before answering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

#: ``None`` drops the connection without an answer.
Respond = Callable[[str], tuple[int, dict[str, str], bytes] | None]


@contextlib.asynccontextmanager
async def fake_service(respond: Respond, *, hold: float = 0.0) -> AsyncIterator[int]:
    """Serve ``respond`` on a loopback port (yielded); ``hold`` seconds before each answer."""
    lines: list[str] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
                lines.append(request_line)
                if hold:
                    await asyncio.sleep(hold)
                answer = respond(request_line)
                if answer is None:
                    return  # drop: the finally clause closes the socket
                status, headers, body = answer
                out = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}"]
                out += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        try:
            yield port
        finally:
            # Keep-alive connections park their handlers in readuntil: end them here, not
            # when the loop closes (which would log their cancellation as an error).
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)


def proxy_error_page(request_line: str) -> tuple[int, dict[str, str], bytes]:
    """A proxy's 502 page that quotes the request it could not forward (keys and all)."""
    body = (
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
        f"<p>The proxy could not forward {request_line}</p></body></html>"
    ).encode()
    return 502, {"content-type": "text/html"}, body
