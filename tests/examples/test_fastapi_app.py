"""examples/fastapi_app.py: one client from the lifespan, handed out as a dependency."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import httpx
import pytest

from irefer_async import IReferClient
from irefer_async.testing import Emulator

pytest.importorskip("fastapi")


async def test_signup_and_stats_share_one_client(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = load_example("fastapi_app.py")
    emulator = Emulator()
    built: list[IReferClient] = []
    real_init = IReferClient.__init__

    def counting_init(self: IReferClient, *args: object, **kwargs: object) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(IReferClient, "__init__", counting_init)
    app = example.create_app(**_emulator_options(emulator))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            created = await http.post("/signups", json={"email": "ann@example.com", "name": "Ann"})
            assert created.status_code == 201, created.text
            assert created.json()["referral_link"]
            stats = await http.get("/referrers/ann@example.com/stats")
            assert stats.status_code == 200
            assert stats.json()["referrals_made"] == 0
            missing = await http.get("/referrers/nobody@example.com/stats")
            assert missing.status_code == 404
            invalid = await http.post("/signups", json={"email": ""})
            assert invalid.status_code == 422
            duplicate = await http.post("/signups", json={"email": "ann@example.com"})
            assert duplicate.status_code == 409
        assert len(built) == 1  # one client for the app's whole life, not one per request
        assert not built[0].is_closed
    assert built[0].is_closed  # closed by the lifespan at shutdown
    assert emulator.participant("ann@example.com") is not None


async def test_gateway_error_carries_the_request_id(
    load_example: Callable[[str], ModuleType],
) -> None:
    example = load_example("fastapi_app.py")
    emulator = Emulator()
    emulator.inject_fault("http_5xx_before", method="referrerStats", times=None)
    app = example.create_app(**_emulator_options(emulator))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            answer = await http.get(
                "/referrers/ann@example.com/stats", headers={"x-request-id": "req-7"}
            )
    assert answer.status_code == 502
    assert answer.json()["detail"] == {"error": "ServerError", "correlation_id": "req-7"}
    assert answer.headers["x-request-id"] == "req-7"


async def test_a_busy_client_gives_a_degraded_answer_not_a_hang(
    load_example: Callable[[str], ModuleType],
) -> None:
    """A view that cannot be served within the page budget answers degraded, at once."""
    example = load_example("fastapi_app.py")
    emulator = Emulator()
    emulator.add_participant("ann@example.com")
    options = {**_emulator_options(emulator), "retry": example.STATS_PAGE_OPTIONS["retry"]}
    app = example.create_app(**options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            fresh = await http.get("/referrers/ann@example.com/stats")
            assert fresh.json()["as_of"]
            app.state.irefer._throttle.pause(60.0)  # as after a 429: nothing can be sent
            busy = await http.get("/referrers/bob@example.com/stats")
            cached = await http.get("/referrers/ann@example.com/stats")
    assert busy.status_code == 200
    assert busy.json() == {
        "email": "bob@example.com", "referrals_made": None, "reward_next": None, "degraded": True
    }  # fmt: skip
    assert cached.json() == fresh.json()  # from the 5 s cache, with the time it was fetched
    assert len(emulator.journal) == 1


def _emulator_options(emulator: Emulator) -> dict[str, object]:
    spec = emulator.default_campaign
    return {
        "license_key": spec.license_key,
        "api_key": spec.api_key,
        "campaign_id": spec.id,
        "transport": emulator.transport(),
        "rate_limit": None,
        "retry": None,
    }
