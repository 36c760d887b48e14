"""Fixtures of the sync client's tests: an emulator, and a driver per client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _sync_support import AsyncDriver, Driver, SyncDriver

from irefer_async.testing import Emulator


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=0)


@pytest.fixture(params=["async", "sync"])
def driver(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Driver]:
    """The same case through the async client, then the sync one."""
    made: Driver = AsyncDriver(emulator) if request.param == "async" else SyncDriver(emulator)
    try:
        yield made
    finally:
        made.dispose()
