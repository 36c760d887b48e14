"""Readiness checks against a live iRefer account, and the typed report they return.

What ``irefer doctor`` and ``await probe_client(client)`` run.

The checks, in order (each `ProbeCheck` is pass / warn / fail / skip with a one-line
fix):

* **configuration** (`check_configuration`, no request): license key and api key
  formats, base URL, campaign id, proxy variables in the environment;
* **network** (`check_network`): DNS, TCP connect and TLS handshake times to the API
  host (or to the proxy that carries the requests);
* **credentials**: ``campaignStats`` answers without the ``..._err_401`` body. iRefer answers
  the same body for a wrong license key, api key or campaign id, so the report says which
  one only when the answer (or the configuration) tells;
* **endpoints**: every read endpoint of the endpoint table, through the SDK's own transport
  classification and decoder: available (JSON, an HTML page, a 404, an error body) and
  decoding into the models, with the drift recorder (`irefer_async.doctor`) counting
  fields unknown, fields missing and conversions applied or failed;
* **writes**: never, unless ``write_probe=EMAIL``: one ``newSignup`` for that address,
  announced before it is sent;
* **latency** p50/p95 over the reads, a suggested rate and concurrency, rate-limit headers
  seen, clock skew from the ``Date`` header.

Every text in the report has been through the client's secret redactor, and participant
data appears only as `redact_example` examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import enum
import math
import os
import re
import socket
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import httpx

import irefer_async.endpoints as ep
from irefer_async import (
    APIError,
    ClientStateError,
    ConfigurationError,
    EmptyResponseError,
    HTTPStatusError,
    InvalidRequestError,
    IReferError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from irefer_async.decoding import decode

from ._drift import DriftEntry, DriftKind, DriftRecorder, redact_example

if TYPE_CHECKING:
    from irefer_async import IReferClient

__all__ = [
    "CheckStatus",
    "ProbeCheck",
    "ProbeReport",
    "check_configuration",
    "check_network",
    "probe_client",
]

_GUIDE_HOST = "api.irefer.io"
_GUIDE_ROOT = ep.DEFAULT_BASE_URL
_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
_RATE_HEADER = re.compile(r"^(retry-after|ratelimit(-.*)?|x-ratelimit-.*)$", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_NETWORK_TIMEOUT = 5.0
_LATENCY_READS = 5
_DEFAULT_RATE = 5.0


class CheckStatus(str, enum.Enum):
    """How a check went: ``fail`` makes ``irefer doctor`` exit 1; the others do not."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class ProbeCheck:
    """One check: its name, its status, what was found (one line) and how to fix it."""

    #: ``group.name``: ``"config.license_key"``, ``"network.tls"``, ``"endpoint.referrers"``...
    name: str
    #: pass / warn / fail / skip.
    status: CheckStatus
    #: What was found, in one line (no secret, no participant data).
    summary: str
    #: What to do about it, in one line ("" when there is nothing to do).
    fix: str = ""
    #: Figures behind the summary (milliseconds, counts, header values), JSON-ready.
    data: Mapping[str, Any] = attrs.field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "name": self.name,
            "status": self.status.value,
            "summary": self.summary,
            "fix": self.fix,
            "data": dict(self.data),
        }


