"""A referral landing page and signup form on FastAPI, crediting the referrer via the cookie.

* ``/?iref=CODE``: the landing page a referral link points to. `ReferralMiddleware` keeps
  ``CODE`` in the ``vsu_referrer_hash`` cookie (first touch).
* ``/signup``: the form; its POST calls ``new_signup(..., referrer_code=referral_code(request))``
  server side (with the api key), then shows the thank-you page.
* The thank-you page runs the guide's jQuery snippet ("Calling iRefer APIs with jQuery"): a
  ``$.get`` of ``referrerStats`` *without* an api key (the client-side mode: iRefer verifies
  the page's host) and shows the new participant's ``referral_link``.

Run it against the emulator (``irefer emulator`` prints its base URL) or the real service::

    export IREFER_LICENSE_KEY=W4qL... IREFER_API_KEY=... IREFER_CAMPAIGN_ID=2605
    export JQUERY_JS=/path/to/jquery.min.js       # npm pack jquery; tar xzf jquery-*.tgz
    uvicorn examples.attribution_site.app:app

jQuery is served from a file (``JQUERY_JS``), not from a CDN: nothing leaves the machine.
The thank-you page carries the license key (part of the API's URL, as in the guide's
snippet); the api key stays on the server.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from irefer_async import IReferClient, IReferError
from irefer_async.web import ReferralMiddleware, referral_code

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px sans-serif;margin:2em}} .note{{color:#555}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""

_LANDING = """<p>A friend invited you. Join and you both get a reward.</p>
<p class="note" id="referred-by">Referral code kept: <b>{code}</b></p>
<p><a id="join" href="/signup">Join now</a></p>"""

_FORM = """<form method="post" action="/signup">
<label>Email <input name="email" type="email" required></label>
<label>Name <input name="name"></label>
<button type="submit">Sign up</button></form>
<p class="note">Referred by code: <b id="code">{code}</b></p>"""

# The guide's snippet, with the page's values filled in and the answer shown on the page
# instead of alert() boxes.
_THANKS = """<p>Welcome, <b id="email">{email}</b>! Credited to: <b id="referrer">{referrer}</b></p>
<p>Your referral link: <a id="referral-link" href="#">(loading...)</a></p>
<p class="note">Referrals made: <span id="referrals-made"></span></p>
<script src="/static/jquery.js"></script>
<script type="text/javascript">
var api_url = {api_url};
$.get(api_url, function (json_result) {{
    if (json_result.error) {{
        $("#referral-link").text("error = " + json_result.error);
    }} else {{
        $("#referral-link").text(json_result.referral_link).attr("href", json_result.referral_link);
        $("#referrals-made").text(json_result.referrals_made);
    }}
}}).fail(function (xhr) {{
    $("#referral-link").text("request failed: " + xhr.status);
}});
</script>"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body))


def create_app(
    *,
    jquery: Path,
    license_key: str | None = None,
    api_key: str | None = None,
    campaign_id: int | str | None = None,
    base_url: str | None = None,
    **client_options: Any,
) -> FastAPI:
    """Build the site: one `IReferClient` for its lifetime, the attribution middleware.

    ``base_url`` is also where the browser's jQuery call goes (the client-side mode).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with IReferClient(
            license_key, api_key, campaign_id=campaign_id, base_url=base_url, **client_options
        ) as client:
            app.state.irefer = client
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(ReferralMiddleware)
    public_key = license_key or os.environ.get("IREFER_LICENSE_KEY", "")
    api_root = base_url or os.environ.get("IREFER_BASE_URL", "https://api.irefer.io/v1.0/")

    @app.get("/")
    async def landing(request: Request) -> Response:
        code = referral_code(request)
        return _page("Welcome", _LANDING.format(code=html.escape(code or "none")))

    @app.get("/signup")
    async def form(request: Request) -> Response:
        code = referral_code(request)
        return _page("Sign up", _FORM.format(code=html.escape(code or "none")))

    @app.post("/signup")
    async def signup(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8"))
        email = fields.get("email", [""])[0]
        client: IReferClient = request.app.state.irefer
        try:
            signup = await client.new_signup(
                email,
                name=fields.get("name", [""])[0] or None,
                referrer_code=referral_code(request),
            )
        except IReferError as exc:
            return _page("Sign up failed", f"<p id='error'>{html.escape(str(exc))}</p>")
        # The browser's call: no api key (the guide's client-side mode).
        api_url = (
            f"{api_root}{public_key}.js/referrerStats?email={quote(signup.email)}"
            f"&campaign_id={client.campaign_id}"
        )
        body = _THANKS.format(
            email=html.escape(signup.email),
            referrer=html.escape(signup.referrer or "nobody"),
            api_url=json.dumps(api_url),
        )
        return _page("Thank you", body)

    @app.get("/static/jquery.js")
    async def jquery_js() -> Response:
        return FileResponse(jquery, media_type="text/javascript")

    return app


def _from_environment() -> FastAPI:
    return create_app(jquery=Path(os.environ.get("JQUERY_JS", "jquery.min.js")))


def __getattr__(name: str) -> Any:  # `uvicorn examples.attribution_site.app:app`
    if name == "app":
        return _from_environment()
    raise AttributeError(name)
