"""``import irefer_async`` loads the core a client needs, nothing more (issue 21).

Write safety comes with the first write, the bulk engine, list streams and the read cache with
their first use, cattrs with the first decode, tenacity with the first retry, aiolimiter with
the first rate limiter. Checked in a fresh interpreter (this one has loaded them all).
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
        await client.referrer_stats("ann@example.com")
        print("read", "irefer_async._write_safety" in sys.modules)
        await client.new_signup("ann@example.com")
        print("write", "irefer_async._write_safety" in sys.modules)

asyncio.run(main())
"""


@pytest.mark.system
def test_the_import_loads_no_lazy_module_and_the_first_write_loads_write_safety() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["import []", "read False", "write True"], out