@attrs.frozen
class ProbeReport:
    """What `probe_client` and ``irefer doctor`` found.

    Example (a readiness check):

    ```python
    report = await probe_client(client)
    if not report.ok:
        raise RuntimeError(report.first_failure)
    ```
    """

    #: Every check, in the order run.
    checks: tuple[ProbeCheck, ...]
    #: Every difference the decoder counted, the 2018 guide's own quirks included
    #: (`DriftEntry.expected` tells them apart).
    drift: tuple[DriftEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no check failed (warnings and skips allowed)."""
        return all(c.status is not CheckStatus.FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when no check failed, 1 otherwise (what ``irefer doctor`` exits with)."""
        return 0 if self.ok else 1

    @property
    def failures(self) -> tuple[ProbeCheck, ...]:
        """The failed checks."""
        return tuple(c for c in self.checks if c.status is CheckStatus.FAIL)

    @property
    def first_failure(self) -> str | None:
        """The first failure as one line (``name: summary``), or None."""
        failed = self.failures
        return f"{failed[0].name}: {failed[0].summary}" if failed else None

    @property
    def unexpected_drift(self) -> tuple[DriftEntry, ...]:
        """The drift entries the 2018 guide's samples do not show."""
        return tuple(d for d in self.drift if not d.expected)

    def check(self, name: str) -> ProbeCheck:
        """Return the check called ``name`` (KeyError if it was not run)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (what ``irefer doctor --json`` prints)."""
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "checks": [c.as_dict() for c in self.checks],
            "drift": [d.as_dict() for d in self.drift],
        }


def _check(name: str, status: CheckStatus, summary: str, fix: str = "", **data: Any) -> ProbeCheck:
    return ProbeCheck(name, status, summary, fix, data)


_P, _W, _F, _S = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP


# -- configuration ---------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _proxy_for(base_url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return the proxy variable (name, value) httpx would use for ``base_url``, if any."""
    scheme = urlsplit(base_url).scheme
    host = (urlsplit(base_url).hostname or "").lower()
    no_proxy = environ.get("NO_PROXY", environ.get("no_proxy", ""))
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*" or (
            entry and (host == entry.lstrip(".") or host.endswith("." + entry.lstrip(".")))
        ):
            return None
    names = ("HTTPS_PROXY", "ALL_PROXY") if scheme == "https" else ("HTTP_PROXY", "ALL_PROXY")
    for name in names:
        value = environ.get(name) or environ.get(name.lower())
        if value:
            return name, value
    return None


