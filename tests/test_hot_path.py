"""The send step: every request goes through the stack's public API (``build_request`` + ``send``).

What must not change: respx (both of its mockers) and OpenTelemetry's httpx instrumentation
still see every request, the client's timeouts and headers are on it, httpx's log line is
written (and redacted), and an injected client's hooks and auth apply.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, BASE, LICENSE_KEY, make_client

from irefer_async import InvalidRequestError, IReferClient, RetryConfig

NO_RETRY: Any = None


async def test_the_direct_request_is_what_the_client_would_have_sent(
    mock: respx.MockRouter,
) -> None:
    """Same URL, headers (User-Agent, Accept, Host...) and the client's timeouts."""
    route = mock.get("referrerStats").respond(json=samples.REFERRER_STATS)
    async with make_client(timeout=httpx.Timeout(7.0, connect=3.0)) as client:
        await client.referrer_stats("ann+x@example.com")
        expected = client._http.build_request(
            "GET",
            client._sender.url_for(
                "referrerStats", {"campaign_id": "2605", "email": "ann+x@example.com"}
            ),
        )
    sent = route.calls.last.request
    assert str(sent.url) == str(expected.url)
    assert sent.url.params["email"] == "ann+x@example.com"
    assert sent.url.params["api_key"] == API_KEY
    assert sent.headers["user-agent"].startswith("irefer-async/")
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["host"] == "api.irefer.io"
    assert sent.extensions["timeout"] == {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 7.0}


async def test_respx_httpx_mocker_intercepts_the_direct_path() -> None:
    """respx's ``using="httpx"`` mocker patches ``AsyncClient._transport_for_url``."""
    with respx.mock(base_url=BASE, using="httpx") as router:
        route = router.get("referrerStats").respond(json=samples.REFERRER_STATS)
        async with make_client(retry=NO_RETRY) as client:
            stats = await client.referrer_stats("ann@example.com")
    assert route.call_count == 1 and stats.email == samples.REFERRER_STATS["email"]


async def test_an_unread_response_releases_its_connection_on_failure(
    mock: respx.MockRouter,
) -> None:
    """A body that fails half-way is closed (the pool gets its connection back)."""

    class Broken(httpx.AsyncByteStream):
        closed = False

        async def __aiter__(self) -> Any:
            yield b'{"email":'
            raise httpx.ReadError("connection reset")

        async def aclose(self) -> None:
            Broken.closed = True

    mock.get("referrerStats").mock(return_value=httpx.Response(200, stream=Broken()))
    async with make_client(retry=NO_RETRY) as client:
        with pytest.raises(Exception, match="ReadError"):
            await client.referrer_stats("ann@example.com")
    assert Broken.closed


async def test_httpx_log_line_is_still_written_and_redacted(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get("referrerStats").respond(json=samples.REFERRER_STATS)
    with caplog.at_level(logging.INFO, logger="httpx"):
        async with make_client() as client:
            await client.referrer_stats("ann@example.com")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(lines) == 1 and lines[0].startswith("HTTP Request: GET ")
    assert '"HTTP/1.1 200 OK"' in lines[0]
    assert LICENSE_KEY not in lines[0] and API_KEY not in lines[0]


async def test_a_url_too_long_for_httpx_is_still_refused_before_sending(
    mock: respx.MockRouter,
) -> None:
    route = mock.get("newSignup").respond(json=samples.NEW_SIGNUP)
    async with make_client() as client:
        with pytest.raises(InvalidRequestError, match="too long"):
            await client.new_signup("ann@example.com", info_1="x" * 70_000)
    assert route.call_count == 0


async def test_opentelemetry_httpx_instrumentation_sees_the_direct_path(
    mock: respx.MockRouter,
) -> None:
    """``HTTPXClientInstrumentor().instrument()`` wraps ``AsyncHTTPTransport``: one span."""
    otel = pytest.importorskip("opentelemetry.instrumentation.httpx")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    mock.get("referrerStats").respond(json=samples.REFERRER_STATS)
    instrumentor = otel.HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        async with make_client() as client:
            await client.referrer_stats("ann@example.com")
    finally:
        instrumentor.uninstrument()
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["GET"]
    assert spans[0].attributes is not None
    assert spans[0].attributes.get("http.status_code", 200) == 200


async def test_an_injected_client_is_sent_through_its_own_get(mock: respx.MockRouter) -> None:
    """Its event hooks and auth apply, as the user configured them."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers["authorization"])

    mock.get("referrerStats").respond(json=samples.REFERRER_STATS)
    async with httpx.AsyncClient(event_hooks={"request": [hook]}, auth=("user", "pw")) as http:
        client = IReferClient(
            LICENSE_KEY,
            API_KEY,
            campaign_id=2605,
            http_client=http,
            rate_limit=None,
            retry=RetryConfig(attempts=1),
        )
        async with client:
            await client.referrer_stats("ann@example.com")
    assert seen == ["Basic dXNlcjpwdw=="]
