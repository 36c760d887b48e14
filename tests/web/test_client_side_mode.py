"""The emulator's client-side mode (the guide's jQuery calls): no api_key, verified by host."""

from __future__ import annotations

import httpx
import pytest

from irefer_async.testing import Emulator

QUERY = {"email": "ann@example.com", "campaign_id": "2605"}


@pytest.fixture
def emulator() -> Emulator:
    emulator = Emulator(seed=0)
    emulator.add_participant("ann@example.com")
    return emulator


def _path(emulator: Emulator, method: str = "referrerStats") -> str:
    return f"/v1.0/{emulator.default_campaign.license_key}.js/{method}"


async def _get(emulator: Emulator, headers: dict[str, str], **params: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://irefer.test") as web:
        return await web.get(_path(emulator), params={**QUERY, **params}, headers=headers)


async def test_allowed_origin_is_answered_with_cors(emulator: Emulator) -> None:
    emulator.allow_client_side("shop.example")
    response = await _get(emulator, {"Origin": "http://shop.example:8000"})
    assert response.json()["email"] == "ann@example.com"
    assert response.headers["access-control-allow-origin"] == "http://shop.example:8000"
    assert response.headers["vary"] == "Origin"


async def test_referer_counts_when_there_is_no_origin(emulator: Emulator) -> None:
    emulator.allow_client_side("127.0.0.1:8000")
    response = await _get(emulator, {"Referer": "http://127.0.0.1:8000/landing?iref=x"})
    assert "referral_link" in response.json()
    assert "access-control-allow-origin" not in response.headers  # same-origin: none needed


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://evil.example"},
        {"Origin": "http://shop.example.evil.example"},
        {"Origin": "null"},
        {"Referer": "http://127.0.0.1:9999/"},
    ],
)
async def test_other_pages_get_the_guides_error(
    emulator: Emulator, headers: dict[str, str]
) -> None:
    emulator.allow_client_side("shop.example", "127.0.0.1:8000")
    response = await _get(emulator, headers)
    assert response.json() == {
        "error": "input missing or incorrect",
        "error_code": "irefer_api_referrerStats_err_401",
    }
    assert "access-control-allow-origin" not in response.headers


async def test_off_by_default_and_api_key_still_checked(emulator: Emulator) -> None:
    """Without allowed hosts no call is accepted without an api_key; with them, a wrong
    api_key is still refused (the mode is for calls without one)."""
    refused = await _get(emulator, {"Origin": "http://shop.example"})
    assert "error_code" in refused.json()
    emulator.allow_client_side("shop.example")
    wrong = await _get(emulator, {"Origin": "http://shop.example"}, api_key="wrong")
    assert "error_code" in wrong.json()
    emulator.reset()  # kept across reset
    emulator.add_participant("ann@example.com")
    assert "email" in (await _get(emulator, {"Origin": "http://shop.example"})).json()
    emulator.allow_client_side()  # off again
    assert "error_code" in (await _get(emulator, {"Origin": "http://shop.example"})).json()


async def test_client_side_signup(emulator: Emulator) -> None:
    """A signup from an allowed page lands and credits its referrer (newSignup, jQuery)."""
    emulator.allow_client_side("shop.example")
    code = emulator.participant("ann@example.com").code  # type: ignore[union-attr]
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://irefer.test") as web:
        response = await web.get(
            _path(emulator, "newSignup"),
            params={"campaign_id": "2605", "email": "bob@example.com", "referrer_code": code},
            headers={"Origin": "https://shop.example"},
        )
    assert response.json()["referrer"] == "ann@example.com"
