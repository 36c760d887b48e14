"""Every error the SDK raises, and the one place foreign exceptions are translated.

The tree, with what each error means, is drawn (and tested) in the README's "Errors".
No URL (it holds the keys), nor an exception carrying one, is ever attached to an SDK error.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._redact import Redactor

__all__ = [
    "APIError",
    "ClientStateError",
    "ConfigurationError",
    "ConnectError",
    "DeadlineExceededError",
    "DuplicateSignupError",
    "EmptyResponseError",
    "HTTPStatusError",
    "IReferError",
    "InvalidRequestError",
    "MalformedResponseError",
    "QueueFullError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ResponseError",
    "ServerError",
    "StreamInterruptedError",
    "TransportError",
    "WriteOutcomeUnknownError",
]


class IReferError(Exception):
    """Base class of every SDK error.

    ``method`` (if any), ``attempts`` (HTTP attempts made), ``correlation_id`` (the call's id
    in logs and hook events; None before any call started).
    """

    #: Whether the API may have processed the request (False: it provably never reached it).
    maybe_processed: bool = True

    def __init__(self, message: str, *, method: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.attempts = 0
        self.correlation_id: str | None = None

    def __str__(self) -> str:
        return self.message


class InvalidRequestError(IReferError, ValueError):
    """An argument is missing or invalid; raised before any request is sent."""

    maybe_processed = False


class ConfigurationError(InvalidRequestError):
    """The client was configured with a missing or invalid value."""


class ClientStateError(IReferError, RuntimeError):
    """The client cannot be used now: it is closed, or bound to another event loop."""

    maybe_processed = False


#: What iRefer's one "input missing or incorrect" code (``..._err_401``) may mean, per method.
_ANY_401 = "a wrong license key, api key or campaign_id"
_ERR_401_CAUSES = {
    "newSignup": "an email already signed up to the campaign, an unknown referrer_code, "
    f"or {_ANY_401}",
    "referrerStats": f"an email that is not a participant of the campaign, or {_ANY_401}",
    "newSpecificAction": "an unknown referrer_code, an action no rule of the campaign "
    f"matches, or {_ANY_401}",
}


class APIError(IReferError):
    """The API answered an error body ``{"error": ..., "error_code": ...}`` (HTTP 200).

    For ``..._err_401`` ("input missing or incorrect") the message names its likely causes.
    """

    def __init__(self, error: str, error_code: str | None, *, method: str | None) -> None:
        hint = ""
        if error_code is not None and error_code.endswith("_err_401"):
            hint = f"; iRefer answers this for {_ERR_401_CAUSES.get(method or '', _ANY_401)}"
        super().__init__(f"{method}: {error} ({error_code}){hint}", method=method)
        #: The API's ``error`` text.
        self.error = error
        #: The API's ``error_code``, e.g. ``"irefer_api_referrerStats_err_401"``.
        self.error_code = error_code


class DuplicateSignupError(APIError):
    """``newSignup`` for an email already a participant before this call.

    The API refused it, or a reconciling read found it. Participant data: attributes only.
    """

    def __init__(
        self,
        *,
        email: str,
        existed_since: dt.datetime | None = None,
        referrer_email: str | None = None,
        referrer_code: str | None = None,
        error: str = "this email is already a participant of the campaign",
        error_code: str | None = "irefer_api_newSignup_err_401",
    ) -> None:
        super().__init__(error, error_code, method="newSignup")
        since = f" since {existed_since:%Y-%m-%dT%H:%M:%SZ}" if existed_since else ""
        credit = "; the referrer_code sent was not credited" if referrer_code else ""
        self.message = (
            f"newSignup: the email was already a participant{since}, before this call; "
            f"not signed up again{credit} ({error_code})"
        )
        #: The email signed up (participant data: keep it out of logs).
        self.email = email
        #: When the existing participant was created (server time, UTC), if known.
        self.existed_since = existed_since
        #: Who referred the existing participant, if anyone and if known.
        self.referrer_email = referrer_email
        #: The referral code sent with this call, which was not credited.
        self.referrer_code = referrer_code


class ResponseError(IReferError):
    """The response body could not be turned into a result."""


class EmptyResponseError(ResponseError):
    """The body was empty or the JSON ``null`` the guide warns about."""


class MalformedResponseError(ResponseError):
    """The body was not JSON, or its JSON did not have the expected shape."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None,
        detail: str = "",
        not_json: bool = False,
        item: int | None = None,
    ) -> None:
        super().__init__(message if not detail else f"{message}: {detail}", method=method)
        #: What did not fit, in words (the converter's message, or the body's start).
        self.detail = detail
        #: True when the body was not JSON at all (truncated, an HTML page): often transient.
        self.not_json = not_json
        #: The 0-based index of the list item that did not fit (None: the body as a whole).
        self.item = item


class HTTPStatusError(IReferError):
    """The API answered with a non-2xx HTTP status."""

    def __init__(self, status_code: int, *, method: str | None, message: str = "") -> None:
        super().__init__(message or f"{method}: HTTP {status_code}", method=method)
        #: The HTTP status code.
        self.status_code = status_code


class RateLimitedError(HTTPStatusError):
    """HTTP 429 (too many requests)."""

    maybe_processed = False

    def __init__(self, *, method: str | None, retry_after: float | None) -> None:
        hint = "" if retry_after is None else f", retry after {retry_after:g}s"
        super().__init__(429, method=method, message=f"{method}: rate limited (HTTP 429{hint})")
        #: Seconds to wait before the next request, from the Retry-After header.
        self.retry_after = retry_after


