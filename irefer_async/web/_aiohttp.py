"""Referral attribution as an aiohttp middleware (aiohttp is imported when one is built)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._core import SCOPE_KEY, Attribution

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["aiohttp_referral_middleware", "request_key"]

_KEY: list[Any] = []


def request_key() -> Any:
    """Return the key of the request's code in an aiohttp request's storage.

    A ``web.RequestKey`` where aiohttp has them (3.12+), else `SCOPE_KEY`.
    """
    if not _KEY:
        from aiohttp import web  # noqa: PLC0415 - aiohttp is needed only by aiohttp apps

        key_type = getattr(web, "RequestKey", None)
        _KEY.append(SCOPE_KEY if key_type is None else key_type(SCOPE_KEY, str))
    return _KEY[0]


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def aiohttp_referral_middleware(
    *, attribution: Attribution | None = None, **options: Any
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Return an aiohttp middleware keeping ``?iref=CODE`` in a first-party cookie.

    ```python
    app = web.Application(middlewares=[aiohttp_referral_middleware()])
    ```

    The same behaviour as the ASGI `ReferralMiddleware`; the request's code is left in the
    request's storage for `referral_code`. Options: `Attribution`.
    """
    from aiohttp import web  # noqa: PLC0415 - aiohttp is needed only by aiohttp apps

    settings = attribution if attribution is not None else Attribution(**options)
    key = request_key()

    @web.middleware
    async def referral_attribution(request: web.Request, handler: Handler) -> web.StreamResponse:
        code, keep = settings.resolve(request.query_string, request.headers.getall("Cookie", ()))
        request[key] = code
        if keep is None:
            return await handler(request)
        header = settings.set_cookie(keep, https=request.secure)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a raised redirect (a landing page's usual answer)
            exc.headers.add("Set-Cookie", header)
            raise
        if not response.prepared:  # a streamed response has sent its head already
            response.headers.add("Set-Cookie", header)
        return response

    return referral_attribution