def _show_proxy(value: str) -> str:
    """Show a proxy URL without its user and password."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    auth = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{auth}{host}{port}"


def check_configuration(
    *,
    license_key: str | None,
    api_key: str | None,
    base_url: str | None,
    campaign_id: str | int | None,
    environ: Mapping[str, str] | None = None,
) -> list[ProbeCheck]:
    """Check the settings without sending anything; ``None`` means "not given"."""
    environ = os.environ if environ is None else environ
    url, base_check = _base_url_check(base_url)
    return [
        _license_check(license_key),
        _api_key_check(api_key, license_key),
        base_check,
        _campaign_check(campaign_id),
        _proxy_check(url, environ),
    ]


def _license_check(license_key: str | None) -> ProbeCheck:
    name = "config.license_key"
    if not license_key:
        return _check(name, _F, "no license key", "set IREFER_LICENSE_KEY (the W4qL... key)")
    try:
        ep.check_license_key(license_key)
    except ConfigurationError as exc:
        return _check(name, _F, exc.message, "copy the license key again from iRefer")
    return _check(name, _P, "W4qL + 28 letters and digits")


def _api_key_check(api_key: str | None, license_key: str | None) -> ProbeCheck:
    name = "config.api_key"
    if not api_key:
        return _check(name, _F, "no api key", "set IREFER_API_KEY (the campaign's API key)")
    if api_key == license_key:
        return _check(name, _F, "the api key is the license key", "set IREFER_API_KEY")
    if api_key.startswith("W4qL") and len(api_key) == 32:
        return _check(
            name, _F, "the api key looks like a license key", "swap the two keys' variables?"
        )
    if any(c.isspace() for c in api_key):
        return _check(
            name, _F, "the api key contains white space", "remove what was pasted with it"
        )
    return _check(name, _P, f"set ({len(api_key)} characters)")


def _base_url_check(base_url: str | None) -> tuple[str, ProbeCheck]:
    name = "config.base_url"
    try:
        url = ep.check_base_url(base_url or _GUIDE_ROOT)
    except ConfigurationError as exc:
        return _GUIDE_ROOT, _check(name, _F, exc.message, f"unset it to use {_GUIDE_ROOT}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _is_loopback(host) or host.endswith(".test"):
        return url, _check(name, _P, f"{url} (a local emulator)")
    if parts.scheme != "https":
        why = f"{url} is not https: the keys would travel in clear"
        return url, _check(name, _F, why, f"use {_GUIDE_ROOT}")
    if host != _GUIDE_HOST or parts.path.rstrip("/") not in ("/v1.0", "/v1"):
        why = f"{url} is not the guide's API root"
        return url, _check(name, _W, why, f"the guide's root is {_GUIDE_ROOT}")
    return url, _check(name, _P, url)


def _campaign_check(campaign_id: str | int | None) -> ProbeCheck:
    name = "config.campaign_id"
    if campaign_id is None or campaign_id == "":
        return _check(name, _F, "no campaign id", "set IREFER_CAMPAIGN_ID or --campaign-id")
    try:
        cid = ep.check_campaign_id(campaign_id)
    except InvalidRequestError as exc:
        return _check(name, _F, exc.message, "the campaign id is the number in its iRefer URL")
    return _check(name, _P, cid)


def _proxy_check(url: str, environ: Mapping[str, str]) -> ProbeCheck:
    proxy = _proxy_for(url, environ)
    others = sorted(
        n for n in (*_PROXY_VARS, "NO_PROXY") if environ.get(n) or environ.get(n.lower())
    )
    if proxy is None:
        note = f" ({', '.join(others)} set, not for this host)" if others else ""
        return _check("config.proxy", _P, f"no proxy for this host{note}")
    name, value = proxy
    parts = urlsplit(value if "://" in value else f"http://{value}")
    if (
        parts.scheme not in ("http", "https", "socks5", "socks5h")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        return _check("config.proxy", _F, f"{name} is not a proxy URL", f"fix or unset {name}")
    return _check(
        "config.proxy",
        _P,
        f"requests go through {name}={_show_proxy(value)}",
        proxy=_show_proxy(value),
    )


def _http_date(value: str | None) -> float | None:
    """Parse an HTTP ``Date`` header into epoch seconds, or None."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


# -- network ---------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


