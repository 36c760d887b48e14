"""One HTTP exchange with the API: build the URL, send, and classify what came back.

:class:`Sender` is the only code that touches httpx at request time. It returns the decoded
JSON of a usable answer and raises an SDK error for everything else:

* httpx exceptions -> :func:`~irefer_async._errors.translate_transport_error` (redacted);
* 429 -> :class:`RateLimitedError` with Retry-After (seconds or HTTP date);
* 5xx -> :class:`ServerError`; other non-2xx -> :class:`HTTPStatusError`;
* empty or ``null`` body -> :class:`EmptyResponseError`;
* not JSON -> :class:`MalformedResponseError`;
* ``{"error": ..., "error_code": ...}`` -> :class:`APIError`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import AsyncGenerator, Callable
from typing import Any
from urllib.parse import quote

import httpx

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
from ._version import __version__

__all__ = ["USER_AGENT", "ListBody", "Sender", "parse_retry_after"]

USER_AGENT = f"irefer-async/{__version__}"


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Parse a Retry-After header (delta-seconds or an HTTP date) into seconds, or None."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - (now or dt.datetime.now(dt.timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _quote(text: str) -> str:
    # Letters and digits never need quoting; quote() is the slow part of a URL.
    return text if text.isalnum() and text.isascii() else quote(text, safe="")


class Sender:
    """Sends one GET for an API method and returns its JSON, or raises an SDK error."""

    __slots__ = ("_api_key", "_api_key_pair", "_http", "_prefix", "_redactor")

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        license_key: str,
        api_key: str,
        redactor: Redactor,
    ) -> None:
        self._http = http
        self._prefix = f"{base_url}{quote(license_key, safe='')}.js/"
        self._api_key = api_key
        self._api_key_pair = f"api_key={quote(api_key, safe='')}"
        self._redactor = redactor

    def __repr__(self) -> str:
        return "<Sender>"

    def url_for(self, method: str, params: dict[str, str]) -> str:
        """Build the full request URL (it contains both secrets: never print it)."""
        # What urlencode(..., quote_via=quote, safe="") gives, in a third of the time.
        # Parameter names are the API's ASCII identifiers (from _endpoints): only values vary.
        pairs = [f"{key}={_quote(value)}" for key, value in params.items()]
        pairs.append(self._api_key_pair)
        return f"{self._prefix}{method}?{'&'.join(pairs)}"

    async def open_list(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[httpx.Response], None] | None = None,
    ) -> ListBody:
        """Send ``GET {method}?...`` and return its 2xx body unread, to stream (a list).

        Raises as :meth:`get_json` does for a failed exchange or a non-2xx status; the
        body's own problems (``null``, an error body...) show once it is read. Close the
        :class:`ListBody` when done, read or not. ``seen`` is shown the response first.
        """
        error: IReferError | None = None
        try:
            request = self._http.build_request("GET", self.url_for(method, params))
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            error = translate_transport_error(exc, method=method, redactor=self._redactor)
        except httpx.InvalidURL as exc:
            error = InvalidRequestError(
                f"{method}: cannot build the request URL ({self._redactor.redact(str(exc))}); "
                "is a parameter too long?",
                method=method,
            )
        except Exception as exc:
            error = TransportError(
                f"{method}: {type(exc).__name__}: {self._redactor.redact(str(exc))}",
                method=method,
            )
        if error is not None:
            raise error
        if seen is not None:
            seen(response)
        status = response.status_code
        if not 200 <= status < 300:
            await response.aclose()
            self._read(method, response)  # raises for every non-2xx status
        return ListBody(self, method, response)

    async def get_json(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[httpx.Response], None] | None = None,
    ) -> Any:
        """Send ``GET {method}?{params}&api_key=...`` and return the decoded JSON body.

        ``seen`` (the observability layer's) is shown the response before it is read.
        """
        return self._read(method, await self._get(method, params, seen))

    async def get_json_dated(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[httpx.Response], None] | None = None,
    ) -> tuple[Any, str | None]:
        """Like :meth:`get_json`, with the response's ``Date`` header (the server's clock)."""
        response = await self._get(method, params, seen)
        return self._read(method, response), response.headers.get("date")

    async def _get(
        self,
        method: str,
        params: dict[str, str],
        seen: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        error: IReferError | None = None
        try:
            response = await self._http.get(self.url_for(method, params))
        except httpx.HTTPError as exc:
            error = translate_transport_error(exc, method=method, redactor=self._redactor)
        except httpx.InvalidURL as exc:
            # Raised before sending (e.g. a URL over httpx's 64 KiB): no request, no retry.
            error = InvalidRequestError(
                f"{method}: cannot build the request URL ({self._redactor.redact(str(exc))}); "
                "is a parameter too long?",
                method=method,
            )
        except Exception as exc:
            # A custom transport (aiohttp's...) may raise anything outside httpx's tree, and
            # its message may hold the URL, hence the keys.
            error = TransportError(
                f"{method}: {type(exc).__name__}: {self._redactor.redact(str(exc))}",
                method=method,
            )
        if error is not None:
            raise error
        if seen is not None:
            seen(response)
        return response

    def _read(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
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
    """The unread body of a 2xx answer, streamed in chunks (see :meth:`Sender.open_list`)."""

    __slots__ = ("_response", "_sender", "method")

    def __init__(self, sender: Sender, method: str, response: httpx.Response) -> None:
        self._sender = sender
        self._response = response
        #: The API method.
        self.method = method

    def __repr__(self) -> str:
        return f"<ListBody {self.method} closed={self._response.is_closed}>"

    @property
    def is_closed(self) -> bool:
        """Whether the response (and so its connection slot) has been released."""
        return self._response.is_closed

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the body's bytes as they arrive; a failed read raises an SDK error."""
        method = self.method
        redactor = self._sender._redactor
        stream = self._response.aiter_bytes()
        while True:
            error: IReferError | None = None
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except httpx.HTTPError as exc:
                error = translate_transport_error(exc, method=method, redactor=redactor)
            except Exception as exc:  # a custom transport's own errors (aiohttp...)
                error = TransportError(
                    f"{method}: {type(exc).__name__}: {redactor.redact(str(exc))}", method=method
                )
            if error is not None:
                raise error
            yield chunk

    def check_body(self, content: bytes) -> Any:
        """Parse a small body that is not an array (see :meth:`Sender.check_body`)."""
        return self._sender.check_body(self.method, content)

    async def aclose(self) -> None:
        """Release the response and its connection (idempotent)."""
        await self._response.aclose()
