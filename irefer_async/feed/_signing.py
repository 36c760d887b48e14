"""Signed webhooks: how ``irefer watch --forward`` signs a POST and how a receiver checks it.

The signature header (`SIGNATURE_HEADER`) reads ``t=<unix seconds>,v1=<hex>``, where
``<hex>`` is HMAC-SHA256, keyed by the shared secret, over ``<t>.`` followed by the exact body
bytes. A receiver recomputes it with `verify_signature`, which also rejects a timestamp
outside the replay window, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

from irefer_async import InvalidRequestError, IReferError

__all__ = [
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "SignatureError",
    "sign_payload",
    "verify_signature",
]

#: The header carrying ``t=<timestamp>,v1=<signature>``.
SIGNATURE_HEADER: Final = "X-IRefer-Signature"
#: The header carrying the event id (also in the body), for a receiver's quick dedup.
EVENT_ID_HEADER: Final = "X-IRefer-Event-Id"
#: Seconds a signature stays acceptable either side of the receiver's clock.
DEFAULT_TOLERANCE: Final = 300.0


class SignatureError(IReferError):
    """A webhook's signature is missing, malformed, wrong, or outside the replay window."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise InvalidRequestError("the webhook secret is empty")
    return key


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign_payload(body: bytes, secret: str | bytes, *, timestamp: int | None = None) -> str:
    """Return the signature header value for *body*, at *timestamp* (default: now).

    >>> sign_payload(b"{}", "whsec", timestamp=1700000000)[:13]
    't=1700000000,'
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={_digest(_key(secret), ts, body)}"


def verify_signature(
    body: bytes | str,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a forwarded event: the HMAC over its timestamp and body, and the replay window.

    *body* is the raw request body, exactly as received (not re-serialised JSON). Returns the
    signed timestamp; raises `SignatureError` when the header is missing or malformed,
    when no ``v1`` signature matches (compared in constant time), or when the timestamp is more
    than *tolerance* seconds away from *now* (default: the current time).

    >>> header = sign_payload(b'{"id":"evt_1"}', "whsec")
    >>> verify_signature(b'{"id":"evt_1"}', header, "whsec") > 0
    True
    """
    if tolerance < 0:
        raise InvalidRequestError(f"tolerance must be >= 0 seconds, got {tolerance!r}")
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (want t=...,v1=...)")
    expected = _digest(_key(secret), timestamp, raw)
    if not any(hmac.compare_digest(expected, sig) for sig in signatures):
        raise SignatureError("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            f"timestamp outside the replay window ({int(current - timestamp)} s from now, "
            f"tolerance {tolerance:g} s)"
        )
    return timestamp
