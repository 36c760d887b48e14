"""How deep the SDK is when the transport is called: the request loop stays readable.

Counted with an ``httpx.MockTransport`` handler that inspects the stack: every frame whose file
is inside the ``irefer_async`` package. One ``new_signup`` at most 8 SDK frames deep, one read
at most 6 (issue 21: 14 and 11 before the single request loop).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import httpx
import samples
from helpers import make_client

import irefer_async

_PACKAGE = os.path.dirname(irefer_async.__file__) + os.sep


def _depth_counter(body: Any) -> tuple[list[int], httpx.MockTransport]:
    depths: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        frames = inspect.stack(0)
        depths.append(sum(1 for f in frames if f.filename.startswith(_PACKAGE)))
        return httpx.Response(200, json=body)

    return depths, httpx.MockTransport(handler)


async def test_a_signup_is_at_most_8_sdk_frames_deep() -> None:
    depths, transport = _depth_counter(samples.NEW_SIGNUP)
    async with make_client(transport=transport) as client:
        await client.new_signup("ann@example.com")
    assert depths and max(depths) <= 8, depths


async def test_a_read_is_at_most_6_sdk_frames_deep() -> None:
    depths, transport = _depth_counter(samples.REFERRER_STATS)
    async with make_client(transport=transport) as client:
        await client.referrer_stats("ann@example.com")
    assert depths and max(depths) <= 6, depths
