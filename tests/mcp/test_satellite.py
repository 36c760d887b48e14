"""The satellite's shape: public imports only, loaded lazily; its small parts on their own."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp.server.mcpserver")

from click.testing import CliRunner

from irefer_async import ConfigurationError, IReferError, WriteOutcomeUnknownError
from irefer_async.cli import cli
from irefer_async.mcp import parse_http
from irefer_async.mcp._writes import OutcomeStillUnknownError, WriteRecord

PACKAGE = Path(__file__).resolve().parents[2] / "irefer_async"


def test_the_satellite_imports_only_public_names_of_irefer_async() -> None:
    """No private module or name of the core (its own modules aside): import-linter's rule too."""
    offenders = []
    for path in sorted((PACKAGE / "mcp").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level > 1 or (node.level == 0 and module.startswith("irefer_async")):
                    private = [p for p in module.split(".") if p.startswith("_")]
                    names = [a.name for a in node.names if a.name.startswith("_")]
                    if node.level > 1 or private or set(names) - {"__version__"}:
                        offenders.append(f"{path.name}:{node.lineno} {module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("irefer_async") and "._" in alias.name:
                        offenders.append(f"{path.name}:{node.lineno} {alias.name}")
    assert offenders == []


def test_importing_the_sdk_does_not_import_the_satellite_or_the_mcp_sdk() -> None:
    code = "import sys, irefer_async, irefer_async.cli; print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'irefer_async.mcp'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("8000", ("127.0.0.1", 8000)), (":8000", ("127.0.0.1", 8000)), ("0.0.0.0:9", ("0.0.0.0", 9)),
     ("[::1]:8000", ("::1", 8000)), ("localhost:8000", ("localhost", 8000))],
)  # fmt: skip
def test_http_binds_loopback_unless_a_host_is_given(value: str, expected: tuple[str, int]) -> None:
    assert parse_http(value) == expected


@pytest.mark.parametrize("value", ["", "http", "80000", "host:80", "127.0.0.1:0", "1.2.3.4:x"])
def test_a_bad_http_address_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigurationError, match="--http"):
        parse_http(value)


def test_irefer_mcp_without_configuration_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("IREFER_LICENSE_KEY", "IREFER_API_KEY", "IREFER_CAMPAIGN_ID", "IREFER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["mcp"])
    assert result.exit_code == 2
    assert "IREFER_LICENSE_KEY" in result.output


def test_irefer_mcp_without_a_campaign_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IREFER_LICENSE_KEY", "W4qL" + "a" * 28)
    monkeypatch.setenv("IREFER_API_KEY", "k" * 12)
    monkeypatch.delenv("IREFER_CAMPAIGN_ID", raising=False)
    result = CliRunner().invoke(cli, ["mcp"])
    assert result.exit_code == 2
    assert "IREFER_CAMPAIGN_ID is not set" in result.output
    assert "aaaaaa" not in result.output and "kkkkkk" not in result.output


def test_irefer_mcp_refuses_a_bad_http_address_as_usage() -> None:
    result = CliRunner().invoke(cli, ["mcp", "--http", "nope"])
    assert result.exit_code == 2 and "--http" in result.output


async def test_the_record_sends_once_and_finishes_a_write_whose_caller_was_cancelled() -> None:
    record: WriteRecord[str] = WriteRecord(max_entries=2)
    gate = asyncio.Event()
    sent: list[str] = []

    async def write() -> str:
        sent.append("x")
        await gate.wait()
        return "done"

    first = asyncio.ensure_future(record.run("k", write))
    await asyncio.sleep(0)
    first.cancel()  # the tool call goes away; the write must still finish and be recorded
    second = asyncio.ensure_future(record.run("k", write))
    await asyncio.sleep(0)
    gate.set()
    assert await second == ("done", True)
    assert await record.run("k", write) == ("done", True)
    assert sent == ["x"]
    for key in ("a", "b"):
        await record.run(key, write)
    assert len(record) == 2 and not record.landed("k")  # bounded: the oldest forgotten


async def test_the_record_keeps_no_failed_write() -> None:
    record: WriteRecord[str] = WriteRecord()
    calls = 0

    async def write() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("lost")
        return "ok"

    with pytest.raises(RuntimeError):
        await record.run("k", write)
    assert await record.run("k", write) == ("ok", False)


async def test_an_unknown_outcome_is_resent_only_after_the_hold_and_if_not_found() -> None:
    unknown = WriteOutcomeUnknownError(
        method="newSignup", params={}, last_error=IReferError("lost"), reconcile_error=None
    )
    sent: list[int] = []

    async def write() -> str:
        sent.append(1)
        if len(sent) == 1:
            raise unknown
        return "ok"

    async def nowhere() -> str | None:
        return None

    held: WriteRecord[str] = WriteRecord(hold=3600)
    with pytest.raises(WriteOutcomeUnknownError):
        await held.run("k", write, nowhere)
    assert held.landed("k")
    with pytest.raises(OutcomeStillUnknownError, match="nothing was sent again"):
        await held.run("k", write, nowhere)
    assert sent == [1]

    sent.clear()
    free: WriteRecord[str] = WriteRecord(hold=0)
    with pytest.raises(WriteOutcomeUnknownError):
        await free.run("k", write, nowhere)
    assert await free.run("k", write, nowhere) == ("ok", False)  # looked up, absent, resent
    assert sent == [1, 1]


def test_irefer_mcp_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        m for m in sys.modules if m == "irefer_async.mcp" or m.startswith("irefer_async.mcp.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails as if absent
    result = CliRunner().invoke(cli, ["mcp"])
    assert result.exit_code == 2
    assert "pip install 'irefer-async[mcp]'" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.2", False),
    ],
)
def test_a_non_loopback_bind_is_recognised_for_its_warning(host: str, loopback: bool) -> None:
    from irefer_async.mcp._run import _loopback

    assert _loopback(host) is loopback
