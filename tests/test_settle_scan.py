"""Reconciling scans are streamed: bounded memory on a big campaign, the server's clock kept,
a broken list body never turns into a resend, and a signup is "created now" only with the
referrer its ``referrer_code`` names (issue 13: the scan gap and the referrer check)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import time
import tracemalloc
from typing import Any

import httpx
import orjson
import pytest
from helpers import API_KEY, LICENSE_KEY
from slow_server import SlowServer

import irefer_async as ia
from irefer_async.testing import Emulator, FrozenClock

#: No waiting between attempts; a short settle window (the in-process emulator is done
#: processing a write when it answers).
RETRY = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=0.05, deadline=30)
START = dt.datetime(2018, 6, 15, 12, 0, tzinfo=dt.timezone.utc)


def board_of(client: ia.IReferClient, method: str) -> Any:
    return next(b for (name, _), b in client._writes.boards.items() if name == method)


def writes(emulator: Emulator, method: str) -> int:
    return sum(1 for entry in emulator.journal if entry.method == method)


# -- memory bounded whatever the campaign size --------------------------------------------


async def test_reconciling_in_a_big_campaign_keeps_only_the_matching_rows() -> None:
    """20,000 actions: a settle scan holds a chunk and the matched rows, never the list."""
    rows = 20_000
    emulator = Emulator(seed=3)
    code = emulator.add_participant("ref@x.io").code
    emulator.seed_actions(rows)
    action = emulator.default_campaign.actions[0].page
    # One write lands then fails (found by a scan), one fails before processing (absent:
    # settled, then resent).
    emulator.inject_fault("http_5xx_after", method="newSpecificAction", email="landed@x.io")
    emulator.inject_fault("http_5xx_before", method="newSpecificAction", email="lost@x.io")
    async with emulator.client(retry=RETRY) as client:
        # Warm the emulator's row cache (encoded once per row) and measure the body.
        listed = await client.specific_action_signups()
        body_bytes = len(orjson.dumps([row.raw for row in listed]))
        del listed
        # What the first write and its first retry import (write safety, tenacity) loads
        # here: the window measures the scan, not module code (run alone, it counted 1 MB).
        importlib.import_module("irefer_async._write_safety")
        importlib.import_module("tenacity")
        gc.collect()
        tracemalloc.start()
        try:
            landed, lost = await asyncio.gather(
                client.new_specific_action("landed@x.io", action=action, referrer_code=code),
                client.new_specific_action("lost@x.io", action=action, referrer_code=code),
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        board = board_of(client, "specificActionSignups")
    assert landed.reconciled is True and lost.reconciled is False
    assert writes(emulator, "newSpecificAction") == 3  # 2 first attempts + 1 resend
    assert body_bytes > 2_000_000
    # The whole list as bytes and decoded rows would be several times body_bytes.
    assert peak < body_bytes / 4, (peak, body_bytes)
    assert board.max_rows_kept <= 2  # the matched rows, nothing else
    assert board.rows_read >= rows  # a settled "absent" read the list to its end


async def test_a_scan_stops_reading_once_every_pending_write_is_found() -> None:
    """Only the rows up to the last target are parsed when every target is in the list."""
    emulator = Emulator(seed=4)
    code = emulator.add_participant("ref@x.io").code
    emulator.seed_actions(5_000)
    action = emulator.default_campaign.actions[0].page
    emulator.inject_fault("http_5xx_after", method="newSpecificAction", email="new@x.io")
    async with emulator.client(retry=RETRY) as client:
        result = await client.new_specific_action("new@x.io", action=action, referrer_code=code)
        board = board_of(client, "specificActionSignups")
    assert result.reconciled is True
    assert board.scans == 1 and board.rows_read < 1_000  # newest first: found at once


# -- the server's clock -----------------------------------------------------------------


async def test_a_streamed_scan_dates_rows_by_the_servers_row_clock() -> None:
    """A server clock years behind ours: rows are dated by its row clock, as learned from an
    answered signup's row (found in the same streamed scan), not by our clock."""
    clock = FrozenClock(START)
    emulator = Emulator(seed=5, clock=clock)
    emulator.seed_participants(3_000)  # past wire.STREAM_ROWS: a streamed body
    emulator.add_participant("old@x.io")
    clock.advance(hours=1)
    emulator.inject_fault("http_5xx_after", method="newSignup", email="new@x.io")
    emulator.inject_fault("http_5xx_before", method="newSignup", email="old@x.io")
    async with emulator.client(retry=RETRY) as client:
        await client.new_signup("seen@x.io")  # answered before: it dates the row clock
        calls = asyncio.gather(
            client.new_signup("new@x.io"), client.new_signup("old@x.io"), return_exceptions=True
        )
        await asyncio.sleep(0.01)  # both failed; their settle windows run
        await client.new_signup("later@x.io")  # ... and one answered after them
        landed, old = await calls
    assert isinstance(landed, ia.NewSignup)
    assert landed.reconciled is True and landed.email == "new@x.io"
    assert landed.age_unknown is False
    assert isinstance(old, ia.DuplicateSignupError) and old.existed_since == START
    assert writes(emulator, "newSignup") == 4  # none was resent


