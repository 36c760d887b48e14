"""Writes are resent only when provably harmless: ambiguous failures are reconciled by a settled,
shared read; a signup of an existing email is a DuplicateSignupError with or without a fault."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
from collections import deque
from typing import Any

import httpx
import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY, make_client, run_virtual

from irefer_async import (
    APIError,
    BulkStatus,
    DuplicateSignupError,
    NewSignup,
    NewSignupRequest,
    RetryConfig,
    ServerError,
    WriteOutcomeUnknownError,
)
from irefer_async import _endpoints as ep
from irefer_async._deadline import Deadline
from irefer_async._errors import TransportError
from irefer_async._write_safety import HeldWrite, WriteState

NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0)
SIGNUP_OK = httpx.Response(200, json=samples.NEW_SIGNUP)
NOT_FOUND = {
    "error": "input missing or incorrect",
    "error_code": "irefer_api_referrerStats_err_401",
}
STATS_FOR_NEW = dict(samples.REFERRER_STATS, email="new@x.io", referrals_made=0)
SETTLE = NO_WAIT.settle


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The server's clock in every answer (its Date header) and rows created "now" or long ago.
NOW = 1_900_000_000.0
DATE = {"date": email.utils.formatdate(NOW, usegmt=True)}
NEW_ROW = dict(samples.REFERRERS[0], email="new@x.io", created_at=_iso(NOW - 1))
OLD_ROW = dict(samples.REFERRERS[0], email="new@x.io", created_at=_iso(NOW - 86400))


def referrers(*rows: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json=[*samples.REFERRERS[1:], *rows], headers=DATE)


def at(times: list[float], response: object) -> object:
    """A side effect that records the loop time of each request, then answers."""

    def answer(request: httpx.Request) -> object:
        times.append(asyncio.get_running_loop().time())
        if isinstance(response, Exception):
            raise response
        return response

    return answer


def run_signup(mock: respx.MockRouter, retry: RetryConfig = NO_WAIT, **kwargs: object) -> NewSignup:
    async def main() -> NewSignup:
        async with make_client(retry=retry) as client:
            return await client.new_signup("new@x.io", name="New", **kwargs)  # type: ignore[arg-type]

    return run_virtual(main())


@pytest.mark.parametrize(
    "never_sent",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.PoolTimeout("busy"),
        httpx.Response(429),
    ],
    ids=["connect-error", "connect-timeout", "pool-timeout", "429"],
)
def test_failures_before_the_server_are_resent_without_reconciling(
    mock: respx.MockRouter, never_sent: object
) -> None:
    write = mock.get("newSignup").mock(side_effect=[never_sent, SIGNUP_OK])
    read = mock.get("referrers").mock(return_value=referrers(NEW_ROW))
    result = run_signup(mock)
    assert write.call_count == 2 and read.call_count == 0
    assert result.reconciled is False


@pytest.mark.parametrize(
    "ambiguous",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(200, content=b"null"),
        httpx.Response(200, content=b"<html>oops</html>"),
    ],
    ids=["read-timeout", "dropped", "500", "502", "null", "html"],
)
def test_ambiguous_failure_that_landed_is_proven_by_an_early_read(
    mock: respx.MockRouter, ambiguous: object
) -> None:
    """A read before the settle window may prove "landed": no need to wait for it."""
    written: list[float] = []
    scanned: list[float] = []
    write = mock.get("newSignup").mock(side_effect=[at(written, ambiguous), SIGNUP_OK])
    read = mock.get("referrers").mock(side_effect=at(scanned, referrers(NEW_ROW)))
    stats = mock.get("referrerStats").respond(json=STATS_FOR_NEW)
    result = run_signup(mock)
    assert write.call_count == 1  # never resent: it landed
    assert read.call_count == 1 and scanned[0] - written[0] < SETTLE
    assert stats.call_count == 1  # fills what a referrers row lacks
    assert result.reconciled is True and result.email == "new@x.io"
    assert result.referral_link == samples.REFERRER_STATS["referral_link"]


def test_ambiguous_failure_is_resent_only_after_a_settled_read(mock: respx.MockRouter) -> None:
    """An early read that finds nothing proves nothing; the read after the window decides."""
    written: list[float] = []
    scanned: list[float] = []
    write = mock.get("newSignup").mock(side_effect=at(written, httpx.Response(503)))
    write.side_effect = [at(written, httpx.Response(503)), at(written, SIGNUP_OK)]
    mock.get("referrers").mock(side_effect=at(scanned, referrers()))
    result = run_signup(mock)
    assert write.call_count == 2 and result.reconciled is False
    assert scanned[0] < written[0] + SETTLE  # the early read...
    assert scanned[-1] >= written[0] + SETTLE  # ...and the settled one, which allowed the resend
    assert written[1] >= scanned[-1]


def test_no_settled_read_within_the_deadline_is_unknown(mock: respx.MockRouter) -> None:
    write = mock.get("newSignup").respond(503)
    mock.get("referrers").mock(return_value=referrers())
    retry = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=5, settle=10)
    with pytest.raises(WriteOutcomeUnknownError):
        run_signup(mock, retry=retry)
    assert write.call_count == 1  # never resent


def test_unknown_outcome_when_the_reconciling_read_fails(mock: respx.MockRouter) -> None:
    write = mock.get("newSignup").respond(500)
    read = mock.get("referrers").respond(503)
    with pytest.raises(WriteOutcomeUnknownError) as info:
        run_signup(mock, referrer_code="REF1")
    err = info.value
    assert write.call_count == 1  # not resent
    assert read.call_count >= NO_WAIT.attempts  # the read itself was retried
    assert err.params == {
        "campaign_id": "2605",
        "email": "new@x.io",
        "name": "New",
        "referrer_code": "REF1",
    }
    assert isinstance(err.last_error, ServerError)
    assert API_KEY not in str(err) and LICENSE_KEY not in str(err)
    assert err.__context__ is None


def test_api_error_on_a_write_is_final_unless_the_email_exists(mock: respx.MockRouter) -> None:
    write = mock.get("newSignup").respond(
        json={"error": "bad", "error_code": "irefer_api_newSignup_err_401"}
    )
    read = mock.get("referrers").mock(return_value=referrers())
    with pytest.raises(APIError) as info:
        run_signup(mock)
    assert not isinstance(info.value, DuplicateSignupError)
    assert write.call_count == 1 and read.call_count == 1


@pytest.mark.parametrize("fault", [None, httpx.Response(503)], ids=["refused", "503-first"])
def test_existing_email_is_a_duplicate_with_or_without_a_fault(
    mock: respx.MockRouter, fault: object
) -> None:
    refusal = httpx.Response(
        200, json={"error": "bad", "error_code": "irefer_api_newSignup_err_401"}
    )
    mock.get("newSignup").mock(side_effect=[refusal] if fault is None else [fault, refusal])
    mock.get("referrers").mock(return_value=referrers(dict(OLD_ROW, referrer_email="r@x.io")))
    with pytest.raises(DuplicateSignupError) as info:
        run_signup(mock, referrer_code="REF1")
    err = info.value
    assert err.existed_since == dt.datetime.fromtimestamp(NOW - 86400, dt.timezone.utc)
    assert err.referrer_email == "r@x.io" and err.referrer_code == "REF1"


def test_writes_that_keep_failing_unlanded_stop_at_the_attempt_cap(mock: respx.MockRouter) -> None:
    write = mock.get("newSignup").respond(500)
    mock.get("referrers").mock(return_value=referrers())
    retry = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=math.inf)
    with pytest.raises(ServerError) as info:
        run_signup(mock, retry=retry)
    assert write.call_count == retry.attempts
    assert info.value.attempts == retry.attempts


ACTION = {"external_id": "friend@x.io", "action": "/dashboard", "referrer_code": "CODE"}
ACTION_ROW = dict(
    samples.SPECIFIC_ACTION_SIGNUPS[0], referred_person="friend@x.io", specific_action="/dashboard"
)


def run_action() -> object:
    async def main() -> object:
        async with make_client(retry=NO_WAIT) as client:
            return await client.new_specific_action(
                ACTION["external_id"],
                action=ACTION["action"],
                referrer_code=ACTION["referrer_code"],
            )

    return run_virtual(main())


def test_action_reconciled_through_specific_action_signups(mock: respx.MockRouter) -> None:
    write = mock.get("newSpecificAction").respond(502)
    read = mock.get("specificActionSignups").respond(
        json=[*samples.SPECIFIC_ACTION_SIGNUPS, ACTION_ROW]
    )
    result = run_action()
    assert write.call_count == 1 and read.call_count == 1
    assert result.reconciled is True  # type: ignore[attr-defined]
    assert result.external_id == "friend@x.io"  # type: ignore[attr-defined]


def test_action_not_found_is_resent_after_settling(mock: respx.MockRouter) -> None:
    written: list[float] = []
    write = mock.get("newSpecificAction").mock(
        side_effect=[
            at(written, httpx.ReadTimeout("slow")),
            at(written, httpx.Response(200, json=samples.NEW_SPECIFIC_ACTION)),
        ]
    )
    mock.get("specificActionSignups").respond(json=samples.SPECIFIC_ACTION_SIGNUPS)
    result = run_action()
    assert write.call_count == 2 and written[1] - written[0] >= SETTLE
    assert result.reconciled is False  # type: ignore[attr-defined]


def _order(mock: respx.MockRouter) -> list[str]:
    """The endpoints called, in order."""
    return [call.request.url.path.rsplit("/", 1)[-1] for call in mock.calls]


@pytest.mark.virtual_time
@pytest.mark.parametrize(("found", "resend"), [((NEW_ROW,), False), ((), True)])
async def test_a_bulk_row_is_decided_by_a_settled_read_before_any_resend(
    mock: respx.MockRouter, found: tuple[dict[str, object], ...], resend: bool
) -> None:
    """A bulk row whose write failed ambiguously is held by the run, decided by a read of
    the list (found: landed, no resend; absent from a settled read: resent after it)."""
    write = mock.get("newSignup").mock(side_effect=[httpx.Response(503), SIGNUP_OK])
    mock.get("referrers").mock(return_value=referrers(*found))
    mock.get("referrerStats").respond(json=STATS_FOR_NEW)

    async def main() -> list[Any]:
        async with make_client(retry=NO_WAIT) as client:
            rows = [NewSignupRequest("new@x.io", name="New")]
            async with client.bulk_new_signups(rows) as run:
                return [outcome async for outcome in run]

    loop = asyncio.get_running_loop()
    started = loop.time()
    (outcome,) = await main()
    assert outcome.ok and outcome.result.reconciled is not resend
    order = [name for name in _order(mock) if name != "referrerStats"]
    assert order[0] == "newSignup" and "referrers" in order
    if resend:
        assert order[-2:] == ["referrers", "newSignup"]  # resent right after the settled read
    assert write.call_count == (2 if resend else 1)
    # Found: an early scan may tell; absent: only a scan started after the settle window.
    assert (loop.time() - started >= SETTLE) is resend


@pytest.mark.virtual_time
async def test_a_held_bulk_row_ends_within_its_deadline(mock: respx.MockRouter) -> None:
    """A bulk row that keeps failing ambiguously: each resend only after a settled read
    found nothing, and the row ends by its call's deadline (failed: proven not landed)."""
    write = mock.get("newSignup").respond(503)
    mock.get("referrers").mock(return_value=referrers())
    retry = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, deadline=5, settle=1)

    async def main() -> tuple[float, list[Any]]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with make_client(retry=retry) as client:
            rows = [NewSignupRequest("new@x.io", name="New")]
            async with client.bulk_new_signups(rows) as run:
                outcomes = [outcome async for outcome in run]
        return loop.time() - started, outcomes

    elapsed, (outcome,) = await main()
    assert elapsed <= 5 + 1e-3
    assert outcome.status in {BulkStatus.FAILED, BulkStatus.UNKNOWN}
    assert 2 <= write.call_count <= retry.attempts
    order = _order(mock)
    for i, name in enumerate(order):
        if name == "newSignup" and i:
            assert order[i - 1] == "referrers"  # every resend right after a settled read


async def test_a_write_call_and_its_held_record_print_no_participant_data() -> None:
    """What a write call keeps (in frame locals an error tracker may record) shows no email,
    row or request, nor the answered signups of others it dates its clock by."""
    params = {"email": "private.person@x.io", "name": "Private Person"}
    state = WriteState(ep.NEW_SIGNUP, "1", params, Deadline.after(5.0), None, hold=True)
    state.witnessed = deque([("1", ("other.person@x.io",), 1.0, 2.0)])
    failure = TransportError("newSignup: connection reset", method="newSignup")
    held = HeldWrite(failure, 1.0, state)
    held.row, held.request = dict(params), NewSignupRequest("private.person@x.io")
    shown = " ".join([repr(state), repr(held), str(held)])
    assert "person" not in shown.casefold()
    assert str(held) == str(failure)
