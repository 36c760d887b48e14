"""The optional aiohttp sender (``transport="aiohttp"``), on aiohttp's public API.

As the httpx stack: streamed bodies; a failure's phase (`map_aiohttp_error`); no silent resend
of a dropped request (`_SendOnce`: a duplicate ``newSignup``); proxies from the environment;
the URL passed as encoded (the query holds the API key).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import aiohttp
import httpx
import yarl

from ._transport import Secret, Wire

__all__ = ["AiohttpResponse", "AiohttpSender", "map_aiohttp_error"]

T = TypeVar("T")


class _SendOnce:
    """A client middleware that lets aiohttp send a request once, never resend it."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False

    async def __call__(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        if self.sent:  # aiohttp's retry of an idempotent request on a dropped connection
            raise aiohttp.ServerDisconnectedError("dropped after sending; not resent")
        self.sent = True
        return await handler(request)


class AiohttpResponse:
    """An aiohttp response seen as the send step reads an ``httpx.Response``."""

    __slots__ = ("_response", "content", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers  # case-insensitive
        self.content = b""  # the whole body, once `aread` has read it

    async def aread(self) -> bytes:
        """Read the whole body (again: the same bytes); failures are httpx read-phase errors."""
        self.content = await _mapped(self._response.read())
        return self.content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives, in chunks of at most 64 KiB."""
        read = self._response.content.read
        while chunk := await _mapped(read(64 * 1024)):
            yield chunk

    async def aclose(self) -> None:
        """Release the connection (idempotent)."""
        self._response.release()


class AiohttpSender:
    """Sends the SDK's GETs with aiohttp (HTTP/1.1, a keep-alive pool of ``pool`` connections).

    The session is made on the first request; ``timeout``'s connect, read and pool apply.
    """

    __slots__ = ("_headers", "_proxy", "_session", "_timeout", "pool")

    def __init__(
        self,
        *,
        pool: int,
        timeout: httpx.Timeout,
        headers: Mapping[str, str],
        proxy: str | None = None,
    ) -> None:
        self.pool = pool  # connections the pool keeps (``max_concurrency``)
        self._proxy = proxy
        self._headers = dict(headers)
        # aiohttp's `connect` covers waiting for a pooled connection and opening it: httpx's pool.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeout.pool,
            sock_connect=timeout.connect,
            sock_read=timeout.read,
        )
        self._session: aiohttp.ClientSession | None = None

    async def get(self, url: Secret, wire: Wire | None = None) -> AiohttpResponse:
        """Send ``GET url``; the response with its body unread (``wire`` told when it left)."""
        session = self._session
        if session is None:
            trace = aiohttp.TraceConfig()
            trace.on_connection_create_start.append(partial(_mark, "connecting"))
            trace.on_request_headers_sent.append(partial(_mark, "sent"))
            session = self._session = aiohttp.ClientSession(
                trace_configs=[trace],
                connector=aiohttp.TCPConnector(limit=self.pool, keepalive_timeout=5.0),
                headers=self._headers,
                timeout=self._timeout,
                proxy=self._proxy,
            )
        response = await _mapped(
            session.get(
                yarl.URL(url.value, encoded=True),
                allow_redirects=False,
                middlewares=(_SendOnce(),),
                trace_request_ctx=wire,
            )
        )
        return AiohttpResponse(response)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()


async def _mapped(call: Awaitable[T]) -> T:
    """Await an aiohttp call; raise its failure as the httpx error of the same phase.

    Raised after one suspension: until then a pure-Python task (PyPy's) chains the failure as
    ``__context__`` of any exception raised (a parser error quoting an echoed piece of key).
    """
    try:
        return await call
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        error = map_aiohttp_error(exc)
    await asyncio.sleep(0)
    raise error


async def _mark(attribute: str, session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    """Set ``attribute`` of the request's `Wire` (the trace context), if any."""
    if context.trace_request_ctx is not None:
        setattr(context.trace_request_ctx, attribute, True)


def map_aiohttp_error(exc: BaseException) -> httpx.TransportError:
    """Translate an aiohttp failure into the httpx error of the same phase.

    Before sending: ``ConnectError``/``ConnectTimeout`` (a proxy is named); after: a read error.
    """
    message = f"{type(exc).__name__}: {exc}"
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        cls = httpx.ConnectError
        message = f"cannot connect to the proxy {exc.host}:{exc.port}: {exc.os_error}"
    elif isinstance(exc, aiohttp.ConnectionTimeoutError):
        cls = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS handshake
        cls = httpx.ConnectError
    elif isinstance(exc, asyncio.TimeoutError | TimeoutError):  # distinct types on 3.10
        cls = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.InvalidURL):
        cls = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        cls = httpx.RemoteProtocolError
    else:  # ServerDisconnectedError, ClientOSError (reset), anything else
        cls = httpx.ReadError
    return cls(message)
