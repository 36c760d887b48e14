"""The optional aiohttp transport: ``IReferClient(..., transport="aiohttp")``.

Install it with ``pip install "irefer-async[aiohttp]"`` (it brings ``httpx-aiohttp`` and
aiohttp). httpx still builds every request and response, so the rest of the SDK (and respx,
and an injected ``http_client``) sees no difference; aiohttp only moves the bytes, about four
times faster than httpcore at 64 requests in flight (see ``docs/benchmarks.md``).

What this module adds to ``httpx_aiohttp.AiohttpTransport``:

* its exception mapping is replaced. httpx-aiohttp maps every ``aiohttp.ClientConnectionError``
  (a connection dropped *after* the request was sent included) to ``httpx.ConnectTimeout``,
  which the SDK rightly treats as "never sent", so a write would be resent blindly. Here only
  failures that happen before a byte is sent become ``ConnectError``/``ConnectTimeout``;
  everything later is a read error or a read timeout, which write safety reconciles.
* aiohttp's silent resend is turned off. aiohttp sends an idempotent request (every iRefer
  call is a GET, ``newSignup`` included) a second time when a reused connection drops before
  the answer; for a write that landed that is a duplicate. The SDK's retry and write-safety
  layers decide instead.
* the body is read whole inside the transport (the SDK never streams) and the URL is passed
  as already encoded, so aiohttp does not re-quote the query (which holds the API key).
* the connection pool is sized by the client's ``max_concurrency`` (see ``_client.py``),
  so the pool never closes and reopens connections under load.

uvloop speeds aiohttp up by a further ~40%; it is the application's choice (it replaces the
event loop for everything), e.g. ``uvloop.run(main())`` or
``asyncio.run(main(), loop_factory=uvloop.new_event_loop)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport as _BaseTransport

__all__ = ["AiohttpTransport"]


class AiohttpTransport(_BaseTransport):
    """An httpx transport that sends requests with aiohttp (HTTP/1.1, keep-alive pool).

    ``limits.max_connections`` caps the pool; connections stay open ``keepalive_expiry``
    seconds after use. Honours the request's connect, read and pool timeouts.
    """

    def get_client(self) -> aiohttp.ClientSession:
        """Build the aiohttp session (in the running loop, on the first request)."""
        session = super().get_client()
        # No public switch (aiohttp 3.9+); its own test client sets the same attribute.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the whole response, or raise an ``httpx`` error."""
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        body = request.content or None
        error: httpx.TransportError | None = None
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                # Decoded once here: aiohttp reading httpx.Headers item by item costs more.
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=body,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                compress=None,
                timeout=_timeout(timeout),
                server_hostname=request.extensions.get("sni_hostname"),
            ) as response:
                content = await response.read()
                status, headers, reason = response.status, response.raw_headers, response.reason
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            error = map_aiohttp_error(exc, request)
        if error is not None:
            raise error
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("ascii", "replace")
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions=extensions,
        )


def _timeout(timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
    # aiohttp's `connect` covers waiting for a pooled connection and opening it: httpx's pool.
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


def map_aiohttp_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """Translate an aiohttp failure into the httpx error of the same phase.

    Before the request was sent (could not connect, connect or pool timeout): ``ConnectError``
    or ``ConnectTimeout``. After (dropped connection, bad response, read timeout): ``ReadError``,
    ``RemoteProtocolError`` or ``ReadTimeout``, which the SDK treats as possibly processed.
    """
    message = f"{type(exc).__name__}: {exc}"
    cls: type[httpx.TransportError]
    connection_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp >= 3.10
    if connection_timeout is not None and isinstance(exc, connection_timeout):
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
    return cls(message, request=request)
