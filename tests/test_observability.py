"""Observability: correlation ids, metadata-only logging, event hooks, raw response metadata."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from irefer_async import (
    APIError,
    ConfigurationError,
    IReferClient,
    ServerError,
    WriteOutcomeUnknownError,
    correlation_scope,
)
from irefer_async._observability import LOGGER, new_correlation_id, start_call
from irefer_async._transport import HttpStack
from irefer_async.hooks import CallEvent
from irefer_async.testing import Emulator


class Recorder:
    """Collects every event, by kind, in order."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def __call__(self, event: CallEvent) -> None:
        self.events.append(event)

    def hooks(self) -> dict[str, Any]:
        return {"request": [self], "response": [self], "retry": [self]}

    def kinds(self) -> list[tuple[str, str, int]]:
        return [(e.kind, e.method, e.attempt) for e in self.events]


def client_with(emulator: Emulator, recorder: Recorder, **kwargs: Any) -> IReferClient:
    return emulator.client(event_hooks=recorder.hooks(), **kwargs)


async def test_hooks_see_request_and_response_with_raw_metadata() -> None:
    """A successful call yields request then response, with status, headers and elapsed."""
    emulator, rec = Emulator(), Recorder()
    async with client_with(emulator, rec) as client:
        await client.new_signup("ann@example.com", name="Ann")
    assert rec.kinds() == [("request", "newSignup", 1), ("response", "newSignup", 1)]
    response = rec.events[1]
    assert response.status == 200
    assert response.headers is not None
    assert "json" in response.headers["content-type"]
    assert response.elapsed >= 0
    assert response.elapsed_ms == response.elapsed * 1000
    assert response.error is None
    assert response.campaign_id == emulator.default_campaign.id
    assert response.write is True
    assert rec.events[0].correlation_id == response.correlation_id
    assert len(response.correlation_id) == 16


async def test_each_call_gets_its_own_correlation_id() -> None:
    """Two calls, two ids; concurrent calls never mix their events."""
    emulator, rec = Emulator(), Recorder()
    emails = [f"p{i}@example.com" for i in range(5)]  # distinct: identical reads would share
    for email in emails:
        emulator.add_participant(email)
    async with client_with(emulator, rec) as client:
        await asyncio.gather(*(client.referrer_stats(email) for email in emails))
    ids = {e.correlation_id for e in rec.events}
    assert len(ids) == 5
    for cid in ids:
        assert [e.kind for e in rec.events if e.correlation_id == cid] == ["request", "response"]


async def test_retry_event_between_attempts() -> None:
    """A retried read reports the failed attempt, a retry event, then the next attempt."""
    emulator, rec = Emulator(), Recorder()
    emulator.add_participant("ann@example.com")
    emulator.inject_fault("http_5xx_before", method="referrerStats", call=1)
    async with client_with(emulator, rec) as client:
        await client.referrer_stats("ann@example.com")
    assert rec.kinds() == [
        ("request", "referrerStats", 1),
        ("response", "referrerStats", 1),
        ("retry", "referrerStats", 2),
        ("request", "referrerStats", 2),
        ("response", "referrerStats", 2),
    ]
    failed, retry, ok = rec.events[1], rec.events[2], rec.events[4]
    assert isinstance(failed.error, ServerError)
    assert failed.status is not None and failed.status >= 500
    assert retry.error is failed.error
    assert ok.status == 200 and ok.error is None
    assert len({e.correlation_id for e in rec.events}) == 1
    assert failed.error.correlation_id == ok.correlation_id


async def test_error_carries_the_calls_correlation_id() -> None:
    """The raised error's correlation_id is the one in the call's events."""
    emulator, rec = Emulator(), Recorder()
    async with client_with(emulator, rec) as client:
        with pytest.raises(APIError) as info:
            await client.referrer_stats("nobody@example.com")
    assert info.value.correlation_id == rec.events[-1].correlation_id
    assert rec.events[-1].error is info.value
    assert rec.events[-1].status == 200  # iRefer answers its errors with HTTP 200


async def test_error_has_correlation_id_without_hooks_or_logging() -> None:
    """The fast path (nothing observing) still stamps errors with an id."""
    async with Emulator().client() as client:
        with pytest.raises(APIError) as first:
            await client.referrer_stats("nobody@example.com")
        with pytest.raises(APIError) as second:
            await client.referrer_stats("nobody@example.com")
    assert first.value.correlation_id and second.value.correlation_id
    assert first.value.correlation_id != second.value.correlation_id


