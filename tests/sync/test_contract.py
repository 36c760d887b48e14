"""The async client's contract cases, run through both clients: same results, same errors."""

from __future__ import annotations

import contextlib
import inspect
import time
from typing import Any

import pytest
from _sync_support import Driver, sync_client

import irefer_async
from irefer_async import IReferClient as AsyncIReferClient
from irefer_async.doctor import DriftRecorder
from irefer_async.sync import IReferClient
from irefer_async.testing import Emulator, Fault, FaultKind, WriteEffect

AFTER: list[str | Fault] = ["http_5xx_after", "drop_after", "timeout_after", "truncated_json"]
BEFORE = ["http_5xx_before", "http_429", "drop_before", "connect_refused", "null_body"]


def participant_emails(emulator: Emulator) -> list[str]:
    rows = emulator.snapshot()["campaigns"][0]["participants"]
    return [row["email"] for row in rows]


def test_every_endpoint(driver: Driver, emulator: Emulator) -> None:
    """Each of the seven endpoints answers the same typed result through both clients."""
    ann = driver.call("new_signup", "ann@example.com", name="Ann")
    code = ann.referral_link.rsplit("=", 1)[1]
    bob = driver.call("new_signup", "bob@example.com", referrer_code=code, source="t")
    assert bob.referrer == "ann@example.com"
    driver.call("new_specific_action", "bob@example.com", action="/dashboard", referrer_code=code)
    emulator.record_views(10)
    assert driver.call("referrer_stats", "ann@example.com").referrals_made == 1
    assert driver.call("campaign_stats").signups_total == 2
    assert sorted(r.email for r in driver.call("referrers")) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert len(driver.call("rewards")) == 1
    assert len(driver.call("specific_action_signups")) == 1


def test_error_body_is_api_error(driver: Driver) -> None:
    """The guide's error body raises `APIError` with its code."""
    with pytest.raises(irefer_async.APIError) as caught:
        driver.call("referrer_stats", "nobody@example.com")
    assert caught.value.error_code == "irefer_api_referrerStats_err_401"


