"""Keeping the license key and the api_key out of every text the SDK or its HTTP stacks produce.

Both travel in the request URL, so a URL, or a line a server echoed from it, can leak them.
`Redactor` masks a client's secrets (every form, every `FRAGMENT`-character piece), redacting
first, then cutting; `SecretFilter` does it on the HTTP stacks' (and asyncio's) log records
with the keys of every live client and of the last `RETIRED` closed ones.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
from collections import Counter, deque
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

#: The shortest piece of a secret that counts as a leak.
FRAGMENT = 6

#: The emulator's public demo keys (`irefer_async.testing`'s defaults, pinned by a test), made
#: of words ordinary texts hold ("emulator", "irefer", zeros): redacted whole, never by fragment.
PUBLIC_KEYS = frozenset({"W4qLemulatordemo0000000000000000", "irefer-emulator-api-key"})

#: Loggers whose records may carry a request URL (httpx's INFO lines) or a line a server echoed
#: from it (httpcore's DEBUG ``...failed exception=...``), on either stack, and aiohttp's.
_HTTP_LOGGERS = (
    "httpx",
    "httpx2",
    *(
        f"{core}.{part}"
        for core in ("httpcore", "httpcore2")
        for part in ("connection", "http11", "http2", "proxy", "socks")
    ),
    *(f"aiohttp.{part}" for part in ("client", "internal", "access", "server", "web", "websocket")),
)

_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _lower_hex(text: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(0).lower(), text)


def secret_forms(secret: str) -> set[str]:
    """Return every form of ``secret``: raw, URL-encoded every way (once, twice) and in hex."""
    once = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    once |= {_lower_hex(form) for form in once}
    twice = {quote(form, safe="") for form in once}
    twice |= {_lower_hex(form) for form in twice}
    return {secret, secret.encode().hex(), *once, *twice}


def _trie(words: set[str]) -> str:
    """Return a pattern matching any of ``words`` (all one length), prefixes factored out."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        if len(branches) <= 1:
            return "".join(branches)
        return "(?:" + "|".join(branches) + ")"

    return emit(root)


@functools.lru_cache(maxsize=64)
def _fragment_patterns(
    secrets: tuple[str, ...],
) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """Return patterns of every `FRAGMENT`-long window of every form: the first, every start."""
    windows: set[str] = set()
    for secret in secrets:
        if secret in PUBLIC_KEYS:
            continue
        for form in secret_forms(secret):
            windows.update(form[i : i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))
    if not windows:
        return None
    trie = _trie(windows)
    return re.compile(trie), re.compile(f"(?=(?:{trie}))")


def _mask_windows(text: str, patterns: tuple[re.Pattern[str], re.Pattern[str]]) -> str:
    """Replace every run of overlapping or touching window matches with ``***``."""
    quick, pattern = patterns
    first = quick.search(text)
    if first is None:
        return text
    pieces: list[str] = []
    kept = 0  # text[:kept] is in pieces already
    run_start = run_end = -1
    for match in pattern.finditer(text, first.start()):
        start = match.start()
        if start <= run_end:
            run_end = max(run_end, start + FRAGMENT)
            continue
        if run_end >= 0:
            pieces += (text[kept:run_start], MASK)
            kept = run_end
        run_start, run_end = start, start + FRAGMENT
    pieces += (text[kept:run_start], MASK, text[run_end:])
    return "".join(pieces)


class Redactor:
    """Masks a set of secrets in any text with ``***``: whole, and any piece of them.

    Every form of each secret is replaced whole, then every run of `FRAGMENT`-character
    windows of those forms (a key cut short by an echoing server). The demo keys
    (`PUBLIC_KEYS`) are replaced whole only.
    """

    __slots__ = ("_forms", "_patterns", "_secrets")

    def __init__(self, *secrets: str | None) -> None:
        given = tuple(dict.fromkeys(s for s in secrets if s))
        # Whole forms first: one replace is cheaper than masking a whole key window by window.
        forms = {form for secret in given for form in secret_forms(secret)}
        self._secrets = given
        self._forms = tuple(sorted(forms, key=lambda f: (-len(f), f)))
        self._patterns = _fragment_patterns(given)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets this redactor masks, as given (for the log filter registry)."""
        return self._secrets

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret, and every piece of 6+ characters of one, masked."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        patterns = self._patterns
        if patterns is not None and len(text) >= FRAGMENT:
            text = _mask_windows(text, patterns)
        return text

    def quote(self, text: str, limit: int) -> str:
        """Return ``text`` fit to quote: redacted first (a cut cannot hide a piece), then cut."""
        text = self.redact(text)
        return text if len(text) <= limit else text[:limit] + "..."

    def __repr__(self) -> str:
        return f"<Redactor of {len(self._secrets)} secrets>"


#: How many closed clients' key sets the log filter keeps redacting (a late record).
RETIRED = 32


class _Registry:
    """The secrets of every open client (counted) and of the last `RETIRED` closed ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._retired: deque[tuple[str, ...]] = deque(maxlen=RETIRED)
        self._redactor = Redactor()

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._counts.update(redactor.secrets)
            self._rebuild()

    def remove(self, redactor: Redactor) -> None:
        with self._lock:
            self._counts.subtract(redactor.secrets)
            self._counts = +self._counts  # drop zero counts
            if redactor.secrets not in self._retired:
                self._retired.append(redactor.secrets)
            self._rebuild()

    def _rebuild(self) -> None:
        self._redactor = Redactor(*self._counts, *itertools.chain.from_iterable(self._retired))

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)


REGISTRY = _Registry()


#: A query parameter's value in a URL: ``email=ann%40x.io`` in ``?campaign_id=1&email=...``.
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'?#]+)=[^&\s\"'#]*")
_FORMATTER = logging.Formatter()


class SecretFilter(logging.Filter):
    """Rewrites a log record (message, formatted exception, stack) so no secret survives.

    With ``queries`` (the HTTP loggers), at INFO and above every query value (participant
    data) is masked too.
    """

    def __init__(self, *, queries: bool = True) -> None:
        super().__init__()
        self._queries = queries

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix
            return True
        redact = REGISTRY.redact
        clean = redact(message)
        if self._queries and record.levelno >= logging.INFO and "=" in clean:
            clean = _QUERY_VALUE.sub(r"\1=" + MASK, clean)
        if clean != message:
            record.msg = clean
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


@functools.cache  # once per process
def install_log_filter() -> None:
    """Attach `SecretFilter` to httpx's, httpcore's and aiohttp's loggers (idempotent)."""
    # asyncio's log may quote a foreign exception (an unretrieved task's): secrets only.
    for names, queries in ((_HTTP_LOGGERS, True), (("asyncio",), False)):
        log_filter = SecretFilter(queries=queries)
        for name in names:
            logging.getLogger(name).addFilter(log_filter)
