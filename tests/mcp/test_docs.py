"""docs/mcp.md: its client configurations parse and start `irefer mcp`; its tables and code
match the server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("mcp.server.mcpserver")

from irefer_async.cli import cli
from irefer_async.mcp import READ_TOOLS, WRITE_TOOLS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"
ENV = {"IREFER_LICENSE_KEY", "IREFER_API_KEY", "IREFER_CAMPAIGN_ID", "IREFER_BASE_URL"}


def blocks(language: str) -> dict[str, list[str]]:
    """Code blocks of ``language`` by the ``###`` heading they sit under."""
    found: dict[str, list[str]] = {}
    heading = ""
    block: list[str] | None = None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if block is not None:
            if line == "```":
                found.setdefault(heading, []).append("\n".join(block) + "\n")
                block = None
            else:
                block.append(line)
        elif line.startswith("### "):
            heading = line[4:].strip()
        elif line == f"```{language}":
            block = []
    return found


def test_the_page_is_in_the_mkdocs_nav() -> None:
    assert "mcp.md" in (PAGE.parents[1] / "mkdocs.yml").read_text(encoding="utf-8")


def test_the_tool_tables_name_every_tool_and_only_those() -> None:
    named = re.findall(r"^\| `(\w+)\(", PAGE.read_text(encoding="utf-8"), flags=re.M)
    assert named == [*READ_TOOLS, *WRITE_TOOLS]


@pytest.mark.parametrize(
    ("client", "root"),
    [("Claude Desktop", "mcpServers"), ("VS Code", "servers"), ("Cursor", "mcpServers")],
)
def test_each_client_configuration_parses_and_starts_irefer_mcp(client: str, root: str) -> None:
    (config,) = blocks("json")[client]
    server = json.loads(config)[root]["irefer"]
    assert server["command"] == "irefer"
    assert server["args"][0] == "mcp"
    cli.commands["mcp"].make_context("mcp", server["args"][1:])  # options the command knows
    assert set(server["env"]) <= ENV and {"IREFER_LICENSE_KEY", "IREFER_API_KEY"} <= set(
        server["env"]
    )
    if root == "servers":  # VS Code: a stdio server, keys from password prompts it declares
        assert server["type"] == "stdio"
        inputs = {i["id"]: i for i in json.loads(config)["inputs"]}
        for value in server["env"].values():
            if value.startswith("${input:"):
                assert inputs[value[8:-1]]["password"] is True


def test_the_http_configuration_points_at_the_default_path() -> None:
    (config,) = blocks("json")["Streamable HTTP"]
    server = json.loads(config)["servers"]["irefer"]
    assert server == {"type": "http", "url": "http://127.0.0.1:8000/mcp"}


def test_the_python_example_runs_as_pasted(capsys: pytest.CaptureFixture[str]) -> None:
    """A whole script (`asyncio.run(main())`): it prints the tool's structured answer."""
    (code,) = blocks("python")["In your own code"]
    exec(compile(code, str(PAGE), "exec"), {"__name__": "__main__"})
    assert "'signups_total': 0" in capsys.readouterr().out