async def check_network(
    base_url: str,
    *,
    environ: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = _NETWORK_TIMEOUT,
) -> list[ProbeCheck]:
    """DNS, TCP connect and (for https) TLS handshake to the API host, or to its proxy."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    via = ""
    proxy = _proxy_for(base_url, environ)
    if proxy is not None:
        proxy_parts = urlsplit(proxy[1] if "://" in proxy[1] else f"http://{proxy[1]}")
        host, port, tls = proxy_parts.hostname or "", proxy_parts.port or 3128, False
        via = f" (the proxy in {proxy[0]})"
    if host.endswith(".test"):
        skipped = "the .test host is in-process (an emulator): no network"
        return [_check(f"network.{n}", _S, skipped) for n in ("dns", "tcp", "tls")]
    loop = asyncio.get_running_loop()
    checks: list[ProbeCheck] = []
    start = time.perf_counter()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, asyncio.TimeoutError) as exc:
        why = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
        checks.append(
            _check(
                "network.dns",
                _F,
                f"cannot resolve {host}{via}: {why}",
                "check the host name in the base URL, your DNS and network",
            )
        )
        checks += [_check(f"network.{n}", _S, "no address to connect to") for n in ("tcp", "tls")]
        return checks
    address = str(infos[0][4][0])
    checks.append(
        _check(
            "network.dns",
            _P,
            f"{host}{via} -> {address} in {_ms(time.perf_counter() - start)} ms",
            address=address,
            ms=_ms(time.perf_counter() - start),
        )
    )
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        why = "timed out" if isinstance(exc, asyncio.TimeoutError) else (exc.strerror or str(exc))
        checks.append(
            _check(
                "network.tcp",
                _F,
                f"cannot connect to {host}:{port}{via}: {why}",
                "check the port, a firewall, or whether the service is up",
            )
        )
        checks.append(_check("network.tls", _S, "no connection"))
        return checks
    tcp_ms = _ms(time.perf_counter() - start)
    checks.append(
        _check("network.tcp", _P, f"connected to {host}:{port}{via} in {tcp_ms} ms", ms=tcp_ms)
    )
    try:
        if not tls:
            checks.append(_check("network.tls", _S, "plain http: no TLS"))
        else:
            context = ssl_context or httpx.create_ssl_context()
            checks.append(await _tls_check(writer, host, context, timeout))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        del reader
    return checks


async def _tls_check(
    writer: asyncio.StreamWriter, host: str, context: ssl.SSLContext, timeout: float
) -> ProbeCheck:
    loop = asyncio.get_running_loop()
    transport = writer.transport
    start = time.perf_counter()
    try:
        await asyncio.wait_for(
            loop.start_tls(transport, transport.get_protocol(), context, server_hostname=host),
            timeout,
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        why = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
        return _check(
            "network.tls",
            _F,
            f"TLS handshake with {host} failed: {why}",
            "a proxy or firewall intercepting TLS? check the system's CA certificates",
        )
    tls_ms = _ms(time.perf_counter() - start)
    return _check("network.tls", _P, f"handshake in {tls_ms} ms", ms=tls_ms)


# -- reads -----------------------------------------------------------------------------------


@attrs.define
class _Exchange:
    """One probing request: what came back (never its URL)."""

    method: str
    elapsed: float = 0.0
    status: int | None = None
    content_type: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    received_at: float = 0.0  # time.time() at the answer, for the clock skew
    body_start: bytes = b""
    #: "an object" or "N rows" (the decoded result itself is not kept: memory stays bounded).
    size: str = ""
    #: The first row's email, when the result is a list of participants (for referrerStats).
    first_email: str | None = None
    error: IReferError | None = None


class _Prober:
    def __init__(self, client: IReferClient, drift: DriftRecorder) -> None:
        self.client = client
        self.drift = drift
        self.exchanges: list[_Exchange] = []
        self.redact = client.redact
        self.quote = client.quote

    async def read(self, endpoint: ep.Endpoint[Any], values: Mapping[str, object]) -> _Exchange:
        """One read through the SDK's throttle, transport classification and decoder."""
        client = self.client
        method = endpoint.name
        exchange = _Exchange(method)
        start = time.perf_counter()
        response: Any = None
        try:
            # The client's exchange: either HTTP stack, errors translated and redacted.
            response = await client.raw_read(endpoint, values)
        except IReferError as exc:
            exchange.error = exc
        exchange.elapsed = time.perf_counter() - start
        exchange.received_at = time.time()
        self.exchanges.append(exchange)
        if response is None:
            return exchange
        exchange.status = response.status_code
        exchange.headers = {k.lower(): v for k, v in response.headers.items()}
        exchange.content_type = response.headers.get("content-type", "")
        exchange.body_start = response.content[:2048]
        try:
            data = client.read_json(method, response)
            result: Any = decode(data, endpoint.result, method=method, observer=self.drift)
        except IReferError as exc:
            exchange.error = exc
            return exchange
        if isinstance(result, tuple):
            exchange.size = f"{len(result)} row{'' if len(result) == 1 else 's'}"
            exchange.first_email = getattr(result[0], "email", None) if result else None
        else:
            exchange.size = "an object"
        return exchange

    def looks_html(self, exchange: _Exchange) -> bool:
        start = exchange.body_start.lstrip()[:15].lower()
        return "html" in exchange.content_type or start.startswith((b"<!doctype", b"<html", b"<"))

    def title(self, exchange: _Exchange) -> str:
        match = _TITLE.search(exchange.body_start)
        text = match.group(1) if match else exchange.body_start.lstrip()
        # Redact the whole text (fragments of a key included), then cut: never the reverse.
        return self.quote(" ".join(text.decode("utf-8", "replace").split()), 60)

    def describe_failure(  # noqa: PLR0911 - one line per kind of answer
        self, exchange: _Exchange, *, credentials_ok: bool | None
    ) -> ProbeCheck:
        """Say in one line why a read gave no model."""
        name, method, error = f"endpoint.{exchange.method}", exchange.method, exchange.error
        proxy = _proxy_for(self.client.base_url, os.environ)
        via = f" (requests go through {proxy[0]})" if proxy else ""
        status = exchange.status
        if isinstance(error, TransportError):
            return _check(name, _F, f"no answer: {error.message}", "see the network checks")
        if (status is not None and self.looks_html(exchange) and not 200 <= status < 300) or (
            isinstance(error, MalformedResponseError)
            and error.not_json
            and self.looks_html(exchange)
        ):
            title = self.title(exchange)
            if status == 404:
                return _check(
                    name,
                    _F,
                    f"HTTP 404, an HTML page ({title!r}): no {method} here",
                    "gone from the service, or the base URL is wrong",
                    http_status=status,
                )
            return _check(
                name,
                _F,
                f"an HTML page (HTTP {status}, {title!r}) instead of the API's JSON: "
                f"a proxy or gateway answered{via}",
                "check the proxy / firewall between you and iRefer, or the base URL",
                http_status=status,
            )
        if isinstance(error, RateLimitedError):
            return _check(name, _W, "rate limited (HTTP 429)", "lower the rate", http_status=status)
        if isinstance(error, ServerError):
            return _check(
                name,
                _F,
                f"server error (HTTP {status})",
                "retry later; iRefer's side",
                http_status=status,
            )
        if isinstance(error, HTTPStatusError):
            extra = ": no such API method here" if status == 404 else ""
            return _check(
                name,
                _F,
                f"HTTP {status}{extra}",
                "gone from the service, or the base URL is wrong",
                http_status=status,
            )
        if isinstance(error, APIError):
            code = error.error_code or "no code"
            if credentials_ok:
                return _check(
                    name,
                    _F,
                    f"answers its error body ({code}) although the same keys "
                    "work for campaignStats: disabled or gone for this account",
                    "iRefer removed some endpoints in 2019; ask iRefer support",
                    code=code,
                )
            return _check(name, _F, f"refused ({code})", "see the credentials check", code=code)
        if isinstance(error, EmptyResponseError):
            return _check(
                name, _F, "empty or null body", "retry; if it persists, ask iRefer support"
            )
        if isinstance(error, MalformedResponseError):
            what = "not JSON" if error.not_json else "does not decode into the SDK's models"
            return _check(
                name,
                _F,
                f"{what}: {self.redact(error.detail or '')}"[:160],
                "see the drift report; upgrade irefer-async or report it",
            )
        return _check(name, _F, f"failed: {error}")