# -- a broken list body during a settle scan -----------------------------------------------


@pytest.mark.parametrize("fault", ["truncated_json", "drop_after", "html_page"])
async def test_a_broken_list_body_is_unknown_never_a_resend(fault: str) -> None:
    """A settle scan whose body keeps breaking: WriteOutcomeUnknownError, one write sent."""
    emulator = Emulator(seed=6)
    code = emulator.add_participant("ref@x.io").code
    emulator.seed_actions(3_000)
    action = emulator.default_campaign.actions[0].page
    emulator.inject_fault("http_5xx_before", method="newSpecificAction")
    emulator.inject_fault(fault, method="specificActionSignups", times=None)
    async with emulator.client(retry=RETRY) as client:
        with pytest.raises(ia.WriteOutcomeUnknownError) as info:
            await client.new_specific_action("new@x.io", action=action, referrer_code=code)
    assert info.value.reconcile_error is not None
    assert writes(emulator, "newSpecificAction") == 1


async def test_a_list_trickling_without_end_is_cut_at_the_deadline() -> None:
    """The settle scan's body never ends: the call ends at its deadline, unknown, not resent."""
    emulator = Emulator(seed=7)
    code = emulator.add_participant("ref@x.io").code
    emulator.seed_actions(10)
    action = emulator.default_campaign.actions[0].page
    emulator.inject_fault("http_5xx_before", method="newSpecificAction")
    emulator.inject_fault("trickle_forever", method="specificActionSignups", times=None)
    retry = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=0.05, deadline=0.5)
    async with emulator.client(retry=retry) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ia.WriteOutcomeUnknownError):
            await client.new_specific_action("new@x.io", action=action, referrer_code=code)
        assert loop.time() - started < 0.5 + 0.1
    assert writes(emulator, "newSpecificAction") == 1


# -- the same against a raw-asyncio server: odd pieces, a cut body --------------------------

SLOW_RETRY = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=5.0, settle=0.3)


def slow_client(server: SlowServer) -> ia.IReferClient:
    return ia.IReferClient(
        LICENSE_KEY,
        API_KEY,
        campaign_id=2605,
        base_url=server.base_url,
        timeout=httpx.Timeout(0.2),
        retry=SLOW_RETRY,
        rate_limit=None,
        max_concurrency=None,
    )


def old_actions(server: SlowServer, n: int) -> None:
    for i in range(n):
        server.actions.append({
            "id": str(i), "campaign_id": "2605", "referrer_email": "r@x.io",
            "referred_person": f"old{i}", "specific_action": "/d",
            "created_at": "2020-01-01T00:00:00Z", "ip": "127.0.0.1",
        })  # fmt: skip


async def test_a_held_action_is_found_in_a_list_sent_in_odd_pieces() -> None:
    """Two writes held past the client's timeout, found by scans of a body in 13-byte pieces."""
    async with SlowServer() as server:
        old_actions(server, 30)
        server.hold["newSpecificAction"] = 0.4
        server.pieces["specificActionSignups"] = (13, 0.001)  # rows split mid-value
        async with slow_client(server) as client:
            held, other = await asyncio.gather(
                client.new_specific_action("held@x.io", action="/d", referrer_code="C"),
                client.new_specific_action("old7", action="/e", referrer_code="C"),
            )
        await asyncio.sleep(0.5)  # a resend, had there been one, would have landed by now
    assert held.reconciled is True and other.reconciled is True  # both held past the timeout
    assert server.requests["newSpecificAction"] == 2
    assert sum(1 for a in server.actions if a["referred_person"] == "held@x.io") == 1


async def test_a_list_cut_half_way_leaves_the_write_unknown() -> None:
    """The list's connection dropped mid-body, every time: unknown, never resent."""
    async with SlowServer() as server:
        old_actions(server, 300)
        server.fail_before["newSpecificAction"] = 1
        server.cut.add("specificActionSignups")
        async with slow_client(server) as client:
            with pytest.raises(ia.WriteOutcomeUnknownError):
                await client.new_specific_action("new@x.io", action="/d", referrer_code="C")
    assert server.requests["newSpecificAction"] == 1
    assert server.requests["specificActionSignups"] >= 1


# -- created now, but by whom: the referrer a signup's referrer_code names -----------------


def referral_emulator() -> tuple[Emulator, FrozenClock, str, str]:
    """A streamed ``referrers`` list whose two referrers are its oldest (last) rows."""
    clock = FrozenClock(START)
    emulator = Emulator(seed=8, clock=clock)
    first = emulator.add_participant("ref1@x.io").code
    second = emulator.add_participant("ref2@x.io").code
    emulator.seed_participants(3_000)
    clock.advance(hours=1)
    return emulator, clock, first, second


