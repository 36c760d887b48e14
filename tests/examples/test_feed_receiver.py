"""examples/feed_receiver.py: verifies signatures, rejects replays, handles each event once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from irefer_async.feed import RewardTriggered, sign_payload

pytest.importorskip("fastapi")

SECRET = "receiver-test-secret"


def _reward_event() -> RewardTriggered:
    return RewardTriggered(
        id="evt_0123456789abcdef01234567", campaign=2605,
        observed_at=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
        raw={"id": "301", "campaign_id": "2605", "triggered_at": "2026-12-01 10:00:00",
             "recipient_id": "271001", "recipient_email": "ann@example.com",
             "recipient_name": "Ann", "recipient_referral_code": "abc", "referrals_made": "1",
             "reward_id": "3301", "reward_heading": "Coupon", "reward_description": "",
             "reward_signups_count": "1"},
    )  # fmt: skip


async def test_receiver_verifies_dedups_and_rejects_replays(
    load_example: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    example = load_example("feed_receiver.py")
    app = example.create_app(secret=SECRET, db_path=str(tmp_path / "r.sqlite"))
    body = _reward_event().to_json().encode()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as http:

            async def post(payload: bytes, header: str) -> httpx.Response:
                return await http.post("/irefer/events", content=payload,
                                       headers={"x-irefer-signature": header})  # fmt: skip

            first = await post(body, sign_payload(body, SECRET))
            assert first.status_code == 200, first.text
            assert first.json()["duplicate"] is False
            coupon = first.json()["result"]
            assert coupon.startswith("COUPON-")
            again = await post(body, sign_payload(body, SECRET))  # redelivered: same id
            assert again.json() == {"id": first.json()["id"], "duplicate": True, "result": coupon}
            old = sign_payload(body, SECRET, timestamp=int(time.time()) - 3600)
            replay = await post(body, old)
            assert replay.status_code == 401 and "replay window" in replay.text
            forged = await post(body.replace(b"ann@", b"eve@"), sign_payload(body, SECRET))
            assert forged.status_code == 401 and "does not match" in forged.text
            unsigned = await http.post("/irefer/events", content=body)
            assert unsigned.status_code == 401
    rows = example.sqlite3.connect(tmp_path / "r.sqlite").execute("SELECT count(*) FROM handled")
    assert rows.fetchone()[0] == 1
