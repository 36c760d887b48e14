"""Keeping the license key and the api_key out of every text the SDK or httpx produces.

Both secrets travel in the request URL (the license key in the path, the api_key in the
query string), so anything that prints a URL can leak them: httpx's INFO log line
``HTTP Request: GET https://...``, httpx exception messages, reprs. Two mechanisms:

* `Redactor` replaces a client's secrets (raw and percent-encoded) in a text; the
  error translation and every repr use it.
* `install_log_filter` puts a filter on the ``httpx`` and ``httpcore.*`` loggers (and
  httpx2's ``httpx2`` and ``httpcore2.*``) that rewrites each record through every live
  client's redactor. Filters only run for records that pass the level check, so this costs
  nothing when those loggers are quiet.
"""

from __future__ import annotations

import logging
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

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._forms)} secret forms>"


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


class SecretFilter(logging.Filter):
    """Rewrites a log record so that no registered secret survives in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        clean = REGISTRY.redact(message)
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