def _credentials(exchange: _Exchange, config: Iterable[ProbeCheck]) -> ProbeCheck:
    error = exchange.error
    if error is None:
        return _check("credentials", _P, "license key, api key and campaign id accepted")
    if not isinstance(error, APIError):
        return _check("credentials", _S, "not checked: campaignStats gave no API answer")
    code = error.error_code or "no code"
    message = error.message.lower()
    named = [
        w
        for k, w in (("license", "license key"), ("api", "api key"), ("campaign", "campaign id"))
        if k in message
    ]
    hint = next((c.summary for c in config if c.name == "config.api_key" and c.status is _F), None)
    if hint:
        return _check(
            "credentials", _F, f"refused ({code}); {hint}", "swap or fix IREFER_API_KEY", code=code
        )
    if len(named) == 1:
        return _check(
            "credentials",
            _F,
            f"refused ({code}): the {named[0]} is wrong, says iRefer",
            f"fix the {named[0]}",
            code=code,
        )
    return _check(
        "credentials",
        _F,
        f"refused ({code}): the license key, api key or campaign id is wrong "
        "(iRefer answers the same for each, so the answer cannot say which)",
        "check all three against the campaign's API settings in iRefer",
        code=code,
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def _rate_from_headers(headers: Mapping[str, str]) -> float | None:
    """Read requests per second from ``RateLimit-Policy: 100;w=60``, if sent."""
    policy = headers.get("ratelimit-policy") or headers.get("x-ratelimit-policy")
    if policy:
        match = re.match(r"\s*(\d+)\s*;\s*w=(\d+)", policy)
        if match and int(match.group(2)) > 0:
            return int(match.group(1)) / int(match.group(2))
    return None


def _timing_checks(exchanges: list[_Exchange], concurrency: int | None) -> list[ProbeCheck]:
    answered = [x for x in exchanges if x.status is not None]
    checks: list[ProbeCheck] = []
    seen: dict[str, str] = {}
    for x in answered:
        for key, value in x.headers.items():
            if _RATE_HEADER.match(key):
                seen[key] = value[:80]
    if not answered:
        return [
            _check(f"timing.{n}", _S, "no answer to time")
            for n in ("latency", "rate_limits", "clock")
        ]
    # The first answer also paid for opening the connection: leave it out when there are more.
    times = [x.elapsed for x in answered[1:]] or [answered[0].elapsed]
    after = " after the first" if len(answered) > 1 else ""
    p50, p95 = _percentile(times, 0.5), _percentile(times, 0.95)
    rate = (
        _rate_from_headers(next((x.headers for x in reversed(answered) if x.headers), {}))
        or _DEFAULT_RATE
    )
    suggested = max(1, math.ceil(rate * p95))  # Little's law: in flight = rate x latency
    status = _W if p95 > 2.0 else _P
    checks.append(
        _check(
            "timing.latency",
            status,
            f"p50 {_ms(p50)} ms, p95 {_ms(p95)} ms over {len(times)} reads{after}; "
            f"suggested rate_limit={rate:g}/s, max_concurrency={suggested}",
            "slow: raise timeouts or lower the rate" if status is _W else "",
            p50_ms=_ms(p50),
            p95_ms=_ms(p95),
            reads=len(times),
            suggested_rate=rate,
            suggested_concurrency=suggested,
            current_concurrency=concurrency,
        )
    )
    if seen:
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(seen.items()))
        checks.append(_check("timing.rate_limits", _P, f"seen: {shown}", headers=seen))
    else:
        checks.append(
            _check(
                "timing.rate_limits", _P, "no rate-limit headers seen (iRefer publishes no limits)"
            )
        )
    skews = []
    for x in answered:
        server_time = _http_date(x.headers.get("date"))
        if server_time is not None:
            skews.append(server_time - x.received_at)
    if not skews:
        checks.append(_check("timing.clock", _S, "no Date header to compare with"))
    else:
        skew = statistics.median(skews)
        if abs(skew) > 5.0:
            checks.append(
                _check(
                    "timing.clock",
                    _W,
                    f"this machine's clock is {-skew:+.0f} s off the server's",
                    "sync the clock (NTP): Retry-After dates are read with it",
                    skew_s=round(skew, 1),
                )
            )
        else:
            checks.append(
                _check(
                    "timing.clock",
                    _P,
                    f"within {max(abs(skew), 1.0):.0f} s of the server's Date",
                    skew_s=round(skew, 1),
                )
            )
    return checks


