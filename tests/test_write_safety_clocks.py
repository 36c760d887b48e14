"""Server clocks never decide "existed before" on evidence that can be wrong (issue 22 item 1).

After a signup whose answer is lost, the participant found is dated by the server's *row
clock* as learned from signups this client could date itself (unambiguous answers); with no
such evidence, or contradictory evidence, the signup is reported landed with its age unknown
(``NewSignup.age_unknown``), never `DuplicateSignupError`. Against a raw-asyncio server whose
``created_at`` and ``Date`` clocks disagree with ours (`skewed_clock_server`), and a control.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx
import pytest
from helpers import API_KEY, LICENSE_KEY
from skewed_clock_server import SkewedClockServer

import irefer_async as ia

#: The settle window is wider than a loaded machine's round trip: a signup answered after the
#: lost ones must be seen before their window ends, whatever the machine's load.
RETRY = ia.RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=1.0, deadline=10)

#: (row clock offset, Date offset or None for no Date header), as seen in the field.
CLOCKS = {
    "agreeing": (0.0, 0.0),
    "zone-1h-labelled-Z": (-3600.0, 0.0),
    "no-Date-30s-behind": (-30.0, None),
    "no-Date-30s-ahead": (30.0, None),
    "Date-and-rows-2h-ahead": (7200.0, 7200.0),
}


def client_for(server: SkewedClockServer) -> ia.IReferClient:
    return ia.IReferClient(
        LICENSE_KEY,
        API_KEY,
        campaign_id=2605,
        base_url=server.base_url,
        timeout=httpx.Timeout(2.0),
        retry=RETRY,
        rate_limit=None,
        max_concurrency=None,
    )


async def until_lost(server: SkewedClockServer, signups: int) -> None:
    """Wait until the server has received ``signups`` newSignup requests (however slow the
    machine is to send them), then for the client to see their connections dropped."""
    await server.received("newSignup", signups)
    await asyncio.sleep(0.1)


async def lost_signups(client: ia.IReferClient, n: int, code: str) -> list[Any]:
    return await asyncio.gather(
        *(client.new_signup(f"new{i}@x.io", referrer_code=code) for i in range(n)),
        return_exceptions=True,
    )


@pytest.mark.parametrize(("rows", "date"), CLOCKS.values(), ids=CLOCKS.keys())
async def test_lost_answers_with_no_clock_evidence_land_with_their_age_unknown(
    rows: float, date: float | None
) -> None:
    """10 signups this very call created: 10 landed (age unknown), none a duplicate."""
    async with SkewedClockServer(rows=rows, date=date) as server:
        code = server.add_participant("ref@x.io", created=time.time() - 86400)
        server.lose_answers = True
        async with client_for(server) as client:
            results = await lost_signups(client, 10, code)
    assert [type(r).__name__ for r in results] == ["NewSignup"] * 10
    assert all(r.reconciled and r.age_unknown and r.referrer == "ref@x.io" for r in results)
    assert server.requests["newSignup"] == 10  # none resent
    assert len(server.participants) == 11


@pytest.mark.parametrize(("rows", "date"), CLOCKS.values(), ids=CLOCKS.keys())
async def test_a_clock_learned_from_answered_signups_dates_lost_ones(
    rows: float, date: float | None
) -> None:
    """Answered signups before and after the lost ones date the row clock: new rows are
    created now, an hour-old one existed (a duplicate)."""
    async with SkewedClockServer(rows=rows, date=date) as server:
        code = server.add_participant("ref@x.io", created=time.time() - 86400)
        server.add_participant("old@x.io", created=time.time() - 3600, referrer="ref@x.io")
        lost = [f"new{i}@x.io" for i in range(10)]
        server.lose_answers = {*lost, "old@x.io"}
        async with client_for(server) as client:
            before = await client.new_signup("seen0@x.io")  # answered: dated by the client
            assert not before.reconciled and not before.age_unknown
            calls = [client.new_signup(email, referrer_code=code) for email in [*lost, "old@x.io"]]
            pending = asyncio.gather(*calls, return_exceptions=True)
            await until_lost(server, 1 + len(calls))  # their settle windows run
            await client.new_signup("seen1@x.io")  # answered after them
            *results, old = await pending
    assert [type(r).__name__ for r in results] == ["NewSignup"] * 10
    assert all(r.reconciled and not r.age_unknown for r in results)
    assert isinstance(old, ia.DuplicateSignupError) and old.email == "old@x.io"
    assert server.requests["newSignup"] == 13  # none resent


async def test_without_evidence_after_the_write_the_age_stays_unknown() -> None:
    """Answered signups only before: a clock stepped since could not be seen, so no claim."""
    async with SkewedClockServer() as server:
        code = server.add_participant("ref@x.io", created=time.time() - 86400)
        server.add_participant("old@x.io", created=time.time() - 3600, referrer="ref@x.io")
        async with client_for(server) as client:
            await client.new_signup("seen0@x.io")
            server.lose_answers = True
            old = await client.new_signup("old@x.io", referrer_code=code)
    assert old.reconciled and old.age_unknown


async def test_contradictory_clock_evidence_claims_no_duplicate() -> None:
    """The row clock steps an hour back between the signup answered before the lost ones and
    the one answered after: the evidence disagrees, so even an hour-old participant is
    reported landed with its age unknown, not a duplicate."""
    async with SkewedClockServer() as server:
        code = server.add_participant("ref@x.io", created=time.time() - 86400)
        server.add_participant("old@x.io", created=time.time() - 3600, referrer="ref@x.io")
        lost = ["new0@x.io", "new1@x.io", "new2@x.io"]
        server.lose_answers = {*lost, "old@x.io"}
        async with client_for(server) as client:
            await client.new_signup("seen0@x.io")  # answered before, clocks agreeing
            calls = [client.new_signup(email, referrer_code=code) for email in [*lost, "old@x.io"]]
            pending = asyncio.gather(*calls, return_exceptions=True)
            await until_lost(server, 1 + len(calls))
            server.rows = -3600.0  # the row clock steps
            await client.new_signup("seen1@x.io")  # answered after
            results = await pending
    assert all(isinstance(r, ia.NewSignup) and r.reconciled and r.age_unknown for r in results)
    assert server.requests["newSignup"] == 6  # none resent


async def test_a_refusal_is_a_duplicate_whatever_the_clocks() -> None:
    """The API's own refusal needs no clock: still `DuplicateSignupError` on a skewed server."""
    async with SkewedClockServer(rows=-3600.0, date=None) as server:
        server.add_participant("old@x.io", created=time.time() - 3600, referrer="ref@x.io")
        async with client_for(server) as client:
            with pytest.raises(ia.DuplicateSignupError):
                await client.new_signup("old@x.io")


async def test_the_emulators_server_clock_fault_lands_signups_with_their_age_unknown() -> None:
    """The emulator's ``server_clock`` fault: rows an hour behind, answers lost."""
    from irefer_async.testing import Emulator

    emulator = Emulator(seed=22)
    code = emulator.add_participant("ref@x.io").code
    rule = emulator.inject_fault("server_clock", method="newSignup", times=None)
    async with emulator.client(retry=RETRY) as client:
        results = await lost_signups(client, 5, code)
    assert all(isinstance(r, ia.NewSignup) and r.age_unknown for r in results), results
    assert rule.fault.kind.applies_write
    journal = [e for e in emulator.journal if e.method == "newSignup"]
    assert len(journal) == 5  # none resent
    row = emulator.participant("new0@x.io")
    assert row is not None and row.created_at < emulator.clock.now() - dt.timedelta(minutes=59)
