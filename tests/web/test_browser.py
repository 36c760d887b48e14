"""A real browser end to end: headless Chromium on the example site and the emulator.

The browser opens ``/?iref=CODE`` (the middleware keeps CODE in the ``vsu_referrer_hash``
cookie), then signs up on ``/signup``; the site's server-side ``new_signup`` passes the code
from the cookie and the emulator credits CODE's referrer. The thank-you page runs the guide's
jQuery snippet (``$.get`` of referrerStats, no api key) against the emulator in client-side
mode and shows the ``referral_link``. Screenshots of both pages are kept in
``$IREFER_BROWSER_ARTIFACTS`` (default ``tests/artifacts/browser``, ignored by git).

Needs Chromium (``apt-get install chromium``) and jQuery (``$JQUERY_JS``, a ``jquery.min.js``
from ``npm pack jquery``): ``nox -s browser`` prepares both; otherwise the test is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from irefer_async.testing import Emulator, WriteEffect

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout"),
]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(
    os.environ.get("IREFER_BROWSER_ARTIFACTS", ROOT / "tests" / "artifacts" / "browser")
)


def _requirements() -> tuple[str, Path]:
    """Chromium and jQuery, or a clean skip (a failure under ``nox -s browser``, which sets
    ``IREFER_BROWSER_REQUIRED``: CI must not pass by skipping)."""
    from _cdp import find_chromium

    missing = pytest.fail if os.environ.get("IREFER_BROWSER_REQUIRED") else pytest.skip
    binary = find_chromium()
    if binary is None:
        missing("chromium is not installed (apt-get install -y chromium)")
    jquery = os.environ.get("JQUERY_JS")
    if not jquery or not Path(jquery).is_file():
        missing("no jQuery: set JQUERY_JS to a jquery.min.js (nox -s browser does)")
    assert binary is not None and jquery is not None
    return binary, Path(jquery)


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port); yield its URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        (socket,) = [s for srv in server.servers for s in srv.sockets]
        host, port = socket.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


async def test_referral_credited_through_the_cookie_and_jquery_answers(tmp_path: Path) -> None:
    binary, jquery = _requirements()
    from _cdp import chromium

    sys.path.insert(0, str(ROOT))
    from examples.attribution_site.app import create_app

    emulator = Emulator(seed=0)
    spec = emulator.default_campaign
    ann = emulator.add_participant("ann@example.com", name="Ann")
    async with emulator.serve() as api:
        app = create_app(
            jquery=jquery,
            license_key=spec.license_key,
            api_key=spec.api_key,
            campaign_id=spec.id,
            base_url=api,
            rate_limit=None,
        )
        async with _serve(app) as site:
            emulator.allow_client_side(site.removeprefix("http://"))
            async with chromium(binary, tmp_path / "profile") as browser:
                page = await browser.new_page()
                # 1. The landing page of ann's referral link: the code goes into the cookie.
                await page.goto(f"{site}/?iref={ann.code}")
                assert await page.evaluate("document.getElementById('referred-by').innerText") == (
                    f"Referral code kept: {ann.code}"
                )
                await page.screenshot(ARTIFACTS / "landing.png")
                (cookie,) = [
                    c for c in await page.cookies(site) if c["name"] == "vsu_referrer_hash"
                ]
                assert (cookie["value"], cookie["httpOnly"], cookie["sameSite"]) == (
                    ann.code,
                    True,
                    "Lax",
                )
                # 2. Another page, a real form submission: the browser sends the cookie.
                await page.goto(f"{site}/signup")
                await page.evaluate(
                    "document.querySelector('input[name=email]').value = 'bob@example.com';"
                    "document.querySelector('input[name=name]').value = 'Bob';"
                    "document.querySelector('button[type=submit]').click()"
                )
                await page.wait_for("document.getElementById('referrer') !== null")
                assert (
                    await page.evaluate("document.getElementById('referrer').innerText")
                    == "ann@example.com"
                )
                # 3. The guide's jQuery snippet, no api key, answered in client-side mode.
                link = await page.wait_for(
                    "(t => t.startsWith('http') && t)(document.getElementById('referral-link').innerText)"
                )
                await page.screenshot(ARTIFACTS / "signup.png")
    bob = emulator.participant("bob@example.com")
    assert bob is not None and bob.referrer is not None and bob.referrer.email == "ann@example.com"
    assert link == f"{spec.landing_url}?iref={bob.code}"
    stats_calls = emulator.journal.entries("referrerStats")
    assert [(e.api_key, e.params["email"], e.status) for e in stats_calls] == [
        (None, "bob@example.com", 200)
    ]
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 1
    assert (ARTIFACTS / "landing.png").stat().st_size > 1000
    assert (ARTIFACTS / "signup.png").stat().st_size > 1000
