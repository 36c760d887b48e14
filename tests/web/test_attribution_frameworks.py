"""Each framework's middleware end to end: the landing response keeps the code in the cookie,
and a later request (the signup) reads it back with `referral_code`."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from irefer_async.web import (
    ReferralMiddleware,
    WSGIReferralMiddleware,
    aiohttp_referral_middleware,
    referral_code,
)

CODE, OTHER = "7XYu.oRD", "jZA3MbP0"


def _fastapi_app(**options: Any) -> Any:
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()
    app.add_middleware(ReferralMiddleware, **options)

    async def page(request: Any) -> dict[str, str | None]:
        return {"code": referral_code(request), "scope": referral_code(request.scope)}

    page.__annotations__["request"] = fastapi.Request  # resolved here, not as a string
    app.get("/{page}")(page)
    return app


async def test_fastapi_first_touch() -> None:
    """The landing request sets the cookie and already sees its code; the next request reads
    it from the cookie; a later link does not replace it (first touch)."""
    transport = httpx.ASGITransport(app=_fastapi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as web:
        landing = await web.get("/home", params={"iref": CODE})
        assert landing.json() == {"code": CODE, "scope": CODE}
        cookie = landing.headers["set-cookie"]
        assert cookie.startswith(f"vsu_referrer_hash={CODE};")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        signup = await web.get("/signup")
        assert signup.json()["code"] == CODE
        later = await web.get("/home", params={"iref": OTHER})
        assert "set-cookie" not in later.headers
        assert later.json()["code"] == CODE


async def test_fastapi_last_touch_and_https() -> None:
    transport = httpx.ASGITransport(app=_fastapi_app(last_touch=True, param="ref"))
    async with httpx.AsyncClient(transport=transport, base_url="https://site.test") as web:
        await web.get("/home", params={"ref": CODE})
        later = await web.get("/home", params={"ref": OTHER})
        assert later.json()["code"] == OTHER
        assert "; Secure;" in later.headers["set-cookie"]
        assert (await web.get("/signup")).json()["code"] == OTHER


async def test_fastapi_invalid_code_ignored() -> None:
    transport = httpx.ASGITransport(app=_fastapi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://site.test") as web:
        response = await web.get("/home", params={"iref": "<script>alert(1)</script>"})
        assert "set-cookie" not in response.headers
        assert response.json()["code"] is None


async def test_asgi_passes_other_scopes_through() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    await ReferralMiddleware(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == [{"type": "lifespan"}]


def _wsgi_call(
    app: Any, path: str, query: str = "", cookie: str | None = None, https: bool = False
) -> tuple[list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query}
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    if https:
        environ["wsgi.url_scheme"] = "https"
        environ["HTTPS"] = "on"
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    captured: list[tuple[str, str]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.extend(headers)
        return lambda data: None

    body = b"".join(app(environ, start_response))
    return captured, body


def _set_cookie(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [value for name, value in headers if name.lower() == "set-cookie"]


def test_flask() -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)

    @app.route("/<page>")
    def page(page: str) -> str:
        return referral_code(flask.request) or "-"

    app.wsgi_app = WSGIReferralMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    headers, body = _wsgi_call(app, "/home", f"iref={CODE}", https=True)
    assert body == CODE.encode()
    (cookie,) = _set_cookie(headers)
    assert cookie.startswith(f"vsu_referrer_hash={CODE};") and "; Secure;" in cookie
    headers, body = _wsgi_call(app, "/signup", cookie=f"vsu_referrer_hash={CODE}")
    assert (body, _set_cookie(headers)) == (CODE.encode(), [])
    headers, body = _wsgi_call(app, "/home", f"iref={OTHER}", cookie=f"vsu_referrer_hash={CODE}")
    assert (body, _set_cookie(headers)) == (CODE.encode(), [])
    # The request's cookies alone (no middleware on this request): still read back.
    with app.test_request_context("/", headers={"Cookie": f"vsu_referrer_hash={OTHER}"}):
        assert referral_code(flask.request) == OTHER


def test_django() -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="test-only",
            MIDDLEWARE=[],
        )  # fmt: skip
        import django

        django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    headers, body = _wsgi_call(WSGIReferralMiddleware(WSGIHandler()), "/page", f"iref={CODE}")
    assert body == CODE.encode()
    assert _set_cookie(headers)[0].startswith(f"vsu_referrer_hash={CODE};")
    headers, body = _wsgi_call(
        WSGIReferralMiddleware(WSGIHandler()), "/page", cookie=f"vsu_referrer_hash={CODE}"
    )
    assert body == CODE.encode()
    request = RequestFactory().get("/", HTTP_COOKIE=f"vsu_referrer_hash={OTHER}")
    assert referral_code(request) == OTHER


def _django_view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(referral_code(request) or "-")


def __getattr__(name: str) -> Any:  # Django's ROOT_URLCONF, built only when Django is used
    if name == "urlpatterns":
        from django.urls import path

        return [path("page", _django_view)]
    raise AttributeError(name)


async def test_aiohttp() -> None:
    web = pytest.importorskip("aiohttp.web")
    from aiohttp.test_utils import TestClient, TestServer

    async def page(request: Any) -> Any:
        return web.Response(text=referral_code(request) or "-")

    async def landing(request: Any) -> Any:
        raise web.HTTPFound("/home")  # a landing page that redirects at once

    app = web.Application(middlewares=[aiohttp_referral_middleware()])
    app.router.add_get("/", landing)
    app.router.add_get("/{page}", page)
    async with TestClient(TestServer(app)) as client:
        landing = await client.get("/home", params={"iref": CODE})
        assert await landing.text() == CODE
        assert landing.headers["Set-Cookie"].startswith(f"vsu_referrer_hash={CODE};")
        signup = await client.get("/signup")  # the client's cookie jar sends it back
        assert await signup.text() == CODE
        later = await client.get("/home", params={"iref": OTHER})
        assert "Set-Cookie" not in later.headers
        assert await later.text() == CODE
        redirected = await client.get("/", params={"iref": OTHER}, allow_redirects=False)
        assert redirected.status == 302 and "Set-Cookie" not in redirected.headers  # first touch
        client.session.cookie_jar.clear()
        redirected = await client.get("/", params={"iref": OTHER}, allow_redirects=False)
        assert redirected.headers["Set-Cookie"].startswith(f"vsu_referrer_hash={OTHER};")
        bad = await client.get(
            "/x", params={"iref": "no"}, headers={"Cookie": "vsu_referrer_hash=zz"}
        )
        assert "Set-Cookie" not in bad.headers
