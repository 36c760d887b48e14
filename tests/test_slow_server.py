"""The issue-13 reports, against a raw-asyncio server unlike the emulator (``slow_server``).

Each test is one reported bug: a held write resent, a deadline that did not bound a
trickling body, a signup of an existing email reported landed, one full list read per
ambiguous write, a key fragment in a quoted error page, participant data in INFO logs.
Real loopback sockets and real (short) time: the server's misbehaviour is about time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from helpers import API_KEY, LICENSE_KEY
from slow_server import SlowServer

import irefer_async as ia

#: Short real-time settings: the client gives up at 0.2 s, settles 0.6 s after that.
SETTLE = 0.6
RETRY = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=5.0, settle=SETTLE)


def client_for(server: SlowServer, **kwargs: Any) -> ia.IReferClient:
    options: dict[str, Any] = {
        "campaign_id": 2605,
        "base_url": server.base_url,
        "timeout": httpx.Timeout(0.2),
        "retry": RETRY,
        "rate_limit": None,
        "max_concurrency": None,
    }
    options.update(kwargs)
    return ia.IReferClient(LICENSE_KEY, API_KEY, **options)


def fragments(secret: str, size: int = 6) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


async def test_a_held_action_is_not_resent() -> None:
    """Bug 1: the write is processed 0.5 s after it arrived, after the client gave up (0.2 s)."""
    async with SlowServer() as server:
        server.hold["newSpecificAction"] = 0.5
        async with client_for(server) as client:
            result = await client.new_specific_action("friend@x.io", action="/d", referrer_code="C")
        await asyncio.sleep(0.6)  # a resend, had there been one, would land by now
    assert result.reconciled is True
    assert server.requests["newSpecificAction"] == 1
    assert len(server.actions) == 1


async def test_a_held_signup_is_not_resent() -> None:
    """Bug 1 for signups: held, then its connection dropped after processing."""
    async with SlowServer() as server:
        server.hold["newSignup"] = 0.5
        server.drop_after_hold.add("newSignup")
        async with client_for(server) as client:
            result = await client.new_signup("new@x.io", name="New")
    assert result.reconciled is True and result.email == "new@x.io"
    assert server.requests["newSignup"] == 1


async def test_no_settled_read_within_the_deadline_means_unknown_not_resent() -> None:
    """A settled read that cannot fit in the deadline: WriteOutcomeUnknownError, no resend."""
    async with SlowServer() as server:
        server.fail_before["newSpecificAction"] = 1
        retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=0.4, settle=1)
        async with client_for(server, retry=retry) as client:
            started = time.monotonic()
            with pytest.raises(ia.WriteOutcomeUnknownError):
                await client.new_specific_action("friend@x.io", action="/d", referrer_code="C")
            assert time.monotonic() - started < 0.4 + 0.1
    assert server.requests["newSpecificAction"] == 1


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["httpx", "aiohttp"])
async def test_the_deadline_bounds_a_trickling_body(transport: str | None) -> None:
    """Bug 2: a body trickling a byte every 0.05 s (well inside the 2 s read timeout)."""
    deadline = 0.5
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=deadline)
    async with SlowServer() as server:
        server.trickle["referrerStats"] = 0.05
        server.trickle["newSpecificAction"] = 0.05
        async with client_for(server, timeout=2.0, retry=retry, transport=transport) as client:

            async def timed(write: bool) -> tuple[float, BaseException | None]:
                started = time.monotonic()
                try:
                    if write:
                        await client.new_specific_action("f@x.io", action="/d", referrer_code="C")
                    else:
                        await client.referrer_stats("ann@x.io")
                except ia.IReferError as exc:
                    return time.monotonic() - started, exc
                return time.monotonic() - started, None

            calls = asyncio.gather(*(timed(i % 10 == 0) for i in range(100)))
            results = await asyncio.wait_for(calls, 10 * deadline)  # fail, never hang
    slowest = max(elapsed for elapsed, _ in results)
    assert slowest <= deadline + 0.1, slowest
    for i, (_, error) in enumerate(results):
        if i % 10 == 0:
            assert isinstance(error, ia.WriteOutcomeUnknownError), error
        else:
            assert isinstance(error, ia.DeadlineExceededError) and error.sent, error


@pytest.mark.parametrize("fault", [False, True], ids=["no-fault", "503-before-processing"])
async def test_a_signup_of_an_existing_email_is_a_duplicate_with_or_without_a_fault(
    fault: bool,
) -> None:
    """Bug 3: the same, typed answer whether or not a fault hid the API's refusal."""
    async with SlowServer() as server:
        server.add_participant("old@x.io", created=time.time() - 3600)
        server.add_participant("ref@x.io", created=time.time() - 3600)
        if fault:
            server.fail_before["newSignup"] = 1
        async with client_for(server) as client:
            with pytest.raises(ia.DuplicateSignupError) as info:
                await client.new_signup("old@x.io", referrer_code="C00002")
    error = info.value
    assert error.email == "old@x.io" and error.referrer_code == "C00002"
    assert error.existed_since is not None
    assert "old@x.io" not in str(error)
    assert len(server.participants) == 2