class ServerError(HTTPStatusError):
    """A 5xx status: the server failed, perhaps after processing the request."""


class TransportError(IReferError):
    """The exchange failed on the network; ``__cause__``: a redacted copy of the httpx error."""


class ConnectError(TransportError):
    """The connection could not be opened, so the request never reached the server."""

    maybe_processed = False


class RequestTimeoutError(TransportError):
    """A timeout of the HTTP exchange."""

    def __init__(self, message: str, *, method: str | None, phase: str) -> None:
        super().__init__(message, method=method)
        #: Which timeout fired: ``"connect"``, ``"read"``, ``"write"`` or ``"pool"``.
        self.phase = phase
        # A connect or pool timeout happens before any byte of the request is sent.
        self.maybe_processed = phase not in ("connect", "pool")


class DeadlineExceededError(IReferError, TimeoutError):
    """The call's deadline (``RetryConfig.deadline``) passed before it could finish.

    (A write cut after it was sent is a `WriteOutcomeUnknownError`.)
    """

    def __init__(
        self, message: str, *, method: str | None, sent: bool, waiting_for: str | None = None
    ) -> None:
        super().__init__(message, method=method)
        #: Whether a request of this call was sent before the deadline passed (False: none left).
        self.sent = sent
        #: What a never-sent call waited for (``"rate limit"``, ``"concurrency"``, ``"pause"``,
        #: ``"shared request"``), or None.
        self.waiting_for = waiting_for
        self.maybe_processed = sent


class StreamInterruptedError(IReferError):
    """A streamed list broke; never restarted (it may have changed): iterate again to re-read."""

    def __init__(self, *, method: str, delivered: int, reason: IReferError) -> None:
        super().__init__(
            f"{method}: the list broke after {delivered} items had been delivered ({reason}); "
            "not restarted",
            method=method,
        )
        #: How many items were yielded before the break.
        self.delivered = delivered
        #: The error that broke the stream.
        self.reason = reason


class QueueFullError(IReferError):
    """Raised at once when ``max_waiting`` calls already wait for a slot; never sent."""

    maybe_processed = False

    def __init__(self, *, method: str | None, waiting: int) -> None:
        super().__init__(
            f"{method}: not sent: {waiting} calls are already waiting for a slot "
            "(the client's max_waiting)",
            method=method,
        )
        #: Calls of the client waiting for a slot when this one was refused.
        self.waiting = waiting


class WriteOutcomeUnknownError(IReferError):
    """A write failed ambiguously, a reconciling read could not tell if it landed; not resent."""

    def __init__(
        self,
        *,
        method: str,
        params: Mapping[str, str],
        last_error: IReferError,
        reconcile_error: IReferError | None,
    ) -> None:
        why = f"; the reconciling read failed: {reconcile_error}" if reconcile_error else ""
        super().__init__(
            f"{method}: outcome unknown after {last_error}{why}; not resent to avoid a duplicate",
            method=method,
        )
        #: The request's parameters without the api_key.
        self.params = dict(params)
        #: The ambiguous failure of the write.
        self.last_error = last_error
        #: Why the reconciling read could not decide, if it failed.
        self.reconcile_error = reconcile_error


def translate_transport_error(
    exc: Exception,
    *,
    method: str,
    redactor: Redactor,
    trusted: bool = True,
    proxy: str | None = None,
) -> TransportError:
    """Map an httpx (or httpx2) exception to an SDK error; ``__cause__``: a redacted copy.

    ``trusted`` False: connect failures are ``maybe_processed``; ``proxy``: named, not the host.
    """
    # httpx's exception tree, or httpx2's (the same tree, distinct classes).
    httpx2 = sys.modules.get("httpx2")
    http = httpx2 if httpx2 is not None and isinstance(exc, httpx2.HTTPError) else httpx
    text = redactor.redact(str(exc)) or type(exc).__name__
    where = ""  # the server the exchange was with: scheme, host and port, never the path
    if proxy is not None and isinstance(exc, http.ConnectError | http.ConnectTimeout):
        where = f" (the proxy {redactor.redact(proxy)}, from the environment)"
    else:
        try:
            url = exc.request.url  # type: ignore[attr-defined]
        except (RuntimeError, AttributeError):  # an exception raised without a request
            pass
        else:
            port = f":{url.port}" if url.port is not None else ""
            where = f" ({redactor.redact(f'{url.scheme}://{url.host}{port}')})"
    message = f"{method}: {type(exc).__name__}: {text}{where}"
    error: TransportError
    if isinstance(exc, http.TimeoutException):
        phases = {
            http.ConnectTimeout: "connect",
            http.WriteTimeout: "write",
            http.PoolTimeout: "pool",
        }
        phase = next((p for cls, p in phases.items() if isinstance(exc, cls)), "read")
        error = RequestTimeoutError(message, method=method, phase=phase)
    elif isinstance(exc, http.ConnectError):
        error = ConnectError(message, method=method)
    else:
        error = TransportError(message, method=method)
    if not trusted:
        error.maybe_processed = True
    clean: BaseException
    try:
        clean = type(exc)(text)
    except Exception:  # an exotic subclass with another signature
        clean = http.TransportError(text)
    error.__cause__ = clean  # (which sets __suppress_context__ too)
    return error
