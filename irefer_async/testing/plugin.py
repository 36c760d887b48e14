"""pytest plugin: the ``irefer_emulator`` fixture (registered through the ``pytest11`` entry point).

Each test gets a fresh :class:`~irefer_async.testing.Emulator` seeded with the guide's campaign
2605 (no participants; rewards once at 1 and 5 referrals; a ``/dashboard`` action rule) and an
open ``IReferClient`` wired to it in-process, closed after the test::

    async def test_signup(irefer_emulator):
        await irefer_emulator.client.new_signup("ann@example.com")
        assert irefer_emulator.emulator.participant("ann@example.com") is not None

Configure it per test with the marker ``@pytest.mark.irefer_emulator(seed=1, clock=...,
campaigns=[...], profile="2019", **client_options)`` (the service profiles are "2018", the
default, "2019" and "drifted"). The fixture is async (pytest-asyncio) when pytest-asyncio is
installed; without it the client is not closed at teardown, which is harmless in-process.

This module imports nothing from ``irefer_async`` until the fixture runs, so a broken client
never stops pytest from loading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._fixture import EmulatorFixture

__all__ = ["irefer_emulator", "pytest_configure"]

_EMULATOR_OPTIONS = ("seed", "clock", "campaigns", "profile")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``irefer_emulator`` marker."""
    config.addinivalue_line(
        "markers",
        "irefer_emulator(seed=0, clock=None, campaigns=None, profile='2018', "
        "**client_options): configure the irefer_emulator fixture",
    )


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