async def test_ambiguous_actions_share_their_reconciling_reads() -> None:
    """Bug 4: 40 ambiguous writes at once are settled by a few shared list reads, not 40."""
    async with SlowServer() as server:
        for i in range(500):
            server.actions.append({
                "id": str(i), "campaign_id": "2605", "referrer_email": "r@x.io",
                "referred_person": f"old{i}", "specific_action": "/d",
                "created_at": "2020-01-01T00:00:00Z", "ip": "127.0.0.1",
            })  # fmt: skip
        server.fail_before["newSpecificAction"] = 40
        async with client_for(server) as client:
            results = await asyncio.gather(
                *(
                    client.new_specific_action(f"new{i}", action="/d", referrer_code="C")
                    for i in range(40)
                )
            )
    assert all(not r.reconciled for r in results)
    assert server.requests["newSpecificAction"] == 80  # 40 failed before processing + 40 resent
    assert len(server.actions) == 540
    assert server.requests["specificActionSignups"] <= 8  # a few shared scans, not 40


@pytest.mark.parametrize("method", ["newSignup", "referrerStats"])
async def test_an_error_page_quoting_the_path_leaks_no_key_fragment(method: str) -> None:
    """Bug 5: redact, then cut: no 6-character fragment of either key survives."""
    async with SlowServer() as server:
        server.quote_path.add(method)
        # The page comes at once and nothing is processed: a short settle window is enough.
        quick = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=5.0, settle=0.1)
        async with client_for(server, retry=quick) as client:
            call = (
                client.new_signup("new@x.io")
                if method == "newSignup"
                else client.referrer_stats("ann@x.io")
            )
            with pytest.raises(ia.IReferError) as info:
                await call
    error = info.value
    texts = [str(error), repr(error)]
    if isinstance(error, ia.WriteOutcomeUnknownError):
        texts += [str(error.last_error), repr(error.last_error)]
    text = " ".join(texts)
    assert "502 Bad Gateway" in text or "not JSON" in text
    leaked = {f for f in fragments(LICENSE_KEY) | fragments(API_KEY) if f in text}
    assert not leaked, leaked


async def test_no_participant_data_in_info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Bug 6: httpx's INFO line carried the query string; DEBUG may, redacted of keys."""
    caplog.set_level(logging.DEBUG)
    async with SlowServer() as server, client_for(server) as client:
        await client.new_signup("pii.person@x.io", name="Zelda Quux", phone="5550199")
        await client.referrer_stats("pii.person@x.io")
    info = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.name == "httpx" for r in info)  # httpx's own line is there, cleaned
    for record in info:
        message = record.getMessage()
        for pii in ("pii.person", "Zelda", "Quux", "5550199"):
            assert pii not in message, (record.name, message)
    for record in caplog.records:
        message = record.getMessage()
        assert LICENSE_KEY not in message and API_KEY not in message
