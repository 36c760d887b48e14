"""The tools against a raw-asyncio server that misbehaves (not only the emulator)."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import connect
from _raw_server import raw_server

from irefer_async import IReferClient, RetryConfig

RETRY = RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.05)


def client_for(url: str) -> IReferClient:
    return IReferClient(
        "W4qL" + "r" * 28, "raw-api-key", campaign_id=2145, base_url=url, retry=RETRY,
        rate_limit=None,
    )  # fmt: skip


async def test_a_lost_answer_lands_once_and_the_agents_retry_is_answered_from_the_record() -> None:
    async with (
        raw_server("lost_answer") as server,
        client_for(server.url) as client,
        connect(client, allow_writes=True, confirm=False) as session,
    ):
        first = await session.call_tool("new_signup", {"email": "zed@example.com"})
        retries = [
            await session.call_tool("new_signup", {"email": "zed@example.com"}) for _ in range(3)
        ]
    assert not first.is_error, first.content
    assert first.structured_content["reconciled"] is True  # type: ignore[index]
    assert all(r.structured_content["replayed"] for r in retries)  # type: ignore[index]
    assert server.calls["newSignup"] == 1


async def test_a_list_cut_short_is_a_tool_error_never_a_partial_ranking() -> None:
    async with (
        raw_server("cut_list") as server,
        client_for(server.url) as client,
        connect(client) as session,
    ):
        result = await session.call_tool("top_referrers", {})
    assert result.is_error
    assert "referrers: the list broke after" in result.content[0].text  # type: ignore[union-attr]
    assert server.calls["referrers"] == 1  # never restarted silently
