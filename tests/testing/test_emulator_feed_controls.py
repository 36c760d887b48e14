"""Emulator controls a feed needs: record an action, hide rows (in process and over HTTP)."""

from __future__ import annotations

import httpx
import pytest

from irefer_async.testing import Emulator


async def test_hidden_participants_leave_referrers_only() -> None:
    """Hidden: gone from `referrers`, still a participant (stats, rewards); unhidden: back."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com", referrer_code=ann.code)
    assert emulator.hide_participants(["BOB@example.com"]) == 1
    async with emulator.client() as client:
        assert [r.email for r in await client.referrers()] == ["ann@example.com"]
        assert (await client.referrer_stats("ann@example.com")).referrals_made == 1
        emulator.hide_participants(["bob@example.com"], hidden=False)
        assert {r.email for r in await client.referrers()} == {"ann@example.com", "bob@example.com"}
    with pytest.raises(LookupError, match="nobody"):
        emulator.hide_participants(["nobody@example.com"])


async def test_record_action_adds_a_row_and_refuses_what_the_api_refuses() -> None:
    """record_action: a specificActionSignups row, no journal entry; unknown code: ValueError."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    row_id = emulator.record_action("zed@example.com", "/dashboard", ann.code)
    async with emulator.client() as client:
        rows = await client.specific_action_signups()
    assert [(r.id, r.referred_person) for r in rows] == [(row_id, "zed@example.com")]
    assert len(emulator.journal) == 1  # the list call only
    with pytest.raises(ValueError, match="referrer_code"):
        emulator.record_action("zed@example.com", "/dashboard", "nope")


async def test_control_plane_hides_rows_and_records_actions() -> None:
    """POST /_control/hidden and /_control/actions do the same over HTTP."""
    emulator = Emulator()
    ann = emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com")
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu") as http:
        hidden = await http.post("/_control/hidden", json={"emails": ["bob@example.com"]})
        assert hidden.json() == {"hidden": 1}
        action = await http.post("/_control/actions", json={
            "external_id": "zed@example.com", "action": "/dashboard", "referrer_code": ann.code,
        })  # fmt: skip
        assert action.status_code == 200 and action.json()["id"] > 0
        missing = await http.post("/_control/hidden", json={})
        assert missing.status_code == 400 and "emails" in missing.text
    async with emulator.client() as client:
        assert [r.email for r in await client.referrers()] == ["ann@example.com"]
        assert len(await client.specific_action_signups()) == 1
