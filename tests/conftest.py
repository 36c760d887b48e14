"""Shared fixtures: a respx router on the API's base URL and a client over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import respx
from helpers import BASE, VirtualTimeLoop, make_client
from hypothesis import HealthCheck, settings

from irefer_async import IReferClient, RetryConfig

# Property tests: a loaded CI machine must not fail them for being slow (no deadline, no
# too-slow health check: that is not what they pin); a failure prints the blob that replays it.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Any:
    """Run a test marked ``virtual_time`` on `helpers.VirtualTimeLoop` (pytest-asyncio 1.4+).

    Its clock jumps to the next timer whenever nothing else can run, so sleeps, retries,
    rate limits and deadlines take no real time and land on exact instants. Other tests get
    the loop pytest-asyncio would make anyway (the hook must name a factory for every test).
    """
    if item.get_closest_marker("virtual_time") is None:
        return {"asyncio": asyncio.new_event_loop}
    return {"virtual_time": VirtualTimeLoop}


@pytest.fixture
def mock() -> Any:
    """respx router for the API base URL: a request no route matches fails the test.

    Routes need not all be hit: a test registers a catch-all route and asserts
    `route.call_count == 0` to prove a bad call sent nothing. Pinned by tests/test_mock_fixture.py.
    """
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client(mock: respx.MockRouter) -> AsyncIterator[IReferClient]:
    """An open client (no rate limit, retries without waiting) over the respx mock."""
    c = make_client(retry=RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0))
    async with c:
        yield c