async def test_bad_argument_has_no_correlation_id() -> None:
    """An error raised before any call started has no id."""
    async with Emulator().client() as client:
        with pytest.raises(ValueError, match="email") as info:
            await client.referrer_stats("")
    assert getattr(info.value, "correlation_id", None) is None


async def test_reconciling_read_shares_the_writes_correlation_id() -> None:
    """A write that failed ambiguously and its reconciling read are one logical call."""
    emulator, rec = Emulator(), Recorder()
    emulator.inject_fault("http_5xx_after", method="newSignup", call=1)
    async with client_with(emulator, rec) as client:
        signup = await client.new_signup("ann@example.com")
    assert signup.reconciled
    assert ("request", "referrerStats", 1) in rec.kinds()
    assert len({e.correlation_id for e in rec.events}) == 1


async def test_write_outcome_unknown_carries_one_id_throughout() -> None:
    """WriteOutcomeUnknownError and its write failure share the id; the shared read failed."""
    emulator = Emulator()
    emulator.inject_fault("http_5xx_after", method="newSignup", call=1)
    emulator.inject_fault("http_5xx_before", method="referrers", times=100)
    async with emulator.client() as client:
        with pytest.raises(WriteOutcomeUnknownError) as info:
            await client.new_signup("ann@example.com")
    err = info.value
    assert err.correlation_id is not None
    assert err.last_error.correlation_id == err.correlation_id
    # The reconciling read is shared by every pending write of the campaign: not this call's.
    assert isinstance(err.reconcile_error, ServerError)


async def test_correlation_scope_binds_the_id() -> None:
    """Calls inside correlation_scope use its id; calls outside get their own."""
    emulator, rec = Emulator(), Recorder()
    emulator.add_participant("ann@example.com")
    async with client_with(emulator, rec) as client:
        with correlation_scope("req-42") as cid:
            await client.referrer_stats("ann@example.com")
            with pytest.raises(APIError) as info:
                await client.referrer_stats("nobody@example.com")
        await client.campaign_stats()
    assert cid == "req-42"
    assert info.value.correlation_id == "req-42"
    assert [e.correlation_id for e in rec.events[:4]] == ["req-42"] * 4
    assert rec.events[-1].correlation_id != "req-42"
    with correlation_scope() as fresh:
        assert len(fresh) == 16


async def test_async_hooks_are_awaited() -> None:
    """A coroutine hook is awaited before the call goes on."""
    seen: list[str] = []

    async def hook(event: CallEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.kind)

    async with Emulator().client(event_hooks={"response": [hook]}) as client:
        await client.campaign_stats()
    assert seen == ["response"]