def _drift_check(entries: tuple[DriftEntry, ...], objects: Mapping[str, int]) -> ProbeCheck:
    unexpected = [e for e in entries if not e.expected]
    if not objects:
        return _check("drift", _S, "no object decoded: nothing to compare")
    if not unexpected:
        return _check("drift", _P, f"{sum(objects.values())} objects match the 2018 guide's format")
    failed = [e for e in unexpected if e.kind is DriftKind.FAILED]
    missing = [e for e in unexpected if e.kind is DriftKind.MISSING_FIELD]
    status = _F if failed else _W
    first = unexpected[0].describe()
    more = f" (+{len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
    fix = (
        "a missing field decodes to its default: those values may be wrong; " if missing else ""
    ) + "upgrade irefer-async, or report the drift report"
    return _check(
        "drift",
        status,
        f"{len(unexpected)} differences from the 2018 guide: {first}{more}",
        fix,
        differences=len(unexpected),
    )


async def _endpoint_checks(
    prober: _Prober, stats: _Exchange, *, credentials_ok: bool
) -> list[ProbeCheck]:
    """Read every read endpoint of the table once (campaignStats was read already)."""
    reads = [e for e in ep.ENDPOINTS.values() if not e.write]
    results: dict[str, _Exchange | ProbeCheck] = {ep.CAMPAIGN_STATS.name: stats}
    sample_email: str | None = None
    # Endpoints without required parameters first: their rows give referrerStats an email.
    for endpoint in sorted(reads, key=lambda e: any(p.required for p in e.params)):
        if endpoint.name in results:
            continue
        if isinstance(stats.error, TransportError):
            why = "not probed: campaignStats got no answer (see the network checks)"
            results[endpoint.name] = _check(f"endpoint.{endpoint.name}", _S, why)
            continue
        required = [p.name for p in endpoint.params if p.required]
        if [n for n in required if n != "email"] or ("email" in required and not sample_email):
            why = "no participant to ask about" if sample_email is None else "needs parameters"
            results[endpoint.name] = _check(f"endpoint.{endpoint.name}", _S, f"not probed: {why}")
            continue
        values = {"email": sample_email} if "email" in required else {}
        try:
            exchange = await prober.read(endpoint, values)
        except InvalidRequestError as exc:  # a sample email the SDK itself would refuse
            results[endpoint.name] = _check(
                f"endpoint.{endpoint.name}", _S, f"not probed: {exc.message}"
            )
            continue
        results[endpoint.name] = exchange
        if endpoint is ep.REFERRERS and exchange.first_email:
            sample_email = exchange.first_email
    checks: list[ProbeCheck] = []
    for endpoint in reads:
        outcome = results[endpoint.name]
        if isinstance(outcome, ProbeCheck):
            checks.append(outcome)
        elif outcome.error is None:
            summary = f"JSON, decodes ({outcome.size}) in {_ms(outcome.elapsed)} ms"
            checks.append(_check(f"endpoint.{endpoint.name}", _P, summary, ms=_ms(outcome.elapsed)))
        else:
            checks.append(prober.describe_failure(outcome, credentials_ok=credentials_ok))
    return checks