@pytest.mark.parametrize(
    ("method", "args", "kwargs"),
    [
        ("new_signup", (" ann@example.com",), {}),
        ("referrer_stats", ("ann@example.com",), {"campaign_id": "26x"}),
        ("new_specific_action", ("x",), {"action": "/dashboard", "referrer_code": ""}),
    ],
)
def test_bad_input_is_refused_unsent(
    driver: Driver, emulator: Emulator, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Bad input raises `InvalidRequestError` before any request."""
    with pytest.raises(irefer_async.InvalidRequestError):
        driver.call(method, *args, **kwargs)
    assert len(emulator.journal) == 0


@pytest.mark.parametrize("kind", AFTER, ids=str)
def test_signup_after_fault_never_duplicates(
    driver: Driver, emulator: Emulator, kind: str | Fault
) -> None:
    """A signup whose answer was lost is reconciled, never sent twice blindly."""
    emulator.inject_fault(kind, method="newSignup", call=1)
    result = driver.call("new_signup", "ann@example.com")
    assert result.email == "ann@example.com"
    assert participant_emails(emulator) == ["ann@example.com"]
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 1
    assert emulator.journal.entries("newSignup")[0].fault is FaultKind(str(kind))


@pytest.mark.parametrize("kind", BEFORE)
def test_signup_before_fault_lands_once(driver: Driver, emulator: Emulator, kind: str) -> None:
    """A signup refused before processing is sent again and lands once."""
    emulator.inject_fault(kind, method="newSignup", call=1)
    driver.call("new_signup", "ann@example.com")
    assert participant_emails(emulator) == ["ann@example.com"]
    assert emulator.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0


def test_retries_exhausted_raise_the_same_error(driver: Driver, emulator: Emulator) -> None:
    """When every attempt of a read fails, both clients raise the same typed error."""
    emulator.inject_faults(["http_5xx_before"] * 10, method="campaignStats")
    with pytest.raises(irefer_async.ServerError):
        driver.call("campaign_stats")


def test_seeded_fault_rate_never_duplicates(driver: Driver, emulator: Emulator) -> None:
    """Under a seeded mix of faults, no participant is ever created twice."""
    emulator.inject_fault_rate(
        0.3, ["http_5xx_after", "drop_after", "drop_before"], methods=["newSignup"], seed=7
    )
    for n in range(15):
        with contextlib.suppress(irefer_async.IReferError):
            driver.call("new_signup", f"p{n}@example.com")
    emails = participant_emails(emulator)
    assert len(emails) == len(set(emails))
    assert emulator.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0


def test_streamed_list(driver: Driver, emulator: Emulator) -> None:
    """``iter_referrers`` yields every row, in order, as typed models."""
    emulator.seed_participants(25)
    rows = driver.collect("iter_referrers")
    assert len(rows) == 25
    assert all(isinstance(row, irefer_async.Referrer) for row in rows)
    assert len({row.id for row in rows}) == 25


def test_bulk_accounts_for_every_row(driver: Driver, emulator: Emulator) -> None:
    """Bulk yields one outcome per row, an invalid row among them, in input order if asked."""
    rows: list[Any] = [{"email": f"b{n}@example.com"} for n in range(6)]
    rows.insert(3, {"email": "not an email"})
    outcomes, summary = driver.bulk("bulk_new_signups", rows, ordered=True, concurrency=3)
    assert [o.index for o in outcomes] == list(range(7))
    assert [o.status for o in outcomes].count(irefer_async.BulkStatus.INVALID) == 1
    assert (summary.total, summary.ok, summary.invalid) == (7, 6, 1)
    assert len(participant_emails(emulator)) == 6


def test_closed_client_refuses(driver: Driver) -> None:
    """A closed client raises `ClientStateError`, sending nothing."""
    driver.close()
    with pytest.raises(irefer_async.ClientStateError):
        driver.call("campaign_stats")


def _public(cls: type) -> dict[str, inspect.Signature | str]:
    members: dict[str, inspect.Signature | str] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            members[name] = "property"
        elif callable(member):
            members[name] = inspect.signature(member)
    return members


def _shape(signature: inspect.Signature | str) -> Any:
    if isinstance(signature, str):
        return signature
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_sync_client_mirrors_the_async_one() -> None:
    """Every public method and property of the async client exists on the sync one with the
    same parameters (names, kinds, defaults); ``aclose`` is ``close``. Drift fails here."""
    expected = {
        ("close" if n == "aclose" else n): _shape(s) for n, s in _public(AsyncIReferClient).items()
    }
    actual = {name: _shape(s) for name, s in _public(IReferClient).items()}
    assert actual == expected
    assert _shape(inspect.signature(IReferClient.__init__)) == _shape(
        inspect.signature(AsyncIReferClient.__init__)
    )


def test_decode_observer(emulator: Emulator) -> None:
    """The sync client shows every answer to its decode observer, as the async one does."""
    emulator.add_participant("ann@example.com")
    recorder = DriftRecorder()
    with sync_client(emulator, decode_observer=recorder) as client:
        assert client.decode_observer is recorder
        client.referrers()
    assert recorder.objects["Referrer"] == 1


def test_bulk_actions_and_other_streams(driver: Driver, emulator: Emulator) -> None:
    """Bulk specific actions yield one outcome per row; the other two streams yield rows."""
    ann = emulator.add_participant("ann@example.com")
    rows = [
        {"external_id": f"u{n}", "action": "/dashboard", "referrer_code": ann.code}
        for n in range(4)
    ]
    outcomes, summary = driver.bulk("bulk_new_specific_actions", rows)
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    assert summary.ok == 4
    assert len(driver.collect("iter_specific_action_signups")) == 4
    assert len(driver.collect("iter_rewards")) == len(driver.call("rewards"))


def test_find_landed(driver: Driver, emulator: Emulator) -> None:
    """A write sent earlier is found (reconciled) when it landed, None when it did not."""
    driver.call("new_signup", "ann@example.com")
    sent_at = time.time() - 60  # its settle window is over
    found = driver.call(
        "find_landed", irefer_async.NewSignupRequest("ann@example.com"), sent_at=sent_at
    )
    assert found is not None and found.reconciled
    missing = irefer_async.NewSignupRequest("nobody@example.com")
    assert driver.call("find_landed", missing, sent_at=sent_at) is None
