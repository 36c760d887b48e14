"""``import irefer_async`` loads the core a client needs, nothing more (issue 21).

The endpoint table comes with the first client; write safety with the first write; the bulk
engine, list streams and the read cache with their first use; the result models and cattrs with
the first decode (or the first access to a model's name); tenacity with the first retry,
aiolimiter with the first rate limiter. Checked in a fresh interpreter (this one has loaded
them all).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_LAZY = (
    "irefer_async._write_safety",
    "irefer_async._settle",
    "irefer_async._match",
    "irefer_async._bulk",
    "irefer_async._stream",
    "irefer_async._cache",
    "irefer_async._models",
    "irefer_async._endpoints",
    "cattrs",
    "tenacity",
    "aiolimiter",
    "secrets",
)

_SCRIPT = f"""
import asyncio, sys, httpx
import irefer_async
lazy = {_LAZY!r}
print("import", sorted(m for m in lazy if m in sys.modules))

def answer(request):
    if request.url.path.endswith("newSignup"):
        return httpx.Response(200, json={{"campaign_name": "C", "email": "ann@example.com",
            "confirmed": "0", "referral_link": "https://example.com/?ref=abc"}})
    return httpx.Response(200, json={{"campaign_name": "C", "email": "ann@example.com",
        "confirmed": "1", "referral_link": "https://example.com/?ref=abc", "referrals_made": 0,
        "rewards_earned": [], "rewards_offered": []}})

async def main():
    async with irefer_async.IReferClient("W4qL" + "a" * 28, "key", campaign_id=1,
            rate_limit=None, transport=httpx.MockTransport(answer)) as client:
        print("client", "irefer_async._models" in sys.modules,
              "irefer_async._endpoints" in sys.modules)
        stats = await client.referrer_stats("ann@example.com")
        print("read", "irefer_async._write_safety" in sys.modules)
        print("decoded", "irefer_async._models" in sys.modules, type(stats).__name__)
        await client.new_signup("ann@example.com")
        print("write", "irefer_async._write_safety" in sys.modules)
    return stats

stats = asyncio.run(main())
print("names", irefer_async.ReferrerStats is type(stats), "ReferrerStats" in dir(irefer_async))
"""


@pytest.mark.system
def test_the_import_loads_no_lazy_module_and_the_first_write_loads_write_safety() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == [
        "import []",
        "client False True",
        "read False",
        "decoded True ReferrerStats",
        "write True",
        "names True True",
    ], out


_NAMES = """
import sys
import irefer_async
assert "irefer_async._models" not in sys.modules
from irefer_async import Referrer, LeadSource
print("name", "irefer_async._models" in sys.modules, Referrer.__module__, LeadSource.__name__)
"""


@pytest.mark.system
def test_a_models_name_imported_from_the_package_loads_the_models() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NAMES], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["name True irefer_async._models LeadSource"], out