async def probe_client(
    client: IReferClient,
    *,
    config: Iterable[ProbeCheck] = (),
    network: bool = True,
    write_probe: str | None = None,
    announce: Callable[[str], Awaitable[None] | None] | None = None,
    latency_reads: int = _LATENCY_READS,
) -> ProbeReport:
    """Run every check against ``client``'s account and return the report.

    ``config`` holds configuration checks already run (``irefer doctor`` runs them before a
    client can exist); without them the client's own configuration is reported. Writes are
    sent only with ``write_probe`` (an email address): one ``newSignup``, after
    ``announce`` has been called with a line saying so. ``network=False`` leaves out the
    DNS/TCP/TLS checks. A readiness check:

    ```python
    report = await probe_client(client, network=False)
    if not report.ok:
        raise RuntimeError(report.first_failure)
    ```
    """
    if client.is_closed:
        raise ClientStateError("this IReferClient is closed; create a new one")
    checks = list(config) or _client_configuration(client)
    drift = _recorder(client)
    prober = _Prober(client, drift)
    if network:
        checks += await check_network(client.base_url)
    if client.campaign_id is None:
        checks.append(_check("credentials", _S, "not checked: no campaign id"))
        return ProbeReport(tuple(checks))
    stats = await prober.read(ep.CAMPAIGN_STATS, {})
    checks.append(_credentials(stats, checks))
    credentials_ok = stats.error is None
    checks += await _endpoint_checks(prober, stats, credentials_ok=credentials_ok)
    endpoint_checks = [c for c in checks if c.name.startswith("endpoint.")]
    probed = [c for c in endpoint_checks if c.status is not _S]
    if probed and all(c.status is _F and c.data.get("http_status") == 404 for c in probed):
        checks.append(
            _check(
                "config.base_url_answers",
                _F,
                f"every endpoint answered HTTP 404: {client.base_url} is not the iRefer API root",
                f"set IREFER_BASE_URL to {_GUIDE_ROOT} (or unset it)",
            )
        )
    if credentials_ok:
        for _ in range(latency_reads):
            await prober.read(ep.CAMPAIGN_STATS, {})
    checks.append(_drift_check(drift.entries(), drift.objects))
    checks += _timing_checks(prober.exchanges, client.max_concurrency)
    checks.append(await _write_probe(client, write_probe, announce))
    redact = client.redact
    clean = tuple(attrs.evolve(c, summary=redact(c.summary), fix=redact(c.fix)) for c in checks)
    return ProbeReport(clean, drift.entries())