async def test_failing_hook_is_logged_and_never_changes_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken metrics hook cannot fail a call (a write would become ambiguous)."""

    def broken(event: CallEvent) -> None:
        raise RuntimeError("metrics backend down")

    with caplog.at_level(logging.ERROR, logger="irefer_async"):
        async with Emulator().client(event_hooks={"request": [broken]}) as client:
            signup = await client.new_signup("ann@example.com")
    assert signup.email == "ann@example.com"
    assert "event hook" in caplog.text and "metrics backend down" in caplog.text


def test_event_hooks_are_validated() -> None:
    """Unknown kinds and non-callables are configuration errors."""
    with pytest.raises(ConfigurationError, match="keys"):
        Emulator().client(event_hooks={"responses": []})
    with pytest.raises(ConfigurationError, match="callables"):
        Emulator().client(event_hooks={"response": ["not a function"]})


def test_nothing_observed_means_no_trace() -> None:
    """No hook and a quiet logger: a read builds no trace at all (the hot path)."""
    assert not LOGGER.isEnabledFor(logging.INFO)
    assert start_call(None, "referrerStats", "2605", write=False) is None
    assert start_call(None, "newSignup", "2605", write=True) is not None


def test_correlation_ids_are_unique() -> None:
    """Ids never repeat within a process."""
    ids = {new_correlation_id() for _ in range(10_000)}
    assert len(ids) == 10_000


async def test_logs_carry_metadata_only(caplog: pytest.LogCaptureFixture) -> None:
    """Log lines name method, campaign, attempt, status, elapsed, error, id; never PII or keys."""
    emulator = Emulator()
    spec = emulator.default_campaign
    emulator.inject_fault("http_5xx_before", method="referrerStats", call=1)
    with caplog.at_level(logging.DEBUG, logger="irefer_async"):
        async with emulator.client() as client:
            await client.new_signup("ann.secret@example.com", name="Ann Secretname", phone="555")
            await client.referrer_stats("ann.secret@example.com")
            with pytest.raises(APIError) as info:
                await client.referrer_stats("bob.secret@example.com")
    records = [r for r in caplog.records if r.name == "irefer_async"]
    text = "\n".join(r.getMessage() for r in records)
    for secret in ("secret@example", "Secretname", "555", spec.license_key, spec.api_key):
        assert secret not in text
    calls = [r for r in records if r.getMessage().startswith("irefer call ")]
    assert [r.levelno for r in calls] == [logging.INFO] * 3
    assert "method=newSignup" in calls[0].getMessage()
    assert f"campaign_id={spec.id}" in calls[0].getMessage()
    assert "outcome=ok attempts=1 status=200" in calls[0].getMessage()
    assert "elapsed_ms=" in calls[0].getMessage()
    assert "attempts=2" in calls[1].getMessage()
    assert "outcome=failed" in calls[2].getMessage()
    assert "error=APIError:irefer_api_referrerStats_err_401" in calls[2].getMessage()
    assert f"correlation_id={info.value.correlation_id}" in calls[2].getMessage()
    retries = [r for r in records if r.getMessage().startswith("irefer retry ")]
    assert len(retries) == 1 and retries[0].levelno == logging.INFO
    assert "after=ServerError" in retries[0].getMessage()
    debug = [r for r in records if r.levelno == logging.DEBUG]
    assert any(r.getMessage().startswith("irefer request ") for r in debug)
    assert any("status=503" in r.getMessage() or "status=500" in r.getMessage() for r in debug)
    structured = calls[0].irefer  # type: ignore[attr-defined]
    assert structured["method"] == "newSignup" and structured["attempts"] == 1
    assert structured["correlation_id"]


async def test_info_level_logs_no_per_attempt_lines(caplog: pytest.LogCaptureFixture) -> None:
    """At INFO there is one line per call, none per attempt."""
    with caplog.at_level(logging.INFO, logger="irefer_async"):
        async with Emulator().client() as client:
            await client.campaign_stats()
    messages = [r.getMessage() for r in caplog.records if r.name == "irefer_async"]
    assert len(messages) == 1 and messages[0].startswith("irefer call method=campaignStats")


async def test_headers_over_loopback() -> None:
    """Over a real socket, with the SDK's own httpx client, events carry the server's headers."""
    pytest.importorskip("uvicorn")
    emulator, rec = Emulator(), Recorder()
    spec = emulator.default_campaign
    async with (
        emulator.serve() as base_url,
        IReferClient(
            spec.license_key,
            spec.api_key,
            campaign_id=spec.id,
            base_url=base_url,
            rate_limit=None,
            event_hooks={"response": [rec]},
        ) as client,
    ):
        await client.campaign_stats()
    (event,) = rec.events
    assert event.status == 200 and event.headers is not None
    assert "content-length" in event.headers


async def test_headers_with_the_aiohttp_transport() -> None:
    """transport="aiohttp" still goes through httpx.AsyncClient: events carry headers."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("aiohttp")
    emulator, rec = Emulator(), Recorder()
    spec = emulator.default_campaign
    async with emulator.serve() as base_url, IReferClient(
        spec.license_key, spec.api_key, campaign_id=spec.id, base_url=base_url,
        rate_limit=None, transport="aiohttp", event_hooks={"response": [rec]},
    ) as client:  # fmt: skip
        await client.campaign_stats()
    (event,) = rec.events
    assert event.status == 200 and event.headers is not None
    assert "json" in event.headers["content-type"]


