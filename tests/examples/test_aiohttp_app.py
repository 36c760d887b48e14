"""examples/aiohttp_app.py: one client managed by cleanup_ctx, over a loopback server."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from irefer_async.testing import Emulator

pytest.importorskip("aiohttp")
from aiohttp.test_utils import TestClient, TestServer


async def test_signup_and_stats(load_example: Callable[[str], ModuleType]) -> None:
    example = load_example("aiohttp_app.py")
    emulator = Emulator()
    spec = emulator.default_campaign
    app = example.create_app(
        license_key=spec.license_key,
        api_key=spec.api_key,
        campaign_id=spec.id,
        transport=emulator.transport(),
        rate_limit=None,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        client = app[example.IREFER]
        created = await http.post("/signups", json={"email": "ann@example.com"})
        assert created.status == 201
        assert (await created.json())["referral_link"]
        stats = await http.get("/referrers/ann@example.com/stats")
        assert stats.status == 200
        assert (await stats.json())["referrals_made"] == 0
        assert (await http.get("/referrers/nobody@example.com/stats")).status == 404
        assert (await http.post("/signups", json={"email": ""})).status == 422
        assert (await http.post("/signups", json={"email": "ann@example.com"})).status == 409
        assert (await http.post("/signups", data=b"email=ann")).status == 400  # not JSON
        assert (await http.post("/signups", json=["ann@example.com"])).status == 400
        assert app[example.IREFER] is client  # the same client for every request
    assert client.is_closed  # cleanup_ctx closed it


def test_listens_on_loopback_only(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as a script, the app binds 127.0.0.1, not every interface."""
    from aiohttp import web

    seen: dict[str, object] = {}
    monkeypatch.setattr(web, "run_app", lambda app, **kw: seen.update(kw))
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "aiohttp_app.py"
    runpy.run_path(str(path), run_name="__main__")
    assert seen["host"] == "127.0.0.1"


def _documented_requests(doc: str) -> list[tuple[str, str, object, int, dict[str, object]]]:
    """The docstring's curl lines: method, path, JSON body, documented status and answer."""
    import json
    import re
    import shlex
    from itertools import pairwise
    from urllib.parse import urlsplit

    lines = [line.strip() for line in doc.splitlines()]
    requests = []
    for line, comment in pairwise(lines):
        if not line.startswith("curl "):
            continue
        args = shlex.split(line)[1:]
        body = json.loads(args[args.index("--json") + 1]) if "--json" in args else None
        (url,) = [a for a in args if a.startswith("http://")]
        assert urlsplit(url).netloc == "127.0.0.1:8080"  # where __main__ listens
        match = re.match(r"# (\d{3}) (\{.*?\})", comment)
        assert match, comment
        answer = json.loads(match.group(2).replace('"..."', "null"))
        requests.append(("POST" if body is not None else "GET", urlsplit(url).path, body,
                         int(match.group(1)), answer))  # fmt: skip
    return requests


async def test_the_docstrings_curl_lines_get_the_answers_it_shows(
    load_example: Callable[[str], ModuleType],
) -> None:
    """Each route the module docstring shows with curl answers as its comment says."""
    example = load_example("aiohttp_app.py")
    requests = _documented_requests(example.__doc__)
    assert {(method, path) for method, path, *_ in requests} == {
        ("POST", "/signups"),
        ("GET", "/referrers/ann@example.com/stats"),
    }
    emulator = Emulator()
    spec = emulator.default_campaign
    app = example.create_app(
        license_key=spec.license_key, api_key=spec.api_key, campaign_id=spec.id,
        transport=emulator.transport(), rate_limit=None,
    )  # fmt: skip
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        for method, path, body, status, answer in requests:
            response = await http.request(method, path, json=body)
            assert response.status == status, (method, path)
            got = await response.json()
            assert got.keys() == answer.keys()
            assert {k: v for k, v in got.items() if answer[k] is not None} == {
                k: v for k, v in answer.items() if v is not None
            }