async def _write_probe(
    client: IReferClient,
    email: str | None,
    announce: Callable[[str], Awaitable[None] | None] | None,
) -> ProbeCheck:
    if email is None:
        return _check(
            "write.newSignup", _S, "writes are not probed (--write-probe EMAIL sends one signup)"
        )
    shown = redact_example(email)
    if announce is not None:
        note = announce(
            f"sending one newSignup for {shown} to campaign {client.campaign_id} (--write-probe)"
        )
        if note is not None:
            await note
    try:
        result = await client.new_signup(email)
    except (APIError, HTTPStatusError) as exc:
        status = exc.status_code if isinstance(exc, HTTPStatusError) else None
        gone = " (iRefer removed the sign-up API in 2019?)" if status == 404 else ""
        return _check(
            "write.newSignup",
            _F,
            f"the signup for {shown} failed: {exc}{gone}",
            "signups may have to go through iRefer's own form now",
        )
    except IReferError as exc:
        return _check("write.newSignup", _F, f"the signup for {shown} failed: {exc}")
    how = " (confirmed by a read)" if result.reconciled else ""
    return _check("write.newSignup", _P, f"{shown} signed up{how}")


def _recorder(client: IReferClient) -> DriftRecorder:
    """Use the client's own drift recorder when it has one (its counts then include ours)."""
    own = client.decode_observer
    return own if isinstance(own, DriftRecorder) else DriftRecorder(client.redact)


def _client_configuration(client: IReferClient) -> list[ProbeCheck]:
    """Report a built client's configuration (its keys passed their checks already)."""
    checks = [
        _check("config.license_key", _P, "W4qL + 28 letters and digits"),
        _check("config.api_key", _P, "set"),
    ]
    url = client.base_url
    host = urlsplit(url).hostname or ""
    if _is_loopback(host) or host.endswith(".test") or url.rstrip("/") == _GUIDE_ROOT.rstrip("/"):
        checks.append(_check("config.base_url", _P, url))
    else:
        checks.append(
            _check(
                "config.base_url",
                _W,
                f"{url} is not the guide's API root",
                f"the guide's root is {_GUIDE_ROOT}",
            )
        )
    if client.campaign_id is None:
        checks.append(
            _check(
                "config.campaign_id",
                _F,
                "no default campaign id",
                "pass campaign_id= to IReferClient",
            )
        )
    else:
        checks.append(_check("config.campaign_id", _P, str(client.campaign_id)))
    checks.append(_proxy_check(url, os.environ))
    return checks
