"""httpx2 beside httpx: the SDK builds or accepts an httpx2 client, and behaves the same on it.

respx does not intercept httpx2, so these tests use the emulator's httpx2 in-process transport
and its loopback server (``Emulator.serve``: the real httpcore2 pool on a socket).
"""

from __future__ import annotations

import logging

import httpx
import pytest
from helpers import API_KEY, LICENSE_KEY

from irefer_async import (
    ConfigurationError,
    ConnectError,
    IReferClient,
    RequestTimeoutError,
    RetryConfig,
    TransportError,
)
from irefer_async._errors import translate_transport_error
from irefer_async._redact import Redactor
from irefer_async.testing import Emulator, WriteEffect

httpx2 = pytest.importorskip("httpx2")

NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0)


def _emulator() -> Emulator:
    emulator = Emulator()
    emulator.add_participant("ann@example.com")
    return emulator


async def test_the_sdk_builds_an_httpx2_client_on_request() -> None:
    emulator = _emulator()
    async with emulator.client(http_stack="httpx2") as client:
        assert isinstance(client._http, httpx2.AsyncClient)
        assert client._sender.trusted
        stats = await client.referrer_stats("ann@example.com")
        signup = await client.new_signup("bob@example.com")
    assert stats.email == "ann@example.com" and signup.reconciled is False
    assert emulator.participant("bob@example.com") is not None


async def test_an_injected_httpx2_client_is_used_through_its_get_and_left_as_given() -> None:
    emulator = _emulator()
    seen: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(request.url.path)

    http = httpx2.AsyncClient(
        transport=emulator.transport("httpx2"), event_hooks={"request": [hook]}
    )
    async with http:
        spec = emulator.default_campaign
        client = IReferClient(
            spec.license_key,
            spec.api_key,
            campaign_id=spec.id,
            base_url="http://irefer.test/v1.0/",
            http_client=http,
            rate_limit=None,
        )
        async with client:
            assert client._sender.trusted is False  # an injected client is not judged
            await client.referrer_stats("ann@example.com")
        assert not http.is_closed
    assert len(seen) == 1 and seen[0].endswith("/referrerStats")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"http_stack": "requests"}, 'http_stack must be "httpx" or "httpx2"'),
        ({"http_stack": "httpx2", "transport": "aiohttp"}, "httpx stack's alternative"),
        ({"http_stack": "httpx", "http_client": "httpx2-client"}, "httpx2's"),
        ({"http_stack": "httpx2", "transport": "httpx-transport"}, "httpx's"),
        ({"transport": object()}, "AsyncBaseTransport"),
    ],
)
def test_bad_stack_options_are_refused_by_name(kwargs: dict[str, object], match: str) -> None:
    if kwargs.get("http_client") == "httpx2-client":
        kwargs["http_client"] = httpx2.AsyncClient()
    if kwargs.get("transport") == "httpx-transport":
        kwargs["transport"] = httpx.AsyncHTTPTransport()
    with pytest.raises(ConfigurationError, match=match):
        IReferClient(LICENSE_KEY, API_KEY, **kwargs)  # type: ignore[arg-type]


def test_a_missing_httpx2_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    def not_installed(name: str) -> object:
        raise ImportError(name=name)

    monkeypatch.setattr(importlib, "import_module", not_installed)
    with pytest.raises(ConfigurationError, match=r"irefer-async\[httpx2\]"):
        IReferClient(LICENSE_KEY, API_KEY, http_stack="httpx2")


def test_an_httpx2_timeout_is_accepted() -> None:
    client = IReferClient(
        LICENSE_KEY, API_KEY, http_stack="httpx2", timeout=httpx2.Timeout(3.0, connect=1.0)
    )
    assert client._http.timeout.as_dict() == {
        "connect": 1.0,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }


@pytest.mark.parametrize(
    ("exc", "expected", "phase", "sent"),
    [
        (httpx2.ConnectError, ConnectError, None, False),
        (httpx2.ConnectTimeout, RequestTimeoutError, "connect", False),
        (httpx2.PoolTimeout, RequestTimeoutError, "pool", False),
        (httpx2.ReadTimeout, RequestTimeoutError, "read", True),
        (httpx2.RemoteProtocolError, TransportError, None, True),
    ],
)
def test_httpx2_errors_are_translated_like_httpx_ones(
    exc: type[Exception], expected: type[Exception], phase: str | None, sent: bool
) -> None:
    redactor = Redactor(LICENSE_KEY, API_KEY)
    error = translate_transport_error(
        exc(f"failed GET https://x/{LICENSE_KEY}.js/m?api_key={API_KEY}"),
        method="m",
        redactor=redactor,
    )
    assert type(error) is expected
    assert getattr(error, "phase", None) == phase
    assert error.maybe_processed is sent
    cause = error.__cause__
    assert type(cause) is exc and LICENSE_KEY not in str(cause) and API_KEY not in str(cause)


async def test_emulator_faults_on_httpx2_keep_writes_safe() -> None:
    """A refused connection is resent; a drop after the write is reconciled, not resent."""
    emulator = _emulator()
    async with emulator.client(http_stack="httpx2", retry=NO_WAIT) as client:
        emulator.inject_faults(["connect_refused"], method="newSignup")
        first = await client.new_signup("c1@example.com")
        emulator.inject_faults(["drop_after"], method="newSignup")
        second = await client.new_signup("c2@example.com")
    assert first.reconciled is False and second.reconciled is True
    writes = [
        e
        for e in emulator.journal
        if e.method == "newSignup" and e.effect is WriteEffect.PARTICIPANT_CREATED
    ]
    assert len(writes) == 2


async def test_httpx2_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    emulator = _emulator()
    with caplog.at_level(logging.DEBUG, logger="httpx2"):
        async with emulator.client(http_stack="httpx2") as client:
            await client.referrer_stats("ann@example.com")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx2"]
    spec = emulator.default_campaign
    assert lines and all(spec.license_key not in line for line in lines)
    assert all(spec.api_key not in line for line in lines)


async def test_httpx2_over_loopback_with_a_real_pool(caplog: pytest.LogCaptureFixture) -> None:
    """httpcore2 on a socket: a read, a write, and a dropped write reconciled; logs redacted."""
    pytest.importorskip("uvicorn")
    emulator = _emulator()
    spec = emulator.default_campaign
    with caplog.at_level(logging.DEBUG):
        async with emulator.serve() as base_url:
            client = IReferClient(
                spec.license_key,
                spec.api_key,
                campaign_id=spec.id,
                base_url=base_url,
                http_stack="httpx2",
                rate_limit=None,
                retry=NO_WAIT,
            )
            async with client:
                assert isinstance(client._http, httpx2.AsyncClient) and client._sender.trusted
                await client.referrer_stats("ann@example.com")
                emulator.inject_faults(["drop_after"], method="newSignup")
                signup = await client.new_signup("d@example.com")
    assert signup.reconciled is True
    assert [e.method for e in emulator.journal].count("newSignup") == 1
    core = [r.getMessage() for r in caplog.records if r.name.startswith("httpcore2")]
    assert core, "httpcore2 logged nothing at DEBUG"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert spec.license_key not in text and spec.api_key not in text
