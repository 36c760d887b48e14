"""Every error family, the shape of each error, and that no secret leaks through any of them."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from pathlib import Path

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY, make_client

import irefer_async
from irefer_async import (
    APIError,
    ConnectError,
    EmptyResponseError,
    HTTPStatusError,
    IReferClient,
    IReferError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from irefer_async._transport import parse_retry_after


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything reachable through __cause__ and __context__."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop()
        if any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        todo += [x for x in vars(e).values() if isinstance(x, BaseException)]
    return seen


def assert_no_secret(exc: BaseException) -> None:
    for e in chain(exc):
        texts = [str(e), repr(e), "".join(traceback.format_exception(e))]
        request = getattr(e, "_request", None)
        if request is not None:
            texts.append(str(request.url))
        for text in texts:
            assert LICENSE_KEY not in text, text
            assert API_KEY not in text, text


def test_the_error_tree_is_drawn_and_rooted_in_ireferror() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    tree = readme.split("<!-- README-TEST: errors -->")[1].split("```")[1]
    for name in irefer_async._errors.__all__:
        cls = getattr(irefer_async, name)
        assert issubclass(cls, IReferError)
        assert re.search(rf"\b{name}\b", tree), f"{name} missing from the drawn tree"
        assert cls.__doc__


async def test_api_error_body_has_code_and_method(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    body = {"error": "input missing or incorrect", "error_code": "irefer_api_referrerStats_err_401"}
    route = mock.get("referrerStats").respond(json=body)
    with pytest.raises(APIError) as info:
        await client.referrer_stats("nobody@x.io")
    err = info.value
    assert err.error_code == "irefer_api_referrerStats_err_401"
    assert err.method == "referrerStats"
    assert err.error == "input missing or incorrect"
    assert route.call_count == 1  # API errors are never retried
    assert_no_secret(err)


@pytest.mark.parametrize("body", [b"", b"null", b" null\n"])
async def test_null_or_empty_body(
    client: IReferClient, mock: respx.MockRouter, body: bytes
) -> None:
    mock.get("campaignStats").respond(content=body)
    with pytest.raises(EmptyResponseError) as info:
        await client.campaign_stats()
    assert info.value.attempts == 4  # retried as a read


@pytest.mark.parametrize(
    "body", [b"<html><body>Bad gateway</body></html>", b'{"campaign_name": "x", "tot']
)
async def test_non_json_body_is_malformed_and_retried(
    client: IReferClient, mock: respx.MockRouter, body: bytes
) -> None:
    route = mock.get("campaignStats").mock(
        side_effect=[
            httpx.Response(200, content=body),
            httpx.Response(200, json=samples.CAMPAIGN_STATS),
        ]
    )
    assert (await client.campaign_stats()).total_views == 126
    assert route.call_count == 2


async def test_wrong_shape_is_malformed_and_not_retried(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.get("campaignStats").respond(json={"campaign_name": "x"})
    with pytest.raises(MalformedResponseError, match="total_views") as info:
        await client.campaign_stats()
    assert route.call_count == 1
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize(
    ("status", "cls"), [(500, ServerError), (503, ServerError), (404, HTTPStatusError)]
)
async def test_http_status_errors(
    client: IReferClient, mock: respx.MockRouter, status: int, cls: type
) -> None:
    mock.get("campaignStats").respond(status)
    with pytest.raises(cls) as info:
        await client.campaign_stats()
    assert info.value.status_code == status


async def test_rate_limited_carries_retry_after(mock: respx.MockRouter) -> None:
    mock.get("campaignStats").respond(429, headers={"Retry-After": "7"})
    async with make_client(retry=None) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.campaign_stats()
    assert info.value.retry_after == 7.0
    assert info.value.status_code == 429


def test_retry_after_parses_seconds_and_http_dates() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("raised", "cls", "maybe_processed"),
    [
        (httpx.ConnectError("boom"), ConnectError, False),
        (httpx.ConnectTimeout("slow"), RequestTimeoutError, False),
        (httpx.PoolTimeout("busy"), RequestTimeoutError, False),
        (httpx.ReadTimeout("slow"), RequestTimeoutError, True),
        (httpx.WriteTimeout("slow"), RequestTimeoutError, True),
        (httpx.RemoteProtocolError("dropped"), TransportError, True),
        (httpx.ReadError("reset"), TransportError, True),
    ],
)
async def test_httpx_exceptions_are_translated_and_redacted(
    mock: respx.MockRouter, raised: Exception, cls: type, maybe_processed: bool
) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        # Put the full secret-bearing URL in the message, as httpx itself does.
        raise type(raised)(f"{raised} while fetching {request.url}", request=request)

    mock.get("campaignStats").mock(side_effect=boom)
    async with make_client(retry=None) as client:
        with pytest.raises(IReferError) as info:
            await client.campaign_stats()
    err = info.value
    assert type(err) is cls
    assert err.maybe_processed is maybe_processed
    assert not isinstance(err, httpx.HTTPError)
    assert isinstance(err.__cause__, type(raised))  # a redacted copy, for debugging
    assert "***" in str(err)
    assert_no_secret(err)


async def test_unexpected_exception_from_a_custom_transport_is_translated() -> None:
    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise OSError(f"socket died talking to {request.url}")

    async with make_client(transport=Broken(), retry=None) as client:
        with pytest.raises(TransportError) as info:
            await client.campaign_stats()
    assert_no_secret(info.value)


async def test_httpx_info_log_of_the_url_is_redacted(
    client: IReferClient, mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get("campaignStats").respond(json=samples.CAMPAIGN_STATS)
    with caplog.at_level(logging.DEBUG):
        await client.campaign_stats()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: GET" in text  # httpx did log the request...
    assert LICENSE_KEY not in text and API_KEY not in text  # ...without the secrets
    assert "***" in text


async def test_secrets_are_redacted_in_percent_encoded_form_too(mock: respx.MockRouter) -> None:
    key = "k+y/with&odd=chars"

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"failed {request.url}", request=request)

    mock.get("campaignStats").mock(side_effect=boom)
    async with IReferClient(LICENSE_KEY, key, campaign_id=1, retry=None, rate_limit=None) as client:
        with pytest.raises(TransportError) as info:
            await client.campaign_stats()
    for e in chain(info.value):
        assert "k%2By%2Fwith%26odd%3Dchars" not in str(e) and key not in str(e)


def test_err_401_says_what_it_may_mean_for_the_method() -> None:
    """The API's one "input missing or incorrect" code gets the causes possible for the method."""
    from irefer_async._errors import APIError

    signup = APIError(
        "input missing or incorrect", "irefer_api_newSignup_err_401", method="newSignup"
    )
    assert "already signed up" in str(signup) and "referrer_code" in str(signup)
    assert "campaign_id" in str(signup)
    stats = APIError(
        "input missing or incorrect", "irefer_api_referrerStats_err_401", method="referrerStats"
    )
    assert "not a participant" in str(stats)
    other = APIError("input missing or incorrect", "irefer_api_rewards_err_401", method="rewards")
    assert str(other).endswith("a wrong license key, api key or campaign_id")
    assert "iRefer answers" not in str(APIError("boom", "other_code", method="rewards"))


