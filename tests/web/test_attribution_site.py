"""The example site without a browser (the default suite): landing, cookie, signup credited,
and the thank-you page's jQuery call carries no api key."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

from irefer_async.testing import DEFAULT_BASE_URL, Emulator

ROOT = Path(__file__).resolve().parents[2]


async def test_signup_credited_through_the_cookie(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    sys.path.insert(0, str(ROOT))
    from examples.attribution_site.app import create_app

    jquery = tmp_path / "jquery.min.js"
    jquery.write_text("/* jQuery stand-in */")
    emulator = Emulator(seed=0)
    spec = emulator.default_campaign
    ann = emulator.add_participant("ann@example.com")
    app = create_app(
        jquery=jquery,
        license_key=spec.license_key,
        api_key=spec.api_key,
        campaign_id=spec.id,
        base_url=DEFAULT_BASE_URL,
        rate_limit=None,
        transport=emulator.transport(),
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://site.test") as site,
    ):
        landing = await site.get("/", params={"iref": ann.code})
        assert f"Referral code kept: <b>{ann.code}</b>" in landing.text
        form = await site.get("/signup")  # no code in this URL: the cookie carries it
        assert f'<b id="code">{ann.code}</b>' in form.text
        thanks = await site.post(
            "/signup",
            content="email=bob%40example.com&name=Bob",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert '<b id="referrer">ann@example.com</b>' in thanks.text
        (api_url,) = re.findall(r"var api_url = \"([^\"]+)\"", thanks.text)
        assert "api_key" not in api_url and spec.api_key not in thanks.text
        assert api_url.endswith(f"referrerStats?email=bob%40example.com&campaign_id={spec.id}")
        assert (await site.get("/static/jquery.js")).text == "/* jQuery stand-in */"
    bob = emulator.participant("bob@example.com")
    assert bob is not None and bob.referrer is not None and bob.referrer.email == "ann@example.com"
