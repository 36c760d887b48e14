"""The sync client against a raw server that misbehaves: bounded calls, no secret shown."""

from __future__ import annotations

import time

import pytest
from _sync_served import in_thread
from misbehaving_server import misbehaving

import irefer_async
from irefer_async import RetryConfig
from irefer_async.sync import IReferClient

LICENSE_KEY = "W4qL69dbdc0ed0520530bede3c1fc574"
API_KEY = "s3cr3t-api-key"


def _client(url: str, **kwargs: object) -> IReferClient:
    return IReferClient(
        LICENSE_KEY, API_KEY, campaign_id=2605, base_url=url, rate_limit=None, **kwargs
    )  # type: ignore[arg-type]


def test_a_held_call_ends_at_its_deadline() -> None:
    """A server that never answers in time: the blocking call returns at the deadline with a
    typed error, and close() does not wait for the server."""
    with in_thread(misbehaving("hold", {"ok": 1}, hold=30.0)) as server:
        client = _client(server.url, retry=RetryConfig(deadline=0.5, wait_initial=0.0))
        started = time.monotonic()
        with pytest.raises((irefer_async.DeadlineExceededError, irefer_async.RequestTimeoutError)):
            client.campaign_stats()
        assert time.monotonic() - started < 5
        client.close()
        assert time.monotonic() - started < 10


def test_an_error_page_shows_no_secret() -> None:
    """A 500 page quoting the request path (license key in it): the error the sync caller
    gets names neither key, not even a 6-character fragment."""
    with (
        in_thread(misbehaving("error_page")) as server,
        _client(server.url, retry=None) as client,
        pytest.raises(irefer_async.IReferError) as caught,
    ):
        client.campaign_stats()
    text = f"{caught.value!s} {caught.value!r}"
    for secret in (LICENSE_KEY, API_KEY):
        assert not any(secret[i : i + 6] in text for i in range(len(secret) - 5))
