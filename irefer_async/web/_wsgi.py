"""Referral attribution as a WSGI middleware (Django, Flask, any WSGI app)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._core import SCOPE_KEY, Attribution

__all__ = ["WSGIReferralMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class WSGIReferralMiddleware:
    """Keep the referral code of ``?iref=CODE`` in a first-party cookie (WSGI).

    ```python
    # Flask
    app.wsgi_app = WSGIReferralMiddleware(app.wsgi_app)
    # Django (wsgi.py)
    application = WSGIReferralMiddleware(get_wsgi_application())
    ```

    The same behaviour as the ASGI `ReferralMiddleware`: the response to a request carrying
    a valid code sets the cookie (first touch unless ``last_touch=True``), and the request's
    code is left in ``environ["irefer.referral_code"]`` (Django's ``request.META``, Flask's
    ``request.environ``) for `referral_code`. Options: `Attribution`. Depends on no framework.
    """

    def __init__(
        self, app: WSGIApp, *, attribution: Attribution | None = None, **options: Any
    ) -> None:
        """Wrap ``app``; ``options`` are `Attribution`'s (or pass one as ``attribution``)."""
        self.app = app
        #: The settings in use.
        self.attribution = attribution if attribution is not None else Attribution(**options)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request."""
        attribution = self.attribution
        cookie_header = environ.get("HTTP_COOKIE")
        code, keep = attribution.resolve(
            environ.get("QUERY_STRING", ""), () if cookie_header is None else (cookie_header,)
        )
        environ[SCOPE_KEY] = code
        if keep is None:
            return self.app(environ, start_response)
        header = ("Set-Cookie", attribution.set_cookie(keep, https=_https(environ)))

        def start_with_cookie(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            return start_response(status, [*headers, header], exc_info)

        return self.app(environ, start_with_cookie)


def _https(environ: Environ) -> bool:
    return environ.get("wsgi.url_scheme") == "https"
