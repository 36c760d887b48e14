"""The tool list, pinned: names, annotations and schemas change only on purpose.

After a deliberate change, regenerate with ``IREFER_UPDATE_SNAPSHOT=1 pytest tests/mcp`` and
review the diff of ``tools_snapshot.json``.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import connect, seeded_emulator

SNAPSHOT = Path(__file__).with_name("tools_snapshot.json")


async def test_tool_names_annotations_and_schemas_match_the_snapshot() -> None:
    emulator = seeded_emulator()
    async with emulator.client() as client, connect(client, allow_writes=True) as session:
        tools = (await session.list_tools()).tools
    listed = [
        tool.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            include={
                "name",
                "title",
                "description",
                "annotations",
                "input_schema",
                "output_schema",
            },
        )
        for tool in tools
    ]
    text = json.dumps(listed, indent=2, sort_keys=True) + "\n"
    if os.environ.get("IREFER_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert _dedented(json.loads(SNAPSHOT.read_text(encoding="utf-8"))) == _dedented(
        json.loads(text)
    )


def _dedented(tools: list[dict[str, object]]) -> list[dict[str, object]]:
    """Descriptions compared as cleaned docstrings (Python 3.13 dedents docstrings itself)."""
    return [
        {**t, "description": inspect.cleandoc(str(t["description"]))} if "description" in t else t
        for t in tools
    ]
