"""Keeping the license key and the api_key out of every text the SDK or httpx produces.

Both secrets travel in the request URL (the license key in the path, the api_key in the
query string), so anything that prints a URL can leak them: httpx's INFO log line
``HTTP Request: GET https://...``, httpx exception messages, reprs. Two mechanisms:

* `Redactor` replaces a client's secrets (raw and percent-encoded) in a text; the
  error translation and every repr use it.
* `install_log_filter` puts a filter on the ``httpx`` and ``httpcore.*`` loggers (and
  httpx2's ``httpx2`` and ``httpcore2.*``) that rewrites each record through every live
  client's redactor, and at INFO and above masks every query value (participant data:
  emails, names, phones). Filters only run for records that pass the level check, so this
  costs nothing when those loggers are quiet.
* `Redactor.quote` is how a body or URL is quoted in an error: redacted whole, every
  fragment of 6+ characters of a secret masked, and only then cut.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from urllib.parse import quote, quote_plus

MASK = "***"

#: Loggers whose records may carry a request URL (httpx logs it at INFO).
_FOREIGN_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    # httpx2 (the irefer-async[httpx2] stack) logs the same lines under its own names.
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


def _variants(secret: str) -> list[str]:
    """Return the forms a secret may take in a URL or message, longest first."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    return sorted((f for f in forms if f), key=len, reverse=True)


class Redactor:
    """Replaces a set of secrets in any text with ``***``."""

    __slots__ = ("_forms",)

    def __init__(self, *secrets: str | None) -> None:
        forms: list[str] = []
        for secret in secrets:
            if secret:
                forms.extend(_variants(secret))
        self._forms = tuple(sorted(set(forms), key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every form this redactor removes (for the log filter registry)."""
        return self._forms

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``***``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def quote(self, text: str, limit: int) -> str:
        """Return ``text`` fit to quote: redacted whole, any fragment masked, then cut.

        Redacting first means a cut can never split a secret and hide it; a text that holds
        only part of a secret (a server echoing a truncated URL) loses every fragment of
        `FRAGMENT` characters or more too.
        """
        text = self.redact(text)
        for form in self._forms:
            text = _mask_fragments(text, form)
        return text if len(text) <= limit else text[:limit] + "..."

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._forms)} secret forms>"


#: The shortest piece of a secret that counts as a leak.
FRAGMENT = 6


def _mask_fragments(text: str, secret: str) -> str:
    """Mask every run of `FRAGMENT` or more characters of ``secret`` found in ``text``."""
    if len(secret) < FRAGMENT:
        return text
    changed = True
    while changed:
        changed = False
        for start in range(len(secret) - FRAGMENT + 1):
            piece = secret[start : start + FRAGMENT]
            at = text.find(piece)
            if at < 0:
                continue
            # Grow the match to the longest run of the secret from here, then mask it.
            end = at + FRAGMENT
            offset = start + FRAGMENT
            while end < len(text) and offset < len(secret) and text[end] == secret[offset]:
                end += 1
                offset += 1
            text = f"{text[:at]}{MASK}{text[end:]}"
            changed = True
    return text


class _Registry:
    """The secrets of every open client, counted so two clients may share a key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._redactor = Redactor()

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._counts.update(redactor.secrets)
            self._rebuild()

    def remove(self, redactor: Redactor) -> None:
        with self._lock:
            self._counts.subtract(redactor.secrets)
            self._counts = +self._counts  # drop zero counts
            self._rebuild()

    def _rebuild(self) -> None:
        self._redactor = Redactor(*self._counts)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)


REGISTRY = _Registry()


#: A query parameter's value in a URL: ``email=ann%40x.io`` in ``?campaign_id=1&email=...``.
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'?#]+)=[^&\s\"'#]*")


def mask_query_values(text: str) -> str:
    """Replace every query parameter value of the URLs in ``text`` with ``***``."""
    return _QUERY_VALUE.sub(r"\1=" + MASK, text) if "=" in text else text


class SecretFilter(logging.Filter):
    """Rewrites a log record so that no registered secret survives in its message.

    At INFO and above it also masks every query parameter value: the request URL carries the
    participant's email, name and phone, which stay out of logs at INFO (DEBUG keeps them,
    redacted of the secrets).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        clean = REGISTRY.redact(message)
        if record.levelno >= logging.INFO:
            clean = mask_query_values(clean)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


_installed = False


def install_log_filter() -> None:
    """Attach `SecretFilter` to httpx's and httpcore's loggers (idempotent)."""
    global _installed  # noqa: PLW0603 - a process-wide, install-once switch
    if _installed:
        return
    secret_filter = SecretFilter()
    for name in _FOREIGN_LOGGERS:
        logging.getLogger(name).addFilter(secret_filter)
    _installed = True
