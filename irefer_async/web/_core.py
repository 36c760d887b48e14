"""What every framework's middleware shares: the settings, the code check and the cookie."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

import attrs

from irefer_async import ConfigurationError

__all__ = [
    "CODE_PATTERN",
    "DEFAULT_COOKIE",
    "DEFAULT_MAX_AGE",
    "DEFAULT_PARAM",
    "SCOPE_KEY",
    "Attribution",
    "code_from_cookie_header",
    "is_referral_code",
]

#: The query parameter of the guide's referral links (``https://site/?iref=7XYu.oRD``).
DEFAULT_PARAM = "iref"
#: The cookie iRefer's own script keeps the code in: sharing it, sites that run the script
#: and the SDK agree on who referred the visitor.
DEFAULT_COOKIE = "vsu_referrer_hash"
#: How long the cookie lasts: 30 days.
DEFAULT_MAX_AGE = dt.timedelta(days=30)
#: A referral code as the guide shows them (``7XYu.oRD``, ``jZA3MbP0``): 8 characters,
#: ASCII letters, digits and ``.``.
CODE_PATTERN = r"[A-Za-z0-9.]{8}"
#: Where a middleware leaves the request's code: the ASGI scope, the WSGI environ, or the
#: aiohttp request (what `referral_code` reads first).
SCOPE_KEY = "irefer.referral_code"

# RFC 6265 token (a cookie's name) and RFC 3986 unreserved-ish (a query parameter's name).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What a cookie value may hold (RFC 6265 cookie-octet): whatever ``code_pattern`` says, a
# code outside it is never written into a header.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*")


def is_referral_code(value: object, pattern: str = CODE_PATTERN) -> bool:
    """Whether ``value`` is a referral code (the guide's codes: see `CODE_PATTERN`).

    >>> is_referral_code("7XYu.oRD"), is_referral_code("<script>"), is_referral_code("")
    (True, False, False)
    """
    return (
        isinstance(value, str)
        and re.fullmatch(pattern, value) is not None
        and _COOKIE_OCTETS.fullmatch(value) is not None
    )


def _seconds(max_age: dt.timedelta | float) -> int:
    seconds = max_age.total_seconds() if isinstance(max_age, dt.timedelta) else max_age
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ConfigurationError(f"max_age must be a positive duration, got {max_age!r}")
    return int(seconds)


def _checked_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise ConfigurationError(
            f"{kind} must be a non-empty token (letters, digits, -_.), got {value!r}"
        )
    return value


def _checked_pattern(value: str) -> str:
    try:
        re.compile(value)
    except (re.error, TypeError) as exc:
        raise ConfigurationError(f"code_pattern is not a regular expression: {exc}") from None
    return value


@attrs.frozen(slots=True)
class Attribution:
    """How a middleware reads a referral code and keeps it (every option has the default).

    * ``param``: the query parameter holding the code (``iref``).
    * ``cookie``: the first-party cookie keeping it (``vsu_referrer_hash``, iRefer's own).
    * ``max_age``: the cookie's lifetime (a ``timedelta`` or seconds; 30 days).
    * ``last_touch``: False (the default) keeps the first code a visitor came with (first
      touch); True lets a later link replace it (last touch).
    * ``secure``: None (the default) marks the cookie ``Secure`` on https requests only;
      True or False forces it (True behind a proxy that terminates TLS).
    * ``domain``, ``path``: the cookie's scope (``domain=".example.com"`` shares it with
      subdomains; default: this host, ``/``).
    * ``code_pattern``: what a code looks like (`CODE_PATTERN`); anything else is ignored,
      and so is any value a cookie cannot hold as is (``;``, ``,``, spaces, quotes...).

    The cookie is always ``HttpOnly`` and ``SameSite=Lax``. Bad settings raise
    `ConfigurationError` when the middleware is built.
    """

    param: str = attrs.field(
        default=DEFAULT_PARAM, validator=lambda _, __, v: _checked_name("param", v)
    )
    cookie: str = attrs.field(
        default=DEFAULT_COOKIE, validator=lambda _, __, v: _checked_name("cookie", v)
    )
    #: The cookie's lifetime in seconds (given as a ``timedelta`` or seconds).
    max_age: int = attrs.field(default=int(DEFAULT_MAX_AGE.total_seconds()), converter=_seconds)
    last_touch: bool = False
    secure: bool | None = None
    domain: str | None = None
    path: str = "/"
    code_pattern: str = attrs.field(
        default=CODE_PATTERN, validator=lambda _, __, v: _checked_pattern(v)
    )

    def __attrs_post_init__(self) -> None:
        if self.domain is not None and _DOMAIN.fullmatch(self.domain) is None:
            raise ConfigurationError(f"domain must be a host name, got {self.domain!r}")
        if not isinstance(self.path, str) or not self.path.startswith("/") or ";" in self.path:
            raise ConfigurationError(f"path must start with / and hold no ';', got {self.path!r}")

    def valid(self, value: object) -> str | None:
        """Return ``value`` if it is a referral code, else None."""
        return (
            value if isinstance(value, str) and is_referral_code(value, self.code_pattern) else None
        )

    def from_query(self, query: str) -> str | None:
        """Return the first value of `param` in a raw query string, if it is a code."""
        if self.param not in query:
            return None
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == self.param:
                return self.valid(value)
        return None

    def resolve(self, query: str, cookie_headers: Iterable[str]) -> tuple[str | None, str | None]:
        """Decide a request's code and whether to set the cookie.

        Returns ``(code, set)``: the code this request carries (the kept one in first-touch
        mode, a valid new one in last-touch mode or when none was kept), and the new code to
        keep in the cookie, or None to leave it alone.
        """
        kept = None
        for header in cookie_headers:
            kept = self.valid(code_from_cookie_header(header, self.cookie)) or kept
        new = self.from_query(query)
        if new is None or (kept is not None and not self.last_touch):
            return kept, None
        return new, new

    def set_cookie(self, code: str, *, https: bool) -> str:
        """Return the ``Set-Cookie`` header value keeping ``code``."""
        parts = [f"{self.cookie}={code}", f"Max-Age={self.max_age}", f"Path={self.path}"]
        if self.domain is not None:
            parts.append(f"Domain={self.domain}")
        if self.secure or (self.secure is None and https):
            parts.append("Secure")
        parts += ["HttpOnly", "SameSite=Lax"]
        return "; ".join(parts)


def code_from_cookie_header(header: str, cookie: str = DEFAULT_COOKIE) -> str | None:
    """Return the value of ``cookie`` in a ``Cookie`` header (unchecked), or None.

    Lenient as browsers are: a malformed pair elsewhere in the header is skipped, not fatal.
    """
    if cookie not in header:
        return None
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        if sep and name.strip() == cookie:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def cookies_of(mapping: Mapping[str, object], cookie: str) -> object:
    """Return ``mapping[cookie]`` (a framework's parsed cookies), a ``Morsel``'s value too."""
    value = mapping.get(cookie)
    return getattr(value, "value", value)
