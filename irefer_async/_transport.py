"""One HTTP exchange with the API: build the URL, send, and classify what came back.

`Sender` is the only code that touches httpx at request time. It returns the decoded
JSON of a usable answer and raises an SDK error for everything else:

* httpx exceptions -> `translate_transport_error` (redacted);
* 429 -> `RateLimitedError` with Retry-After (seconds or HTTP date);
* 5xx -> `ServerError`; other non-2xx -> `HTTPStatusError`;
* empty or ``null`` body -> `EmptyResponseError`;
* not JSON -> `MalformedResponseError`;
* ``{"error": ..., "error_code": ...}`` -> `APIError`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
from collections.abc import AsyncGenerator, Callable
from typing import Any
from urllib.parse import quote

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
from ._stack import Stack, stack_of, trusts
from ._version import __version__

__all__ = ["USER_AGENT", "ListBody", "Sender", "parse_http_date", "parse_retry_after"]

#: The SDK's User-Agent header.
USER_AGENT = f"irefer-async/{__version__}"


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP ``Date`` header into epoch seconds, or None."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta-seconds or an HTTP date) into seconds, or None."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        when = parse_http_date(text)
        if when is None:
            return None
        seconds = when - (now or dt.datetime.now(dt.timezone.utc)).timestamp()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# httpx refuses URLs over 64 KiB (InvalidURL); anything near that goes through the client.
_LONGEST_QUERY = 60_000


# quote(text, safe="") as one str.translate (C speed): unreserved bytes kept, others %XX.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_QUOTED = {byte: chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in range(256)}


def _quote(text: str) -> str:
    # Letters and digits never need quoting; anything else is translated byte by byte
    # (UTF-8, as quote() encodes; a lone surrogate raises UnicodeEncodeError in both).
    if text.isascii():
        return text if text.isalnum() else text.translate(_QUOTED)
    return text.encode("utf-8").decode("latin-1").translate(_QUOTED)


def _attach(exc: Any, request: Any) -> None:
    # httpx's client sets the request on errors raised while sending (request_context);
    # the error translation names the server from it (scheme, host, port: never the path).
    try:
        exc.request  # noqa: B018 - raises RuntimeError when none was set
    except RuntimeError:
        exc.request = request


class _DirectRequests:
    """Builds the requests of an SDK-owned client once per call, for its transport directly.

    What ``AsyncClient.build_request`` + ``send`` would do, less what this API never uses
    (cookies: it sets none; auth: the keys are in the URL; redirects: never followed): the
    URL from pre-encoded parts (no re-parsing: the values are already percent-encoded), the
    client's fixed headers (Host included) and timeouts computed once, and the ``Request``
    filled in without re-validating them (a third of the cost of its constructor).
    `check` compares the result with the client's own ``build_request`` at start, down
    to the request's attribute names; on any difference (another httpx release) the sender
    keeps using the client.
    """

    __slots__ = ("_base", "_empty", "_extensions", "_headers", "_path", "_request", "_url")

    def __init__(self, http: Any, stack: Stack, prefix: str) -> None:
        sample = http.build_request("GET", f"{prefix}m?a=b")
        # The client's headers (User-Agent, Accept, Accept-Encoding, Connection) and Host.
        self._headers = sample.headers
        self._extensions = sample.extensions
        self._request: Any = stack.request
        self._url: Any = stack.module.URL
        self._base = self._url(prefix)._uri_reference
        self._path = self._base.path
        self._empty = stack.module.ByteStream(b"")

    def build(self, method: str, query: str) -> Any:
        """Return the ``GET`` request for ``method`` with an already encoded query string."""
        url = self._url.__new__(self._url)
        url._uri_reference = self._base._replace(path=self._path + method, query=query)
        request = self._request.__new__(self._request)
        request.method = "GET"
        request.url = url
        request.headers = self._headers.copy()
        request.extensions = dict(self._extensions)
        request.stream = self._empty  # stateless: an empty body, shared
        request._content = b""
        return request

    def check(self, http: Any, prefix: str) -> bool:
        """Whether `build` gives what the client's ``build_request`` gives."""
        query = "campaign_id=2605&email=a%2Bb%40example.com&name=%C3%A9%20x&api_key=k%2F1"
        try:
            mine = self.build("referrerStats", query)
            theirs = http.build_request("GET", f"{prefix}referrerStats?{query}")
            return bool(
                vars(mine).keys() == vars(theirs).keys()
                and str(mine.url) == str(theirs.url)
                and mine.url.raw_path == theirs.url.raw_path
                and mine.url.netloc == theirs.url.netloc
                and mine.method == theirs.method
                and mine.headers.raw == theirs.headers.raw
                and mine.extensions == theirs.extensions
                and mine.content == theirs.content
            )
        except Exception:
            return False