def test_network_errors_name_the_server_and_a_404_questions_the_base_url() -> None:
    """ "All connection attempts failed" says to what; a 404 points at the base URL, no key."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async def call(transport: httpx.MockTransport, base_url: str) -> str:
        async with irefer_async.IReferClient(
            LICENSE_KEY, API_KEY, campaign_id=1, base_url=base_url, transport=transport, retry=None
        ) as client:
            with pytest.raises(irefer_async.IReferError) as info:
                await client.campaign_stats()
        return str(info.value)

    refused = asyncio.run(call(httpx.MockTransport(refuse), "http://irefer.test:8765/v1.0/"))
    assert refused.endswith("All connection attempts failed (http://irefer.test:8765)")
    missing = asyncio.run(
        call(httpx.MockTransport(lambda r: httpx.Response(404)), "https://api.irefer.io/v2/")
    )
    assert "HTTP 404; is the base URL right? It is https://api.irefer.io/v2/" in missing
    for text in (refused, missing):
        assert LICENSE_KEY[4:10] not in text and API_KEY not in text


def test_messages_name_the_server_against_a_raw_server_too() -> None:
    """A dropped connection names host:port; a 404 page quoting the path leaks no key."""
    from fake_service import Respond, fake_service

    def not_found_quoting_the_path(line: str) -> tuple[int, dict[str, str], bytes]:
        return 404, {"content-type": "text/html"}, f"<p>Not Found: {line}</p>".encode()

    async def call(respond: Respond) -> tuple[str, str]:
        async with fake_service(respond) as port:
            base_url = f"http://127.0.0.1:{port}/v1.0/"
            client = irefer_async.IReferClient(
                LICENSE_KEY, API_KEY, campaign_id=1, base_url=base_url, retry=None
            )
            async with client:
                with pytest.raises(irefer_async.IReferError) as info:
                    await client.campaign_stats()
        return str(info.value), base_url

    dropped, base = asyncio.run(call(lambda line: None))
    assert dropped.endswith(f"({base.removesuffix('/v1.0/')})"), dropped
    missing, base = asyncio.run(call(not_found_quoting_the_path))
    assert f"HTTP 404; is the base URL right? It is {base}" in missing
    for text in (dropped, missing):
        assert LICENSE_KEY[4:10] not in text and API_KEY not in text