async def _spans_over_loopback(
    request_hook: Any, http_stack: HttpStack = "httpx"
) -> list[dict[str, Any]]:
    """Run two calls with httpx globally instrumented; return every span's attributes."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("opentelemetry.instrumentation.httpx")
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emulator = Emulator()
    spec = emulator.default_campaign
    instrumentor = HTTPXClientInstrumentor()
    options: dict[str, Any] = {"tracer_provider": provider}
    if request_hook is not None:
        options["async_request_hook"] = request_hook
    instrumentor.instrument(**options)
    try:
        async with emulator.serve() as base_url, IReferClient(
            spec.license_key, spec.api_key, campaign_id=spec.id, base_url=base_url,
            rate_limit=None, http_stack=http_stack,
        ) as client:  # fmt: skip
            await client.new_signup("ann@example.com")
            await client.referrer_stats("ann@example.com")
    finally:
        instrumentor.uninstrument()
    return [dict(span.attributes or {}) for span in exporter.get_finished_spans()]


def _secrets() -> tuple[str, str]:
    spec = Emulator().default_campaign
    return spec.license_key, spec.api_key


async def test_otel_httpx_instrumentation_records_the_secrets() -> None:
    """Why docs/observability.md warns: plain httpx instrumentation ships both keys."""
    spans = await _spans_over_loopback(None)
    recorded = repr(spans)
    license_key, api_key = _secrets()
    assert spans
    assert license_key in recorded and api_key in recorded


async def test_otel_httpx_instrumentation_does_not_see_the_httpx2_stack() -> None:
    """On ``http_stack="httpx2"`` httpx's instrumentation records no span (docs/observability.md).

    httpx2's client and transports are distinct classes that the instrumentor never wraps: the
    SDK's hooks are the way to trace that stack (they run the same on both).
    """
    pytest.importorskip("httpx2")
    assert await _spans_over_loopback(None, http_stack="httpx2") == []


async def test_otel_scrubbing_hook_from_the_docs_removes_them() -> None:
    """The request hook documented in docs/observability.md leaves no key and no email."""
    import re

    import httpx

    license_re = re.compile(r"[^/]+\.js/")

    def scrubbed(url: httpx.URL) -> str:
        return str(url.copy_with(path=license_re.sub("REDACTED.js/", url.path), query=None))

    async def scrub_url(span: Any, request: Any) -> None:
        if span.is_recording():
            span.set_attribute("http.url", scrubbed(request.url))
            span.set_attribute("url.full", scrubbed(request.url))

    spans = await _spans_over_loopback(scrub_url)
    recorded = repr(spans)
    license_key, api_key = _secrets()
    assert len(spans) == 2
    assert license_key not in recorded and api_key not in recorded
    assert "ann@example.com" not in recorded and "ann%40example.com" not in recorded
    assert "REDACTED.js/newSignup" in recorded


async def test_otel_spans_from_sdk_hooks_as_documented() -> None:
    """The hook-based tracing of docs/observability.md: one span per attempt, no URL."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("irefer")
    spans: dict[tuple[str, int], trace.Span] = {}

    def start_span(event: CallEvent) -> None:
        spans[event.correlation_id, event.attempt] = tracer.start_span(
            f"irefer {event.method}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "irefer.method": event.method,
                "irefer.campaign_id": event.campaign_id or 0,
                "irefer.attempt": event.attempt,
                "irefer.correlation_id": event.correlation_id,
            },
        )

    def end_span(event: CallEvent) -> None:
        span = spans.pop((event.correlation_id, event.attempt), None)
        if span is None:
            return
        if event.status is not None:
            span.set_attribute("http.response.status_code", event.status)
        if event.error is not None:
            span.set_status(trace.StatusCode.ERROR, type(event.error).__name__)
        span.end()

    emulator = Emulator()
    emulator.inject_fault("http_5xx_before", method="newSignup", call=1)
    hooks: dict[str, Any] = {"request": [start_span], "response": [end_span]}
    async with emulator.client(event_hooks=hooks) as client:
        await client.new_signup("ann@example.com")
    finished = exporter.get_finished_spans()
    # The 5xx is ambiguous for a write: an early reconciling read (it can only prove "landed"),
    # the settled one, then the resend; one correlation id.
    names = [s.name for s in finished]
    assert names == ["irefer newSignup", "irefer referrers", "irefer referrers", "irefer newSignup"]
    assert [s.attributes["irefer.attempt"] for s in finished] == [1, 1, 1, 2]  # type: ignore[index]
    assert len({s.attributes["irefer.correlation_id"] for s in finished}) == 1  # type: ignore[index]
    assert finished[0].status.status_code is trace.StatusCode.ERROR
    assert not spans
