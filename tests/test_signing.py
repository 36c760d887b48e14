"""Standard Webhooks: sign_payload / verify_signature, and the reference library agrees."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from irefer_async import InvalidRequestError
from irefer_async.feed import SignatureError, generate_secret, sign_payload, verify_signature

BODY = b'{"id":"evt_1","type":"reward.triggered"}'
SECRET = "whsec_" + base64.b64encode(b"feed-test-secret-0123456789abcdef").decode()
OTHER = generate_secret()
NOW = 1_800_000_000


def _signed(body: bytes = BODY, secret: str = SECRET, ts: int = NOW) -> dict[str, str]:
    return sign_payload(body, secret, msg_id="evt_1", timestamp=ts)


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    """The headers made by sign_payload verify for the same body and secret."""
    headers = _signed()
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-signature"].startswith("v1,")
    assert verify_signature(BODY, headers, SECRET, now=NOW + 10) == NOW
    assert verify_signature(BODY.decode(), headers, SECRET, now=NOW) == NOW
    upper = {k.title(): v for k, v in headers.items()}  # header names in any case
    assert verify_signature(BODY, upper, SECRET, now=NOW) == NOW


def test_the_reference_library_accepts_what_we_send() -> None:
    """standardwebhooks.Webhook(secret).verify accepts our headers and returns the body."""
    headers = sign_payload(BODY, SECRET, msg_id="evt_1")
    assert Webhook(SECRET).verify(BODY, headers) == {"id": "evt_1", "type": "reward.triggered"}


def test_we_accept_what_the_reference_library_signs() -> None:
    """Signatures made by standardwebhooks verify with verify_signature (the same scheme)."""
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    signature = Webhook(SECRET).sign("evt_1", stamp, BODY)
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(NOW),
               "webhook-signature": signature}  # fmt: skip
    assert signature == _signed()["webhook-signature"]
    assert verify_signature(BODY, headers, SECRET, now=NOW) == NOW


@pytest.mark.parametrize(
    ("body", "secret"),
    [(BODY + b" ", SECRET), (BODY.replace(b"evt_1", b"evt_2"), SECRET), (BODY, OTHER)],
    ids=["trailing-byte", "changed-id", "wrong-secret"],
)
def test_a_changed_body_or_another_secret_is_rejected_by_both(body: bytes, secret: str) -> None:
    """Any change to the body, or the wrong secret: no match, for us and for the library."""
    headers = sign_payload(BODY, SECRET, msg_id="evt_1")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(body, headers, secret)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(body, headers)


def test_an_old_timestamp_is_rejected_by_both() -> None:
    """A correctly signed request older than five minutes is refused by us and the library."""
    headers = sign_payload(BODY, SECRET, msg_id="evt_1", timestamp=int(time.time()) - 3600)
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature(BODY, headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, headers)


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_replays_outside_the_window_are_rejected(offset: int) -> None:
    """A correctly signed request older (or newer) than the tolerance is refused."""
    headers = _signed()
    with pytest.raises(SignatureError, match="replay window"):
        verify_signature(BODY, headers, SECRET, now=NOW - offset)
    assert verify_signature(BODY, headers, SECRET, now=NOW - offset, tolerance=abs(offset)) == NOW


def test_a_replayed_timestamp_or_id_cannot_be_refreshed() -> None:
    """Moving the timestamp forward, or changing the id, breaks the signature."""
    old = _signed(ts=NOW - 3600)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(BODY, {**old, "webhook-timestamp": str(NOW)}, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(BODY, {**_signed(), "webhook-id": "evt_2"}, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"webhook-id": ""}, "missing header"),
        ({"webhook-signature": ""}, "missing header"),
        ({"webhook-timestamp": "soon"}, "malformed webhook-timestamp"),
        ({"webhook-signature": "v2,abc"}, "malformed webhook-signature"),
    ],
)
def test_missing_or_malformed_headers_are_rejected(change: dict[str, str], match: str) -> None:
    """No id, no signature, a non-numeric timestamp or no v1 part: a SignatureError saying so."""
    with pytest.raises(SignatureError, match=match):
        verify_signature(BODY, {**_signed(), **change}, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="missing header"):
        verify_signature(BODY, {}, SECRET, now=NOW)


def test_one_of_several_signatures_may_match() -> None:
    """During a secret rotation the header carries several space-separated signatures."""
    ours = _signed()["webhook-signature"]
    theirs = _signed(secret=OTHER)["webhook-signature"]
    headers = {**_signed(), "webhook-signature": f"{theirs} {ours}"}
    assert verify_signature(BODY, headers, SECRET, now=NOW) == NOW
    assert verify_signature(BODY, headers, OTHER, now=NOW) == NOW


@pytest.mark.parametrize(
    ("secret", "match"),
    [
        ("", "whsec_"),
        ("whsec_", "empty"),
        ("whsec-feed-test-secret", "whsec_<base64>"),
        ("whsec_not base64!", "not valid base64"),
        (b"", "empty"),
    ],
)
def test_a_bad_secret_is_a_usage_error_that_does_not_quote_it(
    secret: str | bytes, match: str
) -> None:
    """An empty, free-text or non-base64 secret is refused, naming the form, not the value."""
    with pytest.raises(InvalidRequestError, match=match) as info:
        sign_payload(BODY, secret, msg_id="evt_1")
    if isinstance(secret, str) and len(secret) > 6:
        assert secret[6:] not in str(info.value)
    with pytest.raises(InvalidRequestError, match="tolerance"):
        verify_signature(BODY, _signed(), SECRET, tolerance=-1)


def test_raw_key_bytes_and_generated_secrets_work() -> None:
    """A bytes secret is the key itself; generate_secret() makes whsec_ secrets of 32 bytes."""
    key = b"k" * 32
    text = "whsec_" + base64.b64encode(key).decode()
    headers = sign_payload(BODY, key, msg_id="evt_1", timestamp=NOW)
    assert verify_signature(BODY, headers, text, now=NOW) == NOW
    made = generate_secret()
    assert len(base64.b64decode(made.removeprefix("whsec_"))) == 32
    assert made != generate_secret()
    with pytest.raises(InvalidRequestError, match="16 bytes"):
        generate_secret(8)