class Sender:
    """Sends one GET for an API method and returns its JSON, or raises an SDK error.

    The send step, two ways:

    * an HTTP client the SDK built (``direct=True``): the request is built once
      (`_DirectRequests`) and handed to the client's transport
      (``_transport_for_url``, so proxies from the environment, respx and OpenTelemetry's
      transport instrumentation still apply), then read whole; about a third of the
      client-side CPU of ``AsyncClient.get``;
    * an injected ``http_client``: ``await http.get(url)``, so the user's event hooks, auth,
      proxies and cookies apply as they configured them.

    Either way, errors are translated at the one translation point (`irefer_async._errors`),
    trusting a "never sent" verdict only from a transport `irefer_async._stack.trusts` vouches for.
    """

    __slots__ = (
        "_api_key",
        "_api_key_pair",
        "_base_url",
        "_direct",
        "_http",
        "_logger",
        "_prefix",
        "_redactor",
        "_stack",
        "_trusted",
    )

    def __init__(
        self,
        http: Any,
        *,
        base_url: str,
        license_key: str,
        api_key: str,
        redactor: Redactor,
        direct: bool = False,
    ) -> None:
        stack = stack_of(http)
        if stack is None:
            raise TypeError("http must be an httpx.AsyncClient or an httpx2.AsyncClient")
        self._http = http
        self._stack = stack
        self._base_url = base_url
        self._prefix = f"{base_url}{quote(license_key, safe='')}.js/"
        self._api_key = api_key
        self._api_key_pair = f"api_key={quote(api_key, safe='')}"
        self._redactor = redactor
        self._trusted = trusts(http)
        self._logger = logging.getLogger(stack.name)
        self._direct: _DirectRequests | None = None
        if direct:
            requests = _DirectRequests(http, stack, self._prefix)
            if requests.check(http, self._prefix):
                self._direct = requests

    def __repr__(self) -> str:
        return "<Sender>"

    @property
    def direct(self) -> bool:
        """Whether requests go to the transport directly (an SDK-built client)."""
        return self._direct is not None

    @property
    def trusted(self) -> bool:
        """Whether the transport's "never sent" verdicts are trusted (see `_stack`)."""
        return self._trusted

    def _query(self, params: dict[str, str]) -> str:
        # What urlencode(..., quote_via=quote, safe="") gives, in a third of the time.
        # Parameter names are the API's ASCII identifiers (from _endpoints): only values vary.
        pairs = [f"{key}={_quote(value)}" for key, value in params.items()]
        pairs.append(self._api_key_pair)
        return "&".join(pairs)

    def url_for(self, method: str, params: dict[str, str]) -> str:
        """Build the full request URL (it contains both secrets: never print it)."""
        return f"{self._prefix}{method}?{self._query(params)}"

    async def _send(self, method: str, params: dict[str, str]) -> Any:
        direct = self._direct
        if direct is None:
            return await self._http.get(self.url_for(method, params))
        query = self._query(params)
        if len(query) > _LONGEST_QUERY:
            # Let the client refuse it (httpx.InvalidURL) exactly as it would.
            return await self._http.get(f"{self._prefix}{method}?{query}")
        request = direct.build(method, query)
        transport = self._http._transport_for_url(request.url)
        try:
            response = await transport.handle_async_request(request)
        except self._stack.http_error as exc:
            _attach(exc, request)  # as the client's send does: the error names its request
            raise
        response.request = request
        self._logger.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method, request.url, response.http_version, response.status_code,
            response.reason_phrase,
        )  # fmt: skip
        try:
            await response.aread()
        except BaseException as exc:
            await response.aclose()
            if isinstance(exc, self._stack.http_error):
                _attach(exc, request)
            raise
        return response

    def _failed(self, method: str, exc: Exception) -> IReferError:
        """Translate what sending raised (the SDK error to raise, outside the handler)."""
        if isinstance(exc, self._stack.http_error):
            return translate_transport_error(
                exc, method=method, redactor=self._redactor, trusted=self._trusted
            )
        if isinstance(exc, self._stack.invalid_url):
            # Raised before sending (e.g. a URL over httpx's 64 KiB): no request, no retry.
            return InvalidRequestError(
                f"{method}: cannot build the request URL ({self._redactor.redact(str(exc))}); "
                "is a parameter too long?",
                method=method,
            )
        # A custom transport (aiohttp's...) may raise anything outside httpx's tree, and its
        # message may hold the URL, hence the keys.
        return TransportError(
            f"{method}: {type(exc).__name__}: {self._redactor.redact(str(exc))}", method=method
        )

    async def fetch(self, method: str, params: dict[str, str]) -> Any:
        """Send ``GET {method}?{params}&api_key=...``; return the whole response, any status.

        Transport failures are raised as SDK errors (translated, redacted).
        """
        try:
            return await self._send(method, params)
        except Exception as exc:
            error = self._failed(method, exc)
        raise error

    async def open_list(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[Any], None] | None = None,
    ) -> ListBody:
        """Send ``GET {method}?...`` and return its 2xx body unread, to stream (a list).

        Raises as `get_json` does for a failed exchange or a non-2xx status; the
        body's own problems (``null``, an error body...) show once it is read. Close the
        `ListBody` when done, read or not. ``seen`` is shown the response first.
        """
        try:
            # Through the client (either stack): a big body, read in chunks, where the
            # client's own cost per request does not matter.
            request = self._http.build_request("GET", self.url_for(method, params))
            response = await self._http.send(request, stream=True)
        except Exception as exc:
            error = self._failed(method, exc)
        else:
            if seen is not None:
                seen(response)
            status = response.status_code
            if not 200 <= status < 300:
                await response.aclose()
                self._read(method, response)  # raises for every non-2xx status
            return ListBody(self, method, response)
        raise error

    async def get_json(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send ``GET {method}?{params}&api_key=...`` and return the decoded JSON body.

        ``seen`` (the observability layer's) is shown the response before it is read.
        """
        return self._read(method, await self._get(method, params, seen))

    async def _get(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[Any], None] | None = None,
    ) -> Any:
        try:
            response = await self._send(method, params)
        except Exception as exc:
            error = self._failed(method, exc)
        else:
            if seen is not None:
                seen(response)
            return response
        raise error

    def _read(self, method: str, response: Any) -> Any:
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
        return self.check_body(method, response.content)

    def check_body(self, method: str, content: bytes) -> Any:
        """Parse a 2xx body, or raise for an empty, ``null``, non-JSON or API-error one."""
        data: Any = None
        if content and content != b"null":
            try:
                data = loads(content)  # orjson when installed, else json.loads
            except ValueError:
                data = _NOT_JSON
        if data is None:
            raise EmptyResponseError(f"{method}: empty or null response body", method=method)
        if data is _NOT_JSON:
            # Redact the whole body, then cut: a cut first could split a key and hide it.
            snippet = self._redactor.quote(content.decode("utf-8", "replace"), _SNIPPET)
            raise MalformedResponseError(
                f"{method}: response body is not JSON",
                method=method,
                detail=f"starts with {snippet!r}",
                not_json=True,
            )
        if type(data) is dict and "error" in data:
            raise APIError(
                self._redactor.quote(str(data["error"]), _API_ERROR_TEXT),
                None if data.get("error_code") is None else str(data["error_code"]),
                method=method,
            )
        return data


_NOT_JSON: Any = object()
#: Characters of a non-JSON body quoted in an error, after redaction.
_SNIPPET = 60
#: Characters of an API error text kept, after redaction.
_API_ERROR_TEXT = 500


class ListBody:
    """The unread body of a 2xx answer, streamed in chunks (see `Sender.open_list`)."""

    __slots__ = ("_response", "_sender", "method")

    def __init__(self, sender: Sender, method: str, response: Any) -> None:
        self._sender = sender
        self._response = response
        #: The API method.
        self.method = method

    def __repr__(self) -> str:
        return f"<ListBody {self.method} closed={self._response.is_closed}>"

    @property
    def date(self) -> str | None:
        """The response's ``Date`` header (the server's clock when it answered), if any."""
        value = self._response.headers.get("date")
        return value if isinstance(value, str) else None

    @property
    def is_closed(self) -> bool:
        """Whether the response (and so its connection slot) has been released."""
        return bool(self._response.is_closed)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the body's bytes as they arrive; a failed read raises an SDK error."""
        method = self.method
        stream = self._response.aiter_bytes()
        while True:
            error: IReferError | None = None
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:  # translated by the sender (either stack, redacted)
                error = self._sender._failed(method, exc)
            if error is not None:
                raise error
            yield chunk

    def check_body(self, content: bytes) -> Any:
        """Parse a small body that is not an array (see `Sender.check_body`)."""
        return self._sender.check_body(self.method, content)

    async def aclose(self) -> None:
        """Release the response and its connection (idempotent)."""
        await self._response.aclose()
