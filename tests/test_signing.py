"""Signed webhooks: sign_payload / verify_signature, tampering and the replay window."""

from __future__ import annotations

import pytest

from irefer_async import InvalidRequestError
from irefer_async.feed import SignatureError, sign_payload, verify_signature

BODY = b'{"id":"evt_1","type":"reward.triggered"}'
SECRET = "whsec-test-0123456789"
NOW = 1_800_000_000


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    """The header made by sign_payload verifies for the same body and secret."""
    header = sign_payload(BODY, SECRET, timestamp=NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify_signature(BODY, header, SECRET, now=NOW + 10) == NOW
    assert verify_signature(BODY.decode(), header, SECRET.encode(), now=NOW) == NOW


@pytest.mark.parametrize(
    ("body", "secret"),
    [(BODY + b" ", SECRET), (BODY.replace(b"evt_1", b"evt_2"), SECRET), (BODY, SECRET + "x")],
    ids=["trailing-byte", "changed-id", "wrong-secret"],
)
def test_a_changed_body_or_another_secret_is_rejected(body: bytes, secret: str) -> None:
    """Any change to the body, or the wrong secret: no match."""
    header = sign_payload(BODY, SECRET, timestamp=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(body, header, secret, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_replays_outside_the_window_are_rejected(offset: int) -> None:
    """A correctly signed request older (or newer) than the tolerance is refused."""
    header = sign_payload(BODY, SECRET, timestamp=NOW)
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature(BODY, header, SECRET, now=NOW - offset)
    assert verify_signature(BODY, header, SECRET, now=NOW - offset, tolerance=abs(offset)) == NOW


def test_a_replayed_timestamp_cannot_be_refreshed() -> None:
    """Moving t forward to get back into the window breaks the signature."""
    old = sign_payload(BODY, SECRET, timestamp=NOW - 3600)
    forged = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(BODY, forged, SECRET, now=NOW)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=12", "t=x,v1=abc", "garbage"])
def test_missing_or_malformed_headers_are_rejected(header: str | None) -> None:
    """No header, no timestamp or no v1 part: a SignatureError saying so."""
    with pytest.raises(SignatureError, match=r"missing|malformed"):
        verify_signature(BODY, header, SECRET, now=NOW)


def test_one_of_several_signatures_may_match() -> None:
    """During a secret rotation a header may carry two v1 parts; either one verifies."""
    ours = sign_payload(BODY, SECRET, timestamp=NOW).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{ours}"
    assert verify_signature(BODY, header, SECRET, now=NOW) == NOW


def test_an_empty_secret_or_negative_tolerance_is_a_usage_error() -> None:
    """An empty secret would make every signature forgeable: refused."""
    with pytest.raises(InvalidRequestError, match="secret is empty"):
        sign_payload(BODY, "")
    with pytest.raises(InvalidRequestError, match="tolerance"):
        verify_signature(BODY, "t=1,v1=a", SECRET, tolerance=-1)
