"""Fixtures for the emulator's own tests: a frozen-clock emulator and a raw httpx client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_LICENSE_KEY,
    Emulator,
    FrozenClock,
)

# The fixture under test, usable here even when the package's entry point is not installed.
from irefer_async.testing.plugin import irefer_emulator  # noqa: F401
from irefer_async.testing.plugin import pytest_configure as _register_marker


def pytest_configure(config: pytest.Config) -> None:
    _register_marker(config)


BASE = f"http://irefer.test/v1.0/{DEFAULT_LICENSE_KEY}.js/"


class Raw:
    """Calls the emulator over httpx with the default campaign's credentials."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, method: str, **params: Any) -> httpx.Response:
        query = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY, **params}
        query = {k: v for k, v in query.items() if v is not None}
        return await self.http.get(method, params=query)

    async def json(self, method: str, **params: Any) -> Any:
        response = await self.get(method, **params)
        assert response.status_code == 200
        return response.json()


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