async def test_a_row_created_now_with_another_referrer_is_a_duplicate() -> None:
    """Someone else signed the email up just now, credited to ref2: not this write's row."""
    emulator, _, first, second = referral_emulator()
    emulator.add_participant("new@x.io", referrer_code=second)
    emulator.inject_fault("http_5xx_before", method="newSignup")
    async with emulator.client(retry=RETRY) as client:
        with pytest.raises(ia.DuplicateSignupError) as info:
            await client.new_signup("new@x.io", referrer_code=first)
    error = info.value
    assert error.referrer_code == first and error.referrer_email == "ref2@x.io"
    assert writes(emulator, "newSignup") == 1


async def test_a_row_created_now_without_the_referrer_sent_is_a_duplicate() -> None:
    emulator, _, first, _ = referral_emulator()
    emulator.add_participant("new@x.io")
    emulator.inject_fault("drop_before", method="newSignup")
    async with emulator.client(retry=RETRY) as client:
        with pytest.raises(ia.DuplicateSignupError) as info:
            await client.new_signup("new@x.io", referrer_code=first)
    assert info.value.referrer_email is None and info.value.referrer_code == first
    assert writes(emulator, "newSignup") == 1


async def test_a_landed_signup_with_its_referrer_is_reconciled() -> None:
    """The referrer's row is the list's last: the scan reads on past the signup's row."""
    emulator, _, first, _ = referral_emulator()
    emulator.inject_fault("http_5xx_after", method="newSignup")
    async with emulator.client(retry=RETRY) as client:
        result = await client.new_signup("New@x.io", referrer_code=first)
        board = board_of(client, "referrers")
    assert result.reconciled is True and result.referrer == "ref1@x.io"
    assert writes(emulator, "newSignup") == 1
    assert board.rows_read >= 3_003 and board.max_rows_kept == 2


async def test_a_signup_credited_elsewhere_is_a_duplicate_on_a_raw_server() -> None:
    """The same against the raw-asyncio server: the row is new, its referrer is not ours."""
    async with SlowServer() as server:
        now = time.time()
        server.add_participant("ref1@x.io", created=now - 3600)  # code C00001
        server.add_participant("ref2@x.io", created=now - 3600)  # code C00002
        server.add_participant("new@x.io", created=now, referrer="ref2@x.io")
        server.fail_before["newSignup"] = 1
        async with slow_client(server) as client:
            with pytest.raises(ia.DuplicateSignupError) as info:
                await client.new_signup("new@x.io", referrer_code="C00001")
            landed = await client.new_signup("other@x.io", referrer_code="C00001")
    assert info.value.referrer_email == "ref2@x.io"
    assert landed.referrer == "ref1@x.io"
    assert server.requests["newSignup"] == 2 and len(server.participants) == 4


async def test_referrers_rows_carrying_full_links_still_name_the_referrer() -> None:
    """A server whose ``referrers`` rows hold the referral link, not the bare code: the
    landed signup is still matched to its referrer (not taken for someone else's)."""
    async with SlowServer() as server:
        now = time.time()
        server.add_participant("ref1@x.io", created=now - 3600)  # code C00001
        server.add_participant("ref2@x.io", created=now - 3600)  # code C00002
        server.full_links = True
        server.hold["newSignup"] = 0.3  # processed after the client's 0.2 s read timeout
        async with slow_client(server) as client:
            landed = await client.new_signup("new@x.io", referrer_code="C00001")
    assert landed.reconciled is True and landed.referrer == "ref1@x.io"
    assert server.requests["newSignup"] == 1


async def test_resume_takes_a_row_credited_elsewhere_as_not_landed() -> None:
    """``find_landed`` (``--resume``): another's row is not ours; ours, found, is landed."""
    emulator, _, first, second = referral_emulator()
    emulator.add_participant("other@x.io", referrer_code=second)
    emulator.add_participant("ours@x.io", referrer_code=first)
    async with emulator.client(retry=RETRY) as client:
        sent_at = time.time() - 60  # the settle window has passed
        other, ours = await asyncio.gather(
            *(
                client.find_landed(ia.NewSignupRequest(email, referrer_code=first), sent_at=sent_at)
                for email in ("other@x.io", "ours@x.io")
            )
        )
        board = board_of(client, "referrers")
    assert other is None
    assert ours is not None and ours.reconciled is True and ours.referrer == "ref1@x.io"
    assert board.scans == 1  # one shared scan answered both


async def test_find_landed_checks_its_input_before_any_request() -> None:
    emulator, _, _, _ = referral_emulator()
    async with emulator.client(retry=RETRY) as client:
        with pytest.raises(TypeError, match="NewSignupRequest or NewSpecificActionRequest"):
            await client.find_landed({"email": "a@x.io"}, sent_at=0.0)  # type: ignore[call-overload]
        with pytest.raises(ia.InvalidRequestError, match="email"):
            await client.find_landed(ia.NewSignupRequest(" a@x.io"), sent_at=0.0)
        with pytest.raises(ia.InvalidRequestError, match="campaign_id"):
            await client.find_landed(ia.NewSignupRequest("a@x.io", campaign_id="x"), sent_at=0.0)
    assert len(emulator.journal) == 0
