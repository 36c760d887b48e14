"""What the Redis tests need is installed: under CI a missing piece fails instead of skipping."""

from __future__ import annotations

import importlib.util
import os

import pytest
from redis_server import REDIS_SERVER

#: Every test here needs a redis-server (started by tests/redis/conftest.py).
pytestmark = pytest.mark.system


@pytest.mark.parametrize("module", ["redis", "taskiq"])
def test_python_package_is_installed(module: str) -> None:
    """The redis extra and the recipe's taskiq are importable."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing on CI: install the test dependencies")
        pytest.skip(f"{module} is not installed")


def test_redis_server_is_installed() -> None:
    """redis-server is on PATH (.ci/run installs Debian's redis-server)."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing on CI: .ci/run must install it")
        pytest.skip("redis-server is not installed")
