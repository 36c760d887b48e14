"""One HTTP exchange with the API: the HTTP stacks, build the URL, send, classify the answer.

`Sender` is the only code that touches the HTTP stack at request time; `Wire` tells whether a
request left; `Slot` is an attempt's throttle slot. A transport's "never sent" verdict lets a
write be resent only from transports whose error mapping the tests pin (`trusts`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import sys
import urllib.request
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple
from urllib.parse import quote, urlsplit

from ._converter import loads
from ._errors import (
    APIError,
    EmptyResponseError,
    HTTPStatusError,
    InvalidRequestError,
    IReferError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
    translate_transport_error,
)
from ._redact import Redactor

if TYPE_CHECKING:
    from ._limits import Throttle

__all__ = [
    "HTTP_STACKS",
    "HttpStack",
    "ListBody",
    "Secret",
    "Sender",
    "Slot",
    "Wire",
    "parse_retry_after",
    "proxy_for",
    "stack_of",
    "trusts",
]


#: The value of ``IReferClient(http_stack=...)``.
HttpStack = Literal["httpx", "httpx2"]
#: Every stack, the default first.
HTTP_STACKS: Final[tuple[HttpStack, ...]] = ("httpx", "httpx2")


def stack_of(client: object) -> ModuleType | None:
    """Return the stack an ``AsyncClient`` belongs to (None: neither httpx's nor httpx2's)."""
    for name in HTTP_STACKS:
        # An httpx2 client exists only if httpx2 was imported: never import it to find out.
        module = sys.modules.get(name)
        if module is not None and isinstance(client, module.AsyncClient):
            return module
    return None


# The transports whose error mapping the tests pin, if their module is loaded (never imported).
_TRUSTED: Final = (
    ("httpx", "AsyncHTTPTransport"),
    ("httpx", "MockTransport"),
    ("httpx2", "AsyncHTTPTransport"),
    ("httpx2", "MockTransport"),
    ("irefer_async._aiohttp", "AiohttpSender"),
    ("irefer_async.testing._transport", "EmulatorTransport"),
    ("irefer_async.testing._transport2", "Httpx2EmulatorTransport"),
    ("respx.transports", "MockTransport"),
    ("respx.transports", "TryTransport"),
)


def _trusted_types() -> set[type[Any]]:
    found = (getattr(sys.modules.get(module), name, None) for module, name in _TRUSTED)
    return {cls for cls in found if isinstance(cls, type)}


def trusts(transport: object) -> bool:
    """Whether the SDK has tested how ``transport`` (None: the stack's own) maps its errors.

    An injected ``http_client`` is not judged (httpx cannot show its transports): not trusted.
    """
    return transport is None or type(transport) in _trusted_types()


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta-seconds or an HTTP date) into seconds, or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = when.timestamp() - (now or dt.datetime.now(dt.timezone.utc)).timestamp()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# quote(text, safe="") as one str.translate (C speed): unreserved bytes kept, others %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_QUOTED = {byte: chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in range(256)}


def proxy_for(url: str, *, credentials: bool = False) -> str | None:
    """Return the environment's proxy for ``url`` as ``scheme://host:port`` (None: direct).

    Its ``user:password@`` only with ``credentials`` (to use it, never to show it).
    """
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    if credentials:
        return proxy
    given = urlsplit(proxy)
    port = f":{given.port}" if given.port is not None else ""
    return f"{given.scheme}://{given.hostname}{port}"


def _quote(text: str) -> str:
    # Letters and digits never need quoting; anything else is translated byte by byte
    # (UTF-8, as quote() encodes; a lone surrogate raises UnicodeEncodeError in both).
    if text.isascii():
        return text if text.isalnum() else text.translate(_QUOTED)
    return text.encode("utf-8").decode("latin-1").translate(_QUOTED)


class Secret:
    """A request URL (it holds the keys) whose ``repr`` never shows it: safe in frame locals."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Wire:
    """Whether a request started to leave the client, as the HTTP stack tells it going along.

    httpx's documented ``"trace"`` extension (the aiohttp sender's trace context) sets
    ``connecting`` when a connection starts opening, ``sent`` when the headers start going. A
    transport that reports nothing (mocks, the emulator) leaves `never_sent` False.
    """

    __slots__ = ("connecting", "sent")

    def __init__(self) -> None:
        self.connecting = False
        self.sent = False

    @property
    def never_sent(self) -> bool:
        """Whether the request provably never left (cut while its connection was opening)."""
        return self.connecting and not self.sent

    async def __call__(self, name: str, info: Any) -> None:
        """Take one of httpcore's trace events (``connection.*``, ``*.send_request_headers``)."""
        if name.endswith("send_request_headers.started"):
            self.sent = True
            # Nothing more to learn: httpcore stops tracing the request's later steps.
            request = info.get("request") if isinstance(info, dict) else None
            extensions = getattr(request, "extensions", None)
            if type(extensions) is dict and extensions.get("trace") is self:
                del extensions["trace"]
        elif name.startswith("connection."):
            self.connecting = True


class Slot:
    """One attempt's throttle slot, and the 429 pause: the only place both are handled.

    ``async with Slot(throttle, method, max_pause):`` holds a slot for the block; a
    `RateLimitedError` with a ``Retry-After`` leaving it pauses every call of the client (at
    most ``max_pause``). `keep` hands the slot on (a streamed list), to `release` later.
    """

    __slots__ = ("_held", "_kept", "_max_pause", "_method", "_throttle")

    def __init__(self, throttle: Throttle, method: str, max_pause: float) -> None:
        self._throttle = throttle
        self._method = method
        self._max_pause = max_pause
        self._held = False
        self._kept = False

    async def __aenter__(self) -> Slot:
        await self._throttle.acquire(self._method)
        self._held = True
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, RateLimitedError) and exc.retry_after:
            self._throttle.pause(min(exc.retry_after, self._max_pause))
        if exc is not None or not self._kept:
            self.release()

    def keep(self) -> None:
        """Keep the slot past the block (the caller must `release` it)."""
        self._kept = True

    def release(self) -> None:
        """Give the slot back (idempotent)."""
        if self._held:
            self._held = False
            self._throttle.release()


