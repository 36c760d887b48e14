"""Referral attribution as a pure ASGI 3 middleware (FastAPI, Starlette, any ASGI app)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._core import SCOPE_KEY, Attribution

__all__ = ["ReferralMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ReferralMiddleware:
    """Keep the referral code of ``?iref=CODE`` in a first-party cookie (ASGI).

    ```python
    from fastapi import FastAPI
    from irefer_async.web import ReferralMiddleware, referral_code

    app = FastAPI()
    app.add_middleware(ReferralMiddleware)            # or ReferralMiddleware(app, ...)

    @app.post("/signup")
    async def signup(request: Request, email: str = Form()):
        await client.new_signup(email, referrer_code=referral_code(request))
    ```

    On an HTTP request whose query carries a valid code, the response sets the cookie
    (first touch: only if none is kept yet; ``last_touch=True``: always). The request's code
    (kept or new) is left in ``scope["irefer.referral_code"]`` for `referral_code`, on the very
    request that brought it. Anything but a valid code is ignored. Options: `Attribution`.
    Depends on no framework; websocket and lifespan scopes pass through untouched.
    """

    def __init__(
        self, app: ASGIApp, *, attribution: Attribution | None = None, **options: Any
    ) -> None:
        """Wrap ``app``; ``options`` are `Attribution`'s (or pass one as ``attribution``)."""
        self.app = app
        #: The settings in use.
        self.attribution = attribution if attribution is not None else Attribution(**options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        attribution = self.attribution
        query = scope.get("query_string", b"").decode("latin-1")
        cookies = [
            value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"cookie"
        ]
        code, keep = attribution.resolve(query, cookies)
        scope[SCOPE_KEY] = code
        if keep is None:
            await self.app(scope, receive, send)
            return
        header = attribution.set_cookie(keep, https=scope.get("scheme") in ("https", "wss"))
        cookie = (b"set-cookie", header.encode("latin-1"))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), cookie]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
