"""The read tools over an in-memory MCP session against the emulator."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import connect, seeded_emulator

from irefer_async.mcp import MAX_RESULT_BYTES, READ_TOOLS, WRITE_TOOLS


@pytest.fixture
async def emulator_client():
    emulator = seeded_emulator()
    async with emulator.client() as client:
        yield emulator, client


async def test_only_the_read_tools_are_listed_without_allow_writes(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        tools = (await session.list_tools()).tools
    assert [t.name for t in tools] == list(READ_TOOLS)
    for tool in tools:
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.idempotent_hint is True
        assert tool.output_schema is not None


async def test_allow_writes_adds_the_write_tools(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client, allow_writes=True) as session:
        names = [t.name for t in (await session.list_tools()).tools]
    assert names == [*READ_TOOLS, *WRITE_TOOLS]


CALLS = {
    "referrer_stats": {"email": "ann@example.com"},
    "campaign_stats": {},
    "top_referrers": {},
    "find_participants": {"query": "FRIEND"},
    "recent_rewards": {},
    "action_signups": {},
}


@pytest.mark.parametrize("tool", READ_TOOLS)
async def test_each_read_tool_answers_on_a_seeded_campaign(emulator_client, tool: str) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        result = await session.call_tool(tool, CALLS[tool])
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert len(result.content[0].text.encode()) <= MAX_RESULT_BYTES  # type: ignore[union-attr]


async def test_referrer_stats_and_campaign_stats_carry_the_numbers(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        ann = (
            await session.call_tool("referrer_stats", {"email": "ANN@example.com"})
        ).structured_content
        stats = (await session.call_tool("campaign_stats", {})).structured_content
    assert ann is not None and stats is not None
    assert ann["referrals_made"] == 6 and ann["referral_code"]
    assert stats["signups_total"] == 8 and stats["total_views"] == 42


async def test_top_referrers_ranks_by_referrals_then_by_newest(emulator_client) -> None:
    emulator, client = emulator_client
    emulator.add_participant(
        "carol@example.com", referrer_code=emulator.participant("bob@example.com").code
    )  # type: ignore[union-attr]
    async with connect(client) as session:
        top = (await session.call_tool("top_referrers", {"limit": 2})).structured_content
        newest = (
            await session.call_tool("top_referrers", {"limit": 1, "by": "newest"})
        ).structured_content
    assert top is not None and newest is not None
    assert [p["email"] for p in top["items"]] == ["ann@example.com", "bob@example.com"]
    assert [p["referrals"] for p in top["items"]] == [6, 1]
    assert top["scanned"] == 9
    assert [p["email"] for p in newest["items"]] == ["carol@example.com"]


async def test_find_participants_matches_email_or_name_in_any_case(emulator_client) -> None:
    emulator, client = emulator_client
    emulator.add_participant("zz@example.org", name="Annabel Lee")
    async with connect(client) as session:
        by_name = (
            await session.call_tool("find_participants", {"query": "aNNaBEL"})
        ).structured_content
        limited = (
            await session.call_tool("find_participants", {"query": "friend", "limit": 2})
        ).structured_content
    assert by_name is not None and limited is not None
    assert [p["email"] for p in by_name["items"]] == ["zz@example.org"]
    assert len(limited["items"]) == 2 and limited["more"] is True and limited["truncated"] is True
    assert "narrow the query" in limited["note"]


async def test_recent_rewards_newest_first_counted_and_filtered_by_since(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        recent = (await session.call_tool("recent_rewards", {"limit": 5})).structured_content
        future = (
            await session.call_tool("recent_rewards", {"since": "2999-01-01"})
        ).structured_content
        bad = await session.call_tool("recent_rewards", {"since": "last week"})
    assert recent is not None and future is not None
    total = len(await client.rewards())  # 30 seeded + Ann's own
    assert total > 5
    assert recent["matched"] == total and len(recent["items"]) == 5 and recent["truncated"] is True
    stamps = [r["triggered_at"] for r in recent["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert future["matched"] == 0 and future["items"] == []
    assert bad.is_error and "ISO 8601" in bad.content[0].text  # type: ignore[union-attr]


async def test_action_signups_filters_by_action_and_counts_each(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        everything = (await session.call_tool("action_signups", {"limit": 3})).structured_content
        assert everything is not None
        ((action, count),) = everything["by_action"].items()
        only = (await session.call_tool("action_signups", {"action": action})).structured_content
        none = (await session.call_tool("action_signups", {"action": "/nope"})).structured_content
    assert count == 25 and everything["matched"] == 25 and len(everything["items"]) == 3
    assert only is not None and only["matched"] == 25 and len(only["items"]) == 20
    assert none is not None and none["matched"] == 0


async def test_a_big_answer_is_cut_to_8_kb_and_says_how_to_get_more() -> None:
    emulator = seeded_emulator()
    for n in range(100):
        emulator.add_participant(f"long{n}@example.com", name="N" * 300)
    async with emulator.client() as client, connect(client) as session:
        result = await session.call_tool("find_participants", {"query": "long", "limit": 100})
    data = result.structured_content
    assert data is not None and not result.is_error
    assert len(result.content[0].text.encode()) <= MAX_RESULT_BYTES  # type: ignore[union-attr]
    assert len(json.dumps(data)) <= MAX_RESULT_BYTES
    assert data["truncated"] is True and 0 < len(data["items"]) < 100
    assert "smaller limit" in data["note"]
    assert all(len(p["name"]) <= 200 for p in data["items"])


async def test_an_unknown_email_is_a_tool_error_with_the_sdks_message(emulator_client) -> None:
    _, client = emulator_client
    async with connect(client) as session:
        result = await session.call_tool("referrer_stats", {"email": "nobody@example.com"})
        bad = await session.call_tool("referrer_stats", {"email": " padded@example.com"})
    assert result.is_error and "referrerStats" in result.content[0].text  # type: ignore[union-attr]
    assert bad.is_error and "leading or trailing whitespace" in bad.content[0].text  # type: ignore[union-attr]


async def test_limit_out_of_range_is_refused_before_any_request(emulator_client) -> None:
    emulator, client = emulator_client
    async with connect(client) as session:
        result = await session.call_tool("top_referrers", {"limit": 1000})
    assert result.is_error
    assert len(emulator.journal) == 0


@pytest.mark.parametrize(
    "tool", ["top_referrers", "find_participants", "recent_rewards", "action_signups"]
)
async def test_a_long_list_reports_progress_as_it_is_read(
    monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    from irefer_async.mcp import _summaries

    monkeypatch.setattr(_summaries, "PROGRESS_EVERY", 400)
    emulator = seeded_emulator()
    emulator.seed_participants(1000)
    emulator.seed_rewards(1000)
    emulator.seed_actions(1000)
    seen: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    args = {"query": "no-such-person"} if tool == "find_participants" else {}
    async with emulator.client() as client, connect(client) as session:
        result = await session.call_tool(tool, args, progress_callback=progress)
    assert not result.is_error
    assert seen == [(400, "400 rows read"), (800, "800 rows read")]
