"""pytest plugin: the ``irefer_emulator`` fixture (registered through the ``pytest11`` entry point).

Each test gets a fresh `Emulator` seeded with the guide's campaign
2605 (no participants; rewards once at 1 and 5 referrals; a ``/dashboard`` action rule) and an
open ``IReferClient`` wired to it in-process, closed after the test:

```python
async def test_signup(irefer_emulator):
    await irefer_emulator.client.new_signup("ann@example.com")
    assert irefer_emulator.emulator.participant("ann@example.com") is not None
```

Configure it per test with the marker ``@pytest.mark.irefer_emulator(seed=1, clock=...,
campaigns=[...], profile="2019", **client_options)`` (the service profiles are "2018", the
default, "2019" and "drifted"). The fixture is async (pytest-asyncio) when pytest-asyncio is
installed; without it the client is not closed at teardown, which is harmless in-process.

Run a whole suite's emulator clients on the httpx2 stack with ``pytest --irefer-http-stack=httpx2``
(or ``IREFER_EMULATOR_HTTP_STACK=httpx2``): every ``Emulator.client()``, the fixture's included,
then talks through an ``httpx2.AsyncClient`` and the emulator's httpx2 in-process transport.

This module imports nothing from ``irefer_async`` until the fixture runs, so a broken client
never stops pytest from loading.

An ``async def`` test that requests ``irefer_emulator`` is marked ``@pytest.mark.asyncio``
by the plugin, so the examples run as written under pytest-asyncio's default *strict* mode
as well as in ``asyncio_mode = "auto"``; your other async tests still need the marker (or
the auto mode).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._fixture import EmulatorFixture

__all__ = ["irefer_emulator", "pytest_addoption", "pytest_configure"]

_EMULATOR_OPTIONS = ("seed", "clock", "campaigns", "profile")
# Read by Emulator.client() (irefer_async.testing._emulator.HTTP_STACK_VARIABLE).
_STACK_VARIABLE = "IREFER_EMULATOR_HTTP_STACK"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--irefer-http-stack``: the HTTP stack of every emulator client."""
    parser.getgroup("irefer").addoption(
        "--irefer-http-stack",
        choices=("httpx", "httpx2"),
        default=None,
        help="HTTP stack for Emulator.client() and the irefer_emulator fixture "
        f"(default: ${_STACK_VARIABLE}, else httpx)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``irefer_emulator`` marker."""
    config.addinivalue_line(
        "markers",
        "irefer_emulator(seed=0, clock=None, campaigns=None, profile='2018', "
        "**client_options): configure the irefer_emulator fixture",
    )
    stack = config.getoption("--irefer-http-stack", default=None)
    if stack:
        os.environ[_STACK_VARIABLE] = stack


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, None]:
    """Mark ``async def`` tests that use ``irefer_emulator`` as asyncio tests.

    This wrapper runs inside pytest-asyncio's (``trylast``), so the marker is there when
    pytest-asyncio decides, in strict mode, which coroutine tests it runs.
    """
    outcome = yield
    if not inspect.iscoroutinefunction(obj):
        return
    items = outcome.get_result()
    for item in items if isinstance(items, list) else [items]:
        if (
            isinstance(item, pytest.Function)
            and "irefer_emulator" in item.fixturenames
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker("asyncio")


def _build(request: pytest.FixtureRequest) -> EmulatorFixture:
    # Lazily, so a broken client never stops pytest from loading this plugin.
    from irefer_async.testing import Emulator, EmulatorFixture  # noqa: PLC0415

    marker = request.node.get_closest_marker("irefer_emulator")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    emulator_options = {k: options.pop(k) for k in _EMULATOR_OPTIONS if k in options}
    if emulator_options.get("campaigns") is None:
        emulator_options.pop("campaigns", None)
    return EmulatorFixture(Emulator(**emulator_options), **options)


async def _irefer_emulator(request: pytest.FixtureRequest) -> AsyncIterator[EmulatorFixture]:
    """Yield a fresh iRefer emulator with an in-process client (see the module docstring)."""
    fixture = _build(request)
    try:
        yield fixture
    finally:
        await fixture.aclose()


def _irefer_emulator_sync(request: pytest.FixtureRequest) -> EmulatorFixture:
    """Return a fresh iRefer emulator with an in-process client (see the module docstring)."""
    return _build(request)


irefer_emulator: Any
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    irefer_emulator = pytest.fixture(_irefer_emulator_sync, name="irefer_emulator")
else:
    irefer_emulator = pytest_asyncio.fixture(_irefer_emulator, name="irefer_emulator")
