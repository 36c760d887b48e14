"""End to end: `irefer mcp` as a subprocess over stdio (and streamable HTTP), driven by the MCP SDK's client, aimed at
a served emulator by the environment alone (the lines `irefer emulator` prints)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import sys
from pathlib import Path

import attrs
import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import Asker, key_fragments, leaks
from mcp import Client, StdioServerParameters

from irefer_async.mcp import READ_TOOLS, WRITE_TOOLS
from irefer_async.testing import DEFAULT_CAMPAIGN, Emulator, WriteEffect
from irefer_async.testing.__main__ import seed_demo

pytestmark = pytest.mark.system

LICENSE = "W4qLs7YtE3kP9wQz1XcV5bN8mJ2hG6fD"
API_KEY = "sys-api-Rk4Wq9Zt7Lm2"
CALLS = {
    "referrer_stats": {"email": "ann@example.com"},
    "campaign_stats": {},
    "top_referrers": {"limit": 3},
    "find_participants": {"query": "friend"},
    "recent_rewards": {},
    "action_signups": {},
}


def irefer_mcp(url: str, stderr: Path, *options: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}
    env.update(
        IREFER_BASE_URL=url,
        IREFER_CAMPAIGN_ID=str(DEFAULT_CAMPAIGN.id),
        IREFER_LICENSE_KEY=LICENSE,
        IREFER_API_KEY=API_KEY,
    )
    command = shlex.join([sys.executable, "-m", "irefer_async.cli", "mcp", *options])
    return StdioServerParameters(
        command="/bin/sh", args=["-c", f"exec {command} 2>>{shlex.quote(str(stderr))}"], env=env
    )


async def test_irefer_mcp_over_stdio_reads_and_writes_once(tmp_path: Path) -> None:
    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=LICENSE, api_key=API_KEY)
    emulator = Emulator(seed=0, campaigns=[spec])
    seed_demo(emulator)
    emulator.seed_rewards(10)
    emulator.seed_actions(10)
    stderr = tmp_path / "stderr.txt"
    seen: list[str] = []
    async with emulator.serve() as url:
        async with Client(irefer_mcp(url, stderr)) as session:
            listed = [t.name for t in (await session.list_tools()).tools]
            for name, args in CALLS.items():
                result = await session.call_tool(name, args)
                assert not result.is_error, (name, result.content)
                seen.append(result.content[0].text)  # type: ignore[union-attr]
        assert listed == list(READ_TOOLS)

        asker = Asker()
        async with Client(
            irefer_mcp(url, stderr, "--allow-writes"), elicitation_callback=asker
        ) as session:
            assert [t.name for t in (await session.list_tools()).tools] == [
                *READ_TOOLS,
                *WRITE_TOOLS,
            ]
            before = len(emulator.journal)
            dry = await session.call_tool(
                "new_signup", {"email": "zed@example.com", "dry_run": True}
            )
            assert len(emulator.journal) == before  # the dry run sent nothing
            tries = [
                await session.call_tool("new_signup", {"email": "zed@example.com"})
                for _ in range(4)
            ]
            seen += [dry.content[0].text] + [r.content[0].text for r in tries]  # type: ignore[union-attr]
    assert [r.is_error for r in tries] == [False] * 4
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 1
    assert sum(1 for e in emulator.journal if e.method == "newSignup") == 1
    assert len(asker.questions) == 1
    written = stderr.read_text(encoding="utf-8") if stderr.exists() else ""
    assert leaks("\n".join([*seen, written]), key_fragments(LICENSE, API_KEY)) == []
    assert "zed@example.com" not in written and "ann@example.com" not in written


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_irefer_mcp_over_streamable_http_on_loopback(tmp_path: Path) -> None:
    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=LICENSE, api_key=API_KEY)
    emulator = Emulator(seed=0, campaigns=[spec])
    seed_demo(emulator)
    port = free_port()
    async with emulator.serve() as url:
        params = irefer_mcp(url, tmp_path / "stderr.txt", "--http", str(port))
        process = await asyncio.create_subprocess_exec(params.command, *params.args, env=params.env)
        try:
            for _ in range(300):  # until it listens (startup imports take seconds on a busy box)
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                else:
                    writer.close()
                    break
            async with Client(f"http://127.0.0.1:{port}/mcp") as session:
                listed = [t.name for t in (await session.list_tools()).tools]
                stats = await session.call_tool("campaign_stats", {})
        finally:
            process.terminate()
            await process.wait()
    assert listed == list(READ_TOOLS)
    assert stats.structured_content is not None and stats.structured_content["signups_total"] == 8


async def test_run_server_in_process_serves_http_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from irefer_async.mcp import run_server

    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=LICENSE, api_key=API_KEY)
    emulator = Emulator(seed=0, campaigns=[spec])
    seed_demo(emulator)
    port = free_port()
    async with emulator.serve() as url:
        for name, value in (("IREFER_BASE_URL", url), ("IREFER_CAMPAIGN_ID", str(spec.id)),
                            ("IREFER_LICENSE_KEY", LICENSE), ("IREFER_API_KEY", API_KEY)):  # fmt: skip
            monkeypatch.setenv(name, value)
        task = asyncio.create_task(run_server(http=("127.0.0.1", port), allow_writes=True))
        try:
            for _ in range(300):
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                else:
                    writer.close()
                    break
            async with Client(f"http://127.0.0.1:{port}/mcp") as session:
                listed = [t.name for t in (await session.list_tools()).tools]
                dry = await session.call_tool(
                    "new_signup", {"email": "zed@example.com", "dry_run": True}
                )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert listed == [*READ_TOOLS, *WRITE_TOOLS]
    assert dry.structured_content["would_send"]["url"].startswith(url)  # type: ignore[index]
    assert len(emulator.journal) == 0
