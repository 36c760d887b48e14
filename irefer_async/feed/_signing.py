"""Signed webhooks in the Standard Webhooks format (https://www.standardwebhooks.com).

``irefer watch --forward`` sends each event with three headers:

* ``webhook-id``: the event id (the same on every retry of one event: dedup on it);
* ``webhook-timestamp``: unix seconds when this attempt was signed;
* ``webhook-signature``: ``v1,<base64>``, HMAC-SHA256 keyed by the secret's bytes over
  ``<webhook-id>.<webhook-timestamp>.<body>`` (several space-separated signatures during a
  secret rotation).

Secrets have the form ``whsec_<base64>`` (`generate_secret` makes one). Receivers verify with
any Standard Webhooks library, e.g. ``standardwebhooks.Webhook(secret).verify(body, headers)``,
or with `verify_signature`, which checks the same things without a dependency.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Final

from irefer_async import InvalidRequestError, IReferError

__all__ = [
    "DEFAULT_TOLERANCE",
    "SECRET_PREFIX",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "SignatureError",
    "check_secret",
    "generate_secret",
    "sign_payload",
    "verify_signature",
]

#: The header carrying the message (event) id.
WEBHOOK_ID_HEADER: Final = "webhook-id"
#: The header carrying the signing time, in unix seconds.
WEBHOOK_TIMESTAMP_HEADER: Final = "webhook-timestamp"
#: The header carrying ``v1,<base64 signature>`` (space-separated when there are several).
WEBHOOK_SIGNATURE_HEADER: Final = "webhook-signature"
#: How a secret in text form starts.
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret
#: Seconds a signature stays acceptable either side of the receiver's clock.
DEFAULT_TOLERANCE: Final = 300.0


class SignatureError(IReferError):
    """A webhook's signature is missing, malformed, wrong, or outside the replay window."""


def generate_secret(nbytes: int = 32) -> str:
    """Return a new random secret in the ``whsec_<base64>`` form.

    >>> generate_secret().startswith("whsec_")
    True
    """
    if nbytes < 16:
        raise InvalidRequestError(f"a webhook secret needs at least 16 bytes, got {nbytes}")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def _key(secret: str | bytes) -> bytes:
    """Return the HMAC key: the bytes given, or the base64 after ``whsec_`` of a text secret."""
    if isinstance(secret, bytes):
        key = secret
    else:
        if not secret.startswith(SECRET_PREFIX):
            # Never quote the value: it is a secret.
            raise InvalidRequestError(
                "the webhook secret must have the Standard Webhooks form whsec_<base64> "
                "(make one with irefer_async.feed.generate_secret()); free-text secrets of "
                "earlier versions are not accepted (see the CHANGELOG's migration note)"
            )
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                "the webhook secret's part after whsec_ is not valid base64"
            ) from None
    if not key:
        raise InvalidRequestError("the webhook secret is empty")
    return key


def check_secret(secret: str | bytes) -> None:
    """Raise `InvalidRequestError` unless *secret* is usable (before anything is sent)."""
    _key(secret)


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_payload(
    body: bytes, secret: str | bytes, *, msg_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for *body* as message *msg_id*.

    *timestamp* defaults to now (sign each attempt afresh, so a retry is not refused as
    old). *secret* is ``whsec_<base64>`` text or the raw key bytes.

    >>> headers = sign_payload(b"{}", generate_secret(), msg_id="evt_1", timestamp=1700000000)
    >>> sorted(headers)
    ['webhook-id', 'webhook-signature', 'webhook-timestamp']
    """
    if not msg_id or any(c.isspace() for c in msg_id):
        raise InvalidRequestError(f"msg_id must be non-empty, without spaces: {msg_id!r}")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        WEBHOOK_ID_HEADER: msg_id,
        WEBHOOK_TIMESTAMP_HEADER: str(ts),
        WEBHOOK_SIGNATURE_HEADER: _signature(_key(secret), msg_id, ts, body),
    }


def verify_signature(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a Standard Webhooks request: the signature over id, timestamp and body, and age.

    *body* is the raw request body, exactly as received (not re-serialised JSON); *headers*
    any mapping of the request's headers (names in any case, e.g. Starlette's
    ``request.headers``). Returns the signed timestamp; raises `SignatureError` when a header
    is missing or malformed, when no ``v1`` signature matches (compared in constant time), or
    when the timestamp is more than *tolerance* seconds away from *now* (default: the
    current time). Accepts what ``standardwebhooks.Webhook(secret).verify`` accepts.

    >>> secret = generate_secret()
    >>> headers = sign_payload(b'{"id":"evt_1"}', secret, msg_id="evt_1")
    >>> verify_signature(b'{"id":"evt_1"}', headers, secret) > 0
    True
    """
    if tolerance < 0:
        raise InvalidRequestError(f"tolerance must be >= 0 seconds, got {tolerance!r}")
    key = _key(secret)
    lower = {str(name).lower(): value for name, value in headers.items()}
    msg_id = lower.get(WEBHOOK_ID_HEADER)
    stamp = lower.get(WEBHOOK_TIMESTAMP_HEADER)
    signatures = lower.get(WEBHOOK_SIGNATURE_HEADER)
    missing = [
        name
        for name, value in (
            (WEBHOOK_ID_HEADER, msg_id),
            (WEBHOOK_TIMESTAMP_HEADER, stamp),
            (WEBHOOK_SIGNATURE_HEADER, signatures),
        )
        if not value
    ]
    if missing or msg_id is None or stamp is None or signatures is None:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    if not stamp.strip().isdigit():
        raise SignatureError(f"malformed {WEBHOOK_TIMESTAMP_HEADER} header (want unix seconds)")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"timestamp outside the replay window ({int(current - timestamp)} s from now, "
            f"tolerance {tolerance:g} s)"
        )
    raw = body.encode() if isinstance(body, str) else bytes(body)
    expected = _signature(key, msg_id, timestamp, raw).encode()
    candidates = [part for part in signatures.split(" ") if part.startswith("v1,")]
    if not candidates:
        raise SignatureError(f"malformed {WEBHOOK_SIGNATURE_HEADER} header (want v1,<base64>)")
    if not any(hmac.compare_digest(expected, part.encode()) for part in candidates):
        raise SignatureError("signature does not match the body")
    return timestamp
