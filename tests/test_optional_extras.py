"""The core install works without any extra: star import, hasattr, and a clear error on use.

The ``core`` nox session runs this file (and the public-API tests) in a venv holding only the
core dependencies; it sets ``IREFER_CORE_ONLY=1`` so the first test proves the extras are absent.
Elsewhere the missing extras are simulated in a subprocess (``sys.modules[name] = None`` makes
``import name`` raise ``ImportError``, as an absent package does).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import pytest

#: The optional packages: the extras' (redis, orjson, aiohttp, click, rich, uvicorn).
EXTRAS = ("redis", "orjson", "aiohttp", "httpx_aiohttp", "click", "rich", "uvicorn")
DISTRIBUTIONS = ("redis", "orjson", "aiohttp", "httpx-aiohttp", "click", "rich", "uvicorn")
CORE_ONLY = os.environ.get("IREFER_CORE_ONLY") == "1"


def _run_without(modules: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter where importing any of *modules* fails."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not CORE_ONLY, reason="only in the core-only venv (nox -s core)")
def test_core_venv_really_has_no_extra() -> None:
    # Distributions, not find_spec: tests/redis/ would pass for a `redis` namespace package.
    present = []
    for name in DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        present.append(name)
    assert present == []


@pytest.mark.system
def test_star_import_without_redis() -> None:
    result = _run_without(
        ("redis",),
        """
        from irefer_async import *
        from irefer_async.redis import *
        print(IReferClient.__name__, RedisRateLimiter.__name__)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["IReferClient", "RedisRateLimiter"]


@pytest.mark.system
def test_hasattr_without_redis_does_not_raise() -> None:
    result = _run_without(
        ("redis",),
        """
        import irefer_async
        import irefer_async.redis
        assert hasattr(irefer_async.redis, "RedisRateLimiter")
        assert all(hasattr(irefer_async, name) for name in irefer_async.__all__)
        assert all(hasattr(irefer_async.redis, name) for name in irefer_async.redis.__all__)
        """,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.system
def test_using_redis_limiter_without_redis_names_the_extra() -> None:
    result = _run_without(
        ("redis",),
        """
        from irefer_async.redis import RedisRateLimiter
        try:
            RedisRateLimiter("redis://127.0.0.1:1", 5)
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "ImportError" in result.stdout
    assert "pip install 'irefer-async[redis]'" in result.stdout


@pytest.mark.system
def test_client_and_emulator_work_without_any_extra() -> None:
    result = _run_without(
        EXTRAS,
        """
        import asyncio
        from irefer_async import *
        from irefer_async.testing import Emulator

        async def main():
            async with Emulator().client() as client:
                signup = await client.new_signup("ann@example.com", name="Ann")
                assert (await client.referrer_stats("ann@example.com")).email == signup.email
            print("ok")

        asyncio.run(main())
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_redis_limiter_is_the_real_class_when_redis_is_installed() -> None:
    pytest.importorskip("redis.asyncio")  # not just "redis": tests/redis/ is importable as that
    import irefer_async.redis
    from irefer_async.redis._limiter import RedisRateLimiter

    assert irefer_async.redis.RedisRateLimiter is RedisRateLimiter
