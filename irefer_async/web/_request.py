"""`referral_code`: the code a middleware kept, read back from any framework's request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._core import (
    CODE_PATTERN,
    DEFAULT_COOKIE,
    SCOPE_KEY,
    code_from_cookie_header,
    cookies_of,
    is_referral_code,
)

__all__ = ["referral_code"]


def referral_code(
    request: object, *, cookie: str = DEFAULT_COOKIE, code_pattern: str = CODE_PATTERN
) -> str | None:
    """Return the referral code of a request, or None: pass it as ``referrer_code``.

    ``request`` is any of: a Starlette/FastAPI ``Request``, an ASGI scope, a Django
    ``HttpRequest``, a Flask/Werkzeug request, a WSGI environ, an aiohttp ``Request``, or a
    ``Cookie`` header (a ``str``). The code a middleware decided for this request comes first
    (so the landing request itself has it); else the cookie ``cookie``. Only a valid code is
    returned (`is_referral_code`): a tampered cookie reads as None.

    ```python
    client.new_signup(email, referrer_code=referral_code(request))
    ```
    """
    found = _lookup(request, cookie)
    return found if isinstance(found, str) and is_referral_code(found, code_pattern) else None


def _lookup(request: object, cookie: str) -> object:  # noqa: PLR0911, PLR0912 - one way per request type
    if isinstance(request, str):
        return code_from_cookie_header(request, cookie)
    if type(request).__module__.startswith("aiohttp."):
        from ._aiohttp import request_key  # noqa: PLC0415 - aiohttp is loaded already

        value = request.get(request_key())  # type: ignore[attr-defined]
        if value is not None:
            return value
    if isinstance(request, Mapping):
        if SCOPE_KEY in request:
            return request[SCOPE_KEY]
        if "headers" in request and "type" in request:  # an ASGI scope
            return _from_headers(request["headers"], cookie)
        header = request.get("HTTP_COOKIE")  # a WSGI environ
        if isinstance(header, str):
            return code_from_cookie_header(header, cookie)
    environ = getattr(request, "scope", None)  # Starlette, FastAPI
    if environ is None:
        environ = getattr(request, "environ", None)  # Flask, Werkzeug
    if environ is None:
        environ = getattr(request, "META", None)  # Django
    if isinstance(environ, Mapping) and SCOPE_KEY in environ:
        return environ[SCOPE_KEY]
    for attribute in ("cookies", "COOKIES"):  # Starlette, Flask, aiohttp; Django
        cookies = getattr(request, attribute, None)
        if isinstance(cookies, Mapping):
            return cookies_of(cookies, cookie)
    if isinstance(environ, Mapping):
        if "headers" in environ and "type" in environ:
            return _from_headers(environ["headers"], cookie)
        header = environ.get("HTTP_COOKIE")
        if isinstance(header, str):
            return code_from_cookie_header(header, cookie)
    return None


def _from_headers(headers: Any, cookie: str) -> object:
    found = None
    for name, value in headers:
        if name == b"cookie":
            found = code_from_cookie_header(value.decode("latin-1"), cookie) or found
    return found
