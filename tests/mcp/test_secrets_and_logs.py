"""No key (nor a 6-character piece of one) in any tool result, error or log line; no
participant data in log lines at INFO or above."""

from __future__ import annotations

import logging

import attrs
import pytest

pytest.importorskip("mcp.server.mcpserver")

from _mcp_support import Asker, connect, key_fragments, leaks

from irefer_async import RetryConfig
from irefer_async.testing import DEFAULT_CAMPAIGN, Emulator
from irefer_async.testing.__main__ import seed_demo

LICENSE = "W4qLq8ZrT1vN0xYb6MhK2dPjF5sWc9Ae"
API_KEY = "sk-mcp-7Hq2Lx9PzV4nR8tB"
EMAILS = ("ann@example.com", "zed@example.com", "bob@example.com", "nobody@example.com")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured():
    handler = Capture()
    loggers = [logging.getLogger(n) for n in ("", "irefer_async", "mcp", "httpx", "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


async def test_no_key_in_any_result_error_or_log_and_no_participant_data_at_info(captured) -> None:
    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=LICENSE, api_key=API_KEY)
    emulator = Emulator(seed=0, campaigns=[spec])
    seed_demo(emulator)
    emulator.seed_rewards(5)
    emulator.seed_actions(5)
    # Misbehaving answers whose quoted bodies or URLs could carry a key.
    emulator.inject_fault("html_page", method="campaignStats", call=1)
    emulator.inject_fault("error_body", method="referrerStats", call=1)
    emulator.inject_fault("http_5xx_after", method="newSignup", call=1)
    ann = emulator.participant("ann@example.com")
    assert ann is not None
    retry = RetryConfig(attempts=1, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.05)
    texts: list[str] = []
    async with (
        emulator.client(retry=retry) as client,
        connect(client, allow_writes=True, asker=Asker()) as session,
    ):
        calls = [
                ("campaign_stats", {}),
                ("campaign_stats", {}),
                ("referrer_stats", {"email": "ann@example.com"}),
                ("referrer_stats", {"email": "ann@example.com"}),
                ("referrer_stats", {"email": "nobody@example.com"}),
                ("top_referrers", {"limit": 3}),
                ("find_participants", {"query": "ann"}),
                ("recent_rewards", {}),
                ("action_signups", {}),
                ("new_signup", {"email": "zed@example.com", "dry_run": True}),
                ("new_signup", {"email": "zed@example.com", "referrer_code": ann.code}),
                ("new_signup", {"email": "zed@example.com", "referrer_code": ann.code}),
                ("new_signup", {"email": "bob@example.com"}),
                ("new_specific_action",
                 {"external_id": "x", "action": "/nope", "referrer_code": "bad", "dry_run": True}),
            ]  # fmt: skip
        errors = 0
        for name, args in calls:
            result = await session.call_tool(name, args)
            errors += bool(result.is_error)
            texts.extend(block.text for block in result.content)  # type: ignore[union-attr]
            texts.append(repr(result.structured_content))
    assert errors >= 4  # the faults, the unknown email and the duplicate were tool errors
    fragments = key_fragments(LICENSE, API_KEY)
    assert leaks("\n".join(texts), fragments) == []
    lines = [r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
             for r in captured.records]  # fmt: skip
    assert lines, "nothing was logged: the capture is not wired"
    assert leaks("\n".join(lines), fragments) == []
    loud = "\n".join(r.getMessage() for r in captured.records if r.levelno >= logging.INFO)
    assert [e for e in EMAILS if e in loud] == []


async def test_an_unexpected_failure_is_named_by_its_type_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import BaseModel

    from irefer_async.mcp import _summaries

    class Row(BaseModel):
        referrals: int

    async def broken(*args: object) -> None:
        Row.model_validate({"referrals": "ann@example.com"})  # quotes the bad value

    async def crash(*args: object) -> None:
        raise KeyError("ann@example.com")

    emulator = Emulator(seed=0)
    async with emulator.client() as client, connect(client) as session:
        monkeypatch.setattr(_summaries, "top_referrers", broken)
        invalid = await session.call_tool("top_referrers", {})
        monkeypatch.setattr(_summaries, "top_referrers", crash)
        crashed = await session.call_tool("top_referrers", {})
    assert invalid.is_error and "internal error (ValidationError)" in invalid.content[0].text  # type: ignore[union-attr]
    assert crashed.is_error and "internal error (KeyError)" in crashed.content[0].text  # type: ignore[union-attr]
    assert "ann@example.com" not in invalid.content[0].text + crashed.content[0].text  # type: ignore[union-attr]