class Sender:
    """Sends one GET for an API method through the HTTP stack's public API.

    An ``AsyncClient`` by ``send(build_request(...))`` (its hooks, auth, proxies apply), the
    aiohttp sender by its ``get``.
    """

    def __init__(
        self,
        http: Any,
        stack: ModuleType,
        *,
        base_url: str,
        license_key: str,
        api_key: str,
        redactor: Redactor,
        trusted: bool,
        proxy: str | None = None,
    ) -> None:
        self._http = http
        self._proxy = proxy  # an SDK-built client's, from the environment: named on connect errors
        # The aiohttp sender has its own `get`; an AsyncClient is driven through `send`.
        self._native = None if stack_of(http) is not None else http
        self._stack = stack
        self._base_url = base_url
        self._prefix = f"{base_url}{quote(license_key, safe='')}.js/"
        self._api_key_pair = f"api_key={quote(api_key, safe='')}"
        self._redactor = redactor
        self.trusted = trusted

    def url_for(self, method: str, params: dict[str, str]) -> str:
        """Build the full request URL (it contains both secrets: never print it)."""
        # What urlencode(..., quote_via=quote, safe="") gives, faster (docs/benchmarks.md).
        # Parameter names are the API's ASCII identifiers (from _endpoints): only values vary.
        pairs = [f"{key}={_quote(value)}" for key, value in params.items()]
        pairs.append(self._api_key_pair)
        return f"{self._prefix}{method}?{'&'.join(pairs)}"

    async def send(
        self,
        method: str,
        params: dict[str, str],
        *,
        stream: bool = False,
        wire: Wire | None = None,
    ) -> Any:
        """Send ``GET {method}?{params}&api_key=...``; return the response, any status.

        The body read whole (unread with ``stream``); failures raise SDK errors (redacted).
        """
        url = Secret(self.url_for(method, params))
        try:
            if self._native is not None:
                response = await self._native.get(url, wire)
                if not stream:
                    await response.aread()  # releases the connection, or closes it on a failure
            else:
                http = self._http
                # Built inline: a Request's repr holds the URL (both keys); no local keeps it.
                response = await http.send(
                    http.build_request(
                        "GET", url.value, extensions=None if wire is None else {"trace": wire}
                    ),
                    stream=stream,
                )
        except Exception as exc:
            error = self._failed(method, exc)
        else:
            return response
        raise error

    async def open_list(
        self, method: str, params: dict[str, str], wire: Wire | None = None
    ) -> ListBody:
        """Send ``GET {method}?...``; return its 2xx body unread (a non-2xx raises: `classify`)."""
        response = await self.send(method, params, stream=True, wire=wire)
        if not 200 <= response.status_code < 300:
            await response.aclose()
            self.check_status(method, response)
        return ListBody(self, method, response)

    def _failed(self, method: str, exc: Exception) -> IReferError:
        """Translate what sending raised (the SDK error to raise, outside the handler)."""
        redactor = self._redactor
        if isinstance(exc, self._stack.HTTPError):
            return translate_transport_error(
                exc, method=method, redactor=redactor, trusted=self.trusted, proxy=self._proxy
            )
        if isinstance(exc, self._stack.InvalidURL):
            # Raised before sending (e.g. a URL over httpx's 64 KiB): no request, no retry.
            return InvalidRequestError(
                f"{method}: cannot build the request URL ({redactor.redact(str(exc))}); "
                "is a parameter too long?",
                method=method,
            )
        # A custom transport may raise anything, its message holding the URL (the keys).
        return TransportError(
            f"{method}: {type(exc).__name__}: {redactor.redact(str(exc))}", method=method
        )

    def classify(self, method: str, response: Any) -> Any:
        """Return the JSON of a usable answer (read whole), or raise the SDK error it stands for."""
        self.check_status(method, response)
        return self.check_body(method, response.content)

    def check_status(self, method: str, response: Any) -> None:
        """Raise the SDK error of a non-2xx status (404, 429, 5xx, others)."""
        status = response.status_code
        if status == 404:  # the API answers its own errors with 200: a 404 is a wrong URL
            base = self._redactor.redact(self._base_url)
            raise HTTPStatusError(
                404,
                method=method,
                message=f"{method}: HTTP 404; is the base URL right? It is {base} "
                "(iRefer's is https://api.irefer.io/v1.0/)",
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RateLimitedError(method=method, retry_after=retry_after)
        if status >= 500:
            raise ServerError(status, method=method)
        if not 200 <= status < 300:
            raise HTTPStatusError(status, method=method)

    def check_body(self, method: str, content: bytes) -> Any:
        """Parse a 2xx body, or raise for an empty, ``null``, non-JSON or API-error one."""
        try:
            data = loads(content) if content else None  # orjson when installed, else json.loads
        except ValueError:
            # Raised below, outside the handler (no parser error as context). Redact the whole
            # body, then cut: a cut first could split a key and hide it.
            snippet = self._redactor.quote(content.decode("utf-8", "replace"), 60)
            error = MalformedResponseError(
                f"{method}: response body is not JSON",
                method=method,
                detail=f"starts with {snippet!r}",
                not_json=True,
            )
        else:
            if data is None:
                raise EmptyResponseError(f"{method}: empty or null response body", method=method)
            if type(data) is dict and "error" in data:
                raise APIError(
                    self._redactor.quote(str(data["error"]), 500),  # characters kept
                    None if data.get("error_code") is None else str(data["error_code"]),
                    method=method,
                )
            return data
        raise error


class ListBody(NamedTuple):
    """The unread body of a 2xx ``response`` to ``method``, streamed (`Sender.open_list`)."""

    sender: Sender
    method: str
    response: Any

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the body's bytes as they arrive; a failed read raises an SDK error."""
        try:
            async for chunk in self.response.aiter_bytes():
                yield chunk
            return
        except Exception as exc:  # translated by the sender (either stack, redacted)
            error = self.sender._failed(self.method, exc)
        raise error
