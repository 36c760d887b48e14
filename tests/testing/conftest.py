"""Fixtures for the emulator's own tests: a frozen-clock emulator and a raw httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from _emulator_helpers import BASE, Raw

from irefer_async.testing import Emulator, FrozenClock

# The fixture under test, usable here even when the package's entry point is not installed.
from irefer_async.testing.plugin import irefer_emulator  # noqa: F401
from irefer_async.testing.plugin import pytest_configure as _register_marker


def pytest_configure(config: pytest.Config) -> None:
    _register_marker(config)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def emulator(clock: FrozenClock) -> Emulator:
    return Emulator(seed=0, clock=clock)


@pytest.fixture
async def raw(emulator: Emulator) -> AsyncIterator[Raw]:
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=BASE) as http:
        yield Raw(http)
