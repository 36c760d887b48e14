"""The fronts (ASGI app, loopback server, in-process transport, control plane, fixture, CLI)
reach the emulator only through its public entry: ``Emulator.handle`` and ``Emulator.may_delay``."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_LICENSE_KEY,
    Disruption,
    Emulator,
    EmulatorRequest,
    Outcome,
)

_ROOT = Path(__file__).resolve().parents[2]
_PACKAGE = _ROOT / "irefer_async" / "testing"
_FRONTS = (
    "_asgi.py",
    "_server.py",
    "_transport.py",
    "_control.py",
    "_fixture.py",
    "plugin.py",
    "__main__.py",
)
_QUERY = f"campaign_id=2605&api_key={DEFAULT_API_KEY}".encode()


def _private_uses(source: str) -> list[str]:
    """``<something named *emulator*>._private`` attribute accesses in *source*."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__"):
            continue
        owner = node.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if "emulator" in name.lower():
            found.append(f"line {node.lineno}: {name}.{node.attr}")
    return found


def test_fronts_use_no_private_attribute_of_the_emulator() -> None:
    for front in _FRONTS:
        source = (_PACKAGE / front).read_text(encoding="utf-8")
        assert _private_uses(source) == [], front


def test_the_cli_and_benchmarks_use_no_private_attribute_of_the_emulator() -> None:
    users = [*(_ROOT / "irefer_async" / "cli").glob("*.py"), *(_ROOT / "benchmarks").glob("*.py")]
    for path in users:
        assert _private_uses(path.read_text(encoding="utf-8")) == [], path.name


def test_the_check_sees_a_private_access() -> None:
    assert _private_uses("emulator._faults\nself._emulator._handle(x)\nemulator.handle(x)") == [
        "line 1: emulator._faults",
        "line 2: _emulator._handle",
    ]


async def test_handle_answers_an_api_request() -> None:
    emulator = Emulator(seed=0)
    request = EmulatorRequest(
        "GET", f"/v1.0/{DEFAULT_LICENSE_KEY}.js/newSignup", _QUERY + b"&email=ann%40example.com"
    )
    outcome = await emulator.handle(request)
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.disruption) == (200, Disruption.NONE)
    assert b'"ann@example.com"' in outcome.body
    assert emulator.participant("ann@example.com") is not None
    assert emulator.journal[0].method == "newSignup"


async def test_handle_routes_the_control_plane_and_unknown_paths() -> None:
    emulator = Emulator(seed=0)
    views = await emulator.handle(EmulatorRequest("POST", "/_control/views", body=b'{"count": 3}'))
    assert (views.status, views.body) == (200, b'{"total_views": 3}')
    assert (await emulator.handle(EmulatorRequest("GET", "/elsewhere"))).status == 404


async def test_handle_reports_a_disruption_for_the_front_to_deliver() -> None:
    emulator = Emulator(seed=0)
    emulator.inject_fault("drop_after", method="newSignup")
    outcome = await emulator.handle(
        EmulatorRequest(
            "GET", f"/v1.0/{DEFAULT_LICENSE_KEY}.js/newSignup", _QUERY + b"&email=bob%40x.io"
        )
    )
    assert outcome.disruption is Disruption.DROP
    assert emulator.participant("bob@x.io") is not None  # applied, then the answer is lost


def test_may_delay_follows_the_scripted_faults() -> None:
    emulator = Emulator(seed=0)
    assert not emulator.may_delay
    emulator.inject_fault("latency")
    assert emulator.may_delay
    emulator.clear_faults()
    assert not emulator.may_delay


async def test_a_front_written_outside_the_package() -> None:
    """The entry is enough to write a front: a ten-line httpx transport over `handle`."""

    class Front(httpx.AsyncBaseTransport):
        def __init__(self, emulator: Emulator) -> None:
            self.emulator = emulator

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            outcome = await self.emulator.handle(
                EmulatorRequest(request.method, request.url.path, request.url.query)
            )
            return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body)

    emulator = Emulator(seed=0)
    async with emulator.client(transport=Front(emulator)) as client:
        await client.new_signup("ann@example.com")
        assert (await client.referrer_stats("ann@example.com")).email == "ann@example.com"
