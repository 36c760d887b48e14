"""Client configuration, environment fallbacks, lifecycle and event-loop binding."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY, make_client

from irefer_async import (
    ClientStateError,
    ConfigurationError,
    InvalidRequestError,
    IReferClient,
    RateLimit,
)
from irefer_async.endpoints import DEFAULT_BASE_URL


def test_default_base_url_pins_v1_0() -> None:
    assert DEFAULT_BASE_URL == "https://api.irefer.io/v1.0/"


async def test_credentials_and_base_url_fall_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IREFER_LICENSE_KEY", LICENSE_KEY)
    monkeypatch.setenv("IREFER_API_KEY", API_KEY)
    monkeypatch.setenv("IREFER_BASE_URL", "http://emulator.test/v1.0")
    with respx.mock(base_url=f"http://emulator.test/v1.0/{LICENSE_KEY}.js/") as mock:
        route = mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
        async with IReferClient(campaign_id=7, rate_limit=None) as client:
            await client.campaign_stats()
    assert route.calls.last.request.url.params["api_key"] == API_KEY


async def test_campaign_id_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """All four documented variables set: `IReferClient()` needs no argument at all."""
    monkeypatch.setenv("IREFER_LICENSE_KEY", LICENSE_KEY)
    monkeypatch.setenv("IREFER_API_KEY", API_KEY)
    monkeypatch.setenv("IREFER_BASE_URL", "http://emulator.test/v1.0/")
    monkeypatch.setenv("IREFER_CAMPAIGN_ID", "2605")
    with respx.mock(base_url=f"http://emulator.test/v1.0/{LICENSE_KEY}.js/") as mock:
        route = mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
        async with IReferClient(rate_limit=None) as client:
            assert client.campaign_id == 2605
            await client.campaign_stats()
        async with IReferClient(campaign_id=7, rate_limit=None) as client:  # an argument wins
            await client.campaign_stats()
    assert [c.request.url.params["campaign_id"] for c in route.calls] == ["2605", "7"]
    monkeypatch.setenv("IREFER_CAMPAIGN_ID", "abc")
    with pytest.raises(ConfigurationError, match="IREFER_CAMPAIGN_ID"):
        IReferClient()
    monkeypatch.delenv("IREFER_CAMPAIGN_ID")
    async with IReferClient(rate_limit=None) as client:
        with pytest.raises(InvalidRequestError, match="set IREFER_CAMPAIGN_ID"):
            await client.campaign_stats()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"license_key": None}, "license_key is missing"),
        ({"license_key": "W4qLshort"}, "28 more characters"),
        ({"license_key": "X" * 32}, "does not start with 'W4qL'"),
        ({"license_key": "W4qL" + "!" * 28}, "only letters and digits"),
        ({"api_key": None}, "api_key is missing"),
        ({"base_url": "ftp://x"}, "base_url must be an http"),
        ({"campaign_id": -1}, "campaign_id"),
        ({"rate_limit": "fast"}, "rate_limit must be"),
        ({"rate_limit": 0}, "rate must be a positive number"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"retry": 3}, "retry must be a RetryConfig"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_bad_configuration_is_rejected_by_the_constructor(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], message: str
) -> None:
    monkeypatch.delenv("IREFER_LICENSE_KEY", raising=False)
    monkeypatch.delenv("IREFER_API_KEY", raising=False)
    args = {"license_key": LICENSE_KEY, "api_key": API_KEY, **kwargs}
    with pytest.raises(ConfigurationError, match=message) as info:
        IReferClient(**args)  # type: ignore[arg-type]
    assert LICENSE_KEY not in str(info.value)


def test_license_key_error_does_not_echo_the_key() -> None:
    wrong = "W4qL" + "a" * 20
    with pytest.raises(ConfigurationError) as info:
        IReferClient(wrong, API_KEY)
    assert wrong not in str(info.value)


def test_repr_shows_no_secret() -> None:
    client = make_client()
    text = repr(client)
    assert LICENSE_KEY not in text and API_KEY not in text
    assert "campaign_id=2605" in text


async def test_aclose_is_idempotent_and_closes_the_owned_http_client() -> None:
    client = make_client()
    http = client._http
    await client.aclose()
    await client.aclose()
    assert http.is_closed and client.is_closed


async def test_injected_http_client_is_never_closed(mock: respx.MockRouter) -> None:
    mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
    async with httpx.AsyncClient() as http:
        async with make_client(http_client=http) as client:
            await client.campaign_stats()
        assert not http.is_closed


async def test_a_closed_client_raises_a_clear_error(mock: respx.MockRouter) -> None:
    route = mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
    client = make_client()
    await client.aclose()
    with pytest.raises(ClientStateError, match="closed"):
        await client.campaign_stats()
    with pytest.raises(ClientStateError):
        async with client:
            pass
    assert route.call_count == 0


def test_one_client_used_from_two_event_loops_raises(mock: respx.MockRouter) -> None:
    mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
    client = make_client()
    asyncio.run(client.campaign_stats())
    with pytest.raises(ClientStateError, match="another event loop"):
        asyncio.run(client.campaign_stats())


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        make_client(
            http_client=httpx.AsyncClient(),
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        )


async def test_transport_argument_is_used_by_the_built_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=samples.CAMPAIGN_STATS)

    async with make_client(transport=httpx.MockTransport(handler)) as client:
        stats = await client.campaign_stats()
    assert stats.total_views == 126 and len(seen) == 1
    assert seen[0].headers["user-agent"].startswith("irefer-async/")


def test_connection_pool_matches_concurrency() -> None:
    client = make_client(max_concurrency=16, rate_limit=RateLimit(10))
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == 16 and pool._max_keepalive_connections == 16


def test_max_concurrency_is_exposed() -> None:
    assert make_client(max_concurrency=7).max_concurrency == 7
    assert make_client(max_concurrency=None).max_concurrency is None


def _snapshot(http: httpx.AsyncClient) -> dict[str, object]:
    return {
        "event_hooks": {kind: list(hooks) for kind, hooks in http.event_hooks.items()},
        "headers": dict(http.headers),
        "params": str(http.params),
        "cookies": dict(http.cookies),
        "timeout": http.timeout,
        "base_url": str(http.base_url),
        "auth": http.auth,
        "follow_redirects": http.follow_redirects,
        "is_closed": http.is_closed,
    }


async def test_injected_http_client_comes_back_exactly_as_given(mock: respx.MockRouter) -> None:
    """Event hooks, headers and settings of an injected client are unchanged by the SDK's life.

    The SDK's events still carry the response status and headers (seen by its own sender).
    """
    mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS, headers={"x-seen": "1"})

    async def user_hook(response: httpx.Response) -> None:
        return None

    events: list[object] = []
    async with httpx.AsyncClient(
        headers={"X-Mine": "1"}, event_hooks={"response": [user_hook]}
    ) as http:
        before = _snapshot(http)
        async with make_client(
            http_client=http, event_hooks={"response": [events.append]}
        ) as client:
            assert _snapshot(http) == before
            await client.campaign_stats()
            assert _snapshot(http) == before
        assert _snapshot(http) == before
        assert http.event_hooks["response"] == [user_hook]
    (event,) = events
    assert getattr(event, "status", None) == 200
    headers = getattr(event, "headers", None)
    assert headers is not None and headers["x-seen"] == "1"
