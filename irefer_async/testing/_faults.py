"""Scripted faults: what can go wrong between a client and the API, on demand.

A fault is picked for each API request before it is processed, from (in this order) scripted
sequences, targeted rules and seeded rates. Its kind decides whether the write is applied:

================== ============= =====================================================
kind               write applied what the client sees
================== ============= =====================================================
http_5xx_before    no            500/502/503/504 (default 503), plain-text body
http_5xx_after     yes           the same, after the write landed
http_429           no            429, with ``Retry-After`` when ``retry_after`` is set
null_body          no            200 with the body ``null``
truncated_json     yes           200 with the real body cut in half
html_page          no            an HTML error page (default status 200)
error_body         no            the method's ``..._err_401`` body for valid input
latency            yes           the real answer, ``delay`` seconds late
drop_before        no            connection closed with no response
drop_after         yes           the same, after the write landed
timeout_before     no            no answer: in-process ``httpx.ReadTimeout``; on loopback the
                                 server stalls for ``delay`` seconds (default 60)
timeout_after      yes           the same, after the write landed
slow_trickle       yes           the real answer in tiny chunks, ``delay`` s apart
connect_refused    no            ``httpx.ConnectError`` (in-process transport only)
connect_timeout    no            ``httpx.ConnectTimeout`` (in-process transport only)
held               yes, late     the request waits ``delay`` seconds (default 1.5) before it is
                                 processed, then the real answer: past the client's read
                                 timeout the client gave up while the server kept working
held_drop          yes, late     the same, then the connection closed with no response
trickle_forever    yes           200 and a body trickled a byte every ``delay`` s, never ending
html_path_page     no            an HTML error page quoting the request path and query, keys
                                 included, as proxy error pages do (default status 200)
echo_status_line   no            a malformed status line echoing the request target cut
                                 inside the license key (``HTTP/1.1 2OO /v1.0/W4qLx9Rk2P...``),
                                 as a broken proxy sends: the HTTP parser's error quotes a
                                 piece of the key (loopback: the bytes on the wire; in-process:
                                 the ``RemoteProtocolError`` h11 raises for them)
slow_list          yes           the real answer as a chunked body (no content-length) cut into
                                 `SLOW_LIST_CHUNK` (512) byte chunks, ``delay`` s apart
                                 (default 0: one event-loop turn between chunks), made as it is
                                 sent: a big list arriving slowly in small pieces, to check that
                                 list reading stays bounded in memory and leaves the event loop
                                 responsive on any transport (keep ``delay`` under the client's
                                 read timeout: in-process, nothing times a chunk out)
================== ============= =====================================================

A server whose clocks disagree with the client's (issue 22; see docs/reliability.md):

================== ============= =====================================================
server_clock       yes           the server's row clock steps: from this request on (until
                                 `Emulator.reset`), participants are stamped ``created_at``
                                 ``delay`` seconds off the emulator's clock (default -3600:
                                 a zone one hour behind labelled ``Z``); this request's
                                 connection is closed with no response
================== ============= =====================================================

On a loopback server the two ``connect_*`` kinds cannot happen (the connection already exists),
so they behave as ``drop_before`` there.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable
from typing import Union

import attrs

__all__ = [
    "DEFAULT_HOLD",
    "DEFAULT_ROW_SKEW",
    "ECHO_CUT",
    "SLOW_LIST_CHUNK",
    "Fault",
    "FaultKind",
    "FaultLike",
    "FaultPlan",
    "FaultRule",
    "echoed_status_line",
    "to_fault",
]


class FaultKind(str, enum.Enum):
    """The kinds of fault the emulator can inject (see the module table)."""

    HTTP_5XX_BEFORE = "http_5xx_before"
    HTTP_5XX_AFTER = "http_5xx_after"
    HTTP_429 = "http_429"
    NULL_BODY = "null_body"
    TRUNCATED_JSON = "truncated_json"
    HTML_PAGE = "html_page"
    ERROR_BODY = "error_body"
    LATENCY = "latency"
    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"
    TIMEOUT_BEFORE = "timeout_before"
    TIMEOUT_AFTER = "timeout_after"
    SLOW_TRICKLE = "slow_trickle"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    HELD = "held"
    HELD_DROP = "held_drop"
    TRICKLE_FOREVER = "trickle_forever"
    HTML_PATH_PAGE = "html_path_page"
    ECHO_STATUS_LINE = "echo_status_line"
    SLOW_LIST = "slow_list"
    # -- a server whose clocks disagree with the client's (engineer "write", issue 22) --
    SERVER_CLOCK = "server_clock"

    @property
    def applies_write(self) -> bool:
        """Whether a request hit by this fault is still processed."""
        return self in _APPLIED


_APPLIED = frozenset(
    {
        FaultKind.HTTP_5XX_AFTER,
        FaultKind.TRUNCATED_JSON,
        FaultKind.LATENCY,
        FaultKind.DROP_AFTER,
        FaultKind.TIMEOUT_AFTER,
        FaultKind.SLOW_TRICKLE,
        FaultKind.HELD,
        FaultKind.HELD_DROP,
        FaultKind.TRICKLE_FOREVER,
        FaultKind.SERVER_CLOCK,
        FaultKind.SLOW_LIST,
    }
)
#: How far off a ``server_clock`` fault stamps a row, unless the fault says (a zone one hour
#: behind, labelled ``Z``).
DEFAULT_ROW_SKEW = -3600.0
#: How long a ``held`` write waits before it is processed, unless the fault says.
DEFAULT_HOLD = 1.5
#: Bytes per chunk of a ``slow_list`` answer.
SLOW_LIST_CHUNK = 512
#: Characters of the license key an ``echo_status_line`` fault echoes (9 to 19 were seen).
ECHO_CUT = 13


def echoed_status_line(target: str, cut: int = ECHO_CUT) -> bytes:
    """Return the malformed status line of an ``echo_status_line`` fault (no line ending).

    ``target`` is the request target (``/v1.0/<license key>.js/<method>?<query>``); it is
    echoed cut ``cut`` characters into the license key, after a status code with letters.

    >>> echoed_status_line("/v1.0/W4qLx9Rk2PzQ7mVt4Ln8Hc3Jd6Fs1Gb5.js/campaignStats?x=1")
    b'HTTP/1.1 2OO /v1.0/W4qLx9Rk2PzQ7'
    """
    prefix, _, rest = target.partition("/v1.0/")
    echoed = f"{prefix}/v1.0/{rest[:cut]}" if _ else target[: len("/v1.0/") + cut]
    return b"HTTP/1.1 2OO " + echoed.encode("utf-8", "replace")


_5XX = frozenset({500, 502, 503, 504})


@attrs.frozen
class Fault:
    """One fault to inject, with its parameters.

    >>> Fault(FaultKind.HTTP_429, retry_after="2")
    Fault(kind=<FaultKind.HTTP_429: 'http_429'>, status=None, retry_after='2', delay=None)
    """

    #: What goes wrong.
    kind: FaultKind = attrs.field(converter=FaultKind)
    #: Status for ``http_5xx_*`` (500/502/503/504, default 503) and ``html_page`` (default 200).
    status: int | None = None
    #: ``Retry-After`` header value for ``http_429``; ``None`` sends no header.
    retry_after: str | None = None
    #: Seconds: added latency, loopback stall for ``timeout_*``, gap between trickled chunks,
    #: how long a ``held`` request waits before it is processed.
    delay: float | None = None

    def __attrs_post_init__(self) -> None:
        """Reject a 5xx fault with a status that is not 500/502/503/504."""
        is_5xx = self.kind in (FaultKind.HTTP_5XX_BEFORE, FaultKind.HTTP_5XX_AFTER)
        if is_5xx and self.status is not None and self.status not in _5XX:
            raise ValueError(f"5xx faults take 500/502/503/504, not {self.status}")

    @property
    def http_status(self) -> int:
        """The status this fault answers with (where it answers at all)."""
        if self.kind in (FaultKind.HTTP_5XX_BEFORE, FaultKind.HTTP_5XX_AFTER):
            return self.status or 503
        if self.kind is FaultKind.HTTP_429:
            return 429
        return self.status or 200


#: Anything accepted where a fault is expected: a `Fault`, a kind, or a kind's name.
FaultLike = Union[Fault, FaultKind, str]  # a runtime alias on 3.10  # noqa: UP007


def to_fault(fault: FaultLike) -> Fault:
    """Normalise *fault* to a `Fault`."""
    return fault if isinstance(fault, Fault) else Fault(FaultKind(fault))


@attrs.define
class FaultRule:
    """A targeted fault: which requests it hits and how many more times.

    Returned by `Emulator.inject_fault`; ``remaining`` counts down (``None`` = no limit).
    """

    fault: Fault
    method: str | None = None
    calls: frozenset[int] | None = None
    email: str | None = None
    remaining: int | None = 1

    def matches(self, method: str, call: int, number: int, key: str | None) -> bool:
        """Whether a request (*method*, its *call* number, overall *number*, *key*) is hit."""
        if self.method is not None and self.method != method:
            return False
        if (
            self.calls is not None
            and (call if self.method is not None else number) not in self.calls
        ):
            return False
        return self.email is None or (key is not None and key.casefold() == self.email)


@attrs.define
class _Sequence:
    method: str | None
    queue: deque[Fault | None]


@attrs.define
class _Rate:
    rate: float
    kinds: tuple[Fault, ...]
    methods: frozenset[str] | None
    rng: random.Random


class FaultPlan:
    """All scripted faults of one emulator; `pick` chooses one per request."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._sequences: list[_Sequence] = []
        self._rules: list[FaultRule] = []
        self._rates: list[_Rate] = []

    def __bool__(self) -> bool:
        return bool(self._sequences or self._rules or self._rates)

    def clear(self) -> None:
        """Forget every fault."""
        self._sequences.clear()
        self._rules.clear()
        self._rates.clear()

    def add_rule(
        self,
        fault: FaultLike,
        *,
        method: str | None,
        call: int | Iterable[int] | None,
        email: str | None,
        times: int | None,
    ) -> FaultRule:
        """Add a targeted rule (see `Emulator.inject_fault`)."""
        calls = None
        if call is not None:
            calls = frozenset({call} if isinstance(call, int) else call)
            times = None
        rule = FaultRule(to_fault(fault), method, calls, email.casefold() if email else None, times)
        self._rules.append(rule)
        return rule

    def add_sequence(self, faults: Iterable[FaultLike | None], *, method: str | None) -> None:
        """Fault the next requests (of *method*) in order; ``None`` lets one through."""
        queue = deque(None if f is None else to_fault(f) for f in faults)
        self._sequences.append(_Sequence(method, queue))

    def add_rate(
        self, rate: float, kinds: Iterable[FaultLike], *, methods: Iterable[str] | None, seed: int
    ) -> None:
        """Fault a seeded fraction *rate* of requests with kinds drawn from *kinds*."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        faults = tuple(to_fault(k) for k in kinds)
        if not faults:
            raise ValueError("give at least one fault kind")
        chosen = None if methods is None else frozenset(methods)
        self._rates.append(_Rate(rate, faults, chosen, random.Random(seed)))  # noqa: S311  # reproducible, not secret

    def pick(self, method: str, call: int, number: int, key: str | None) -> Fault | None:
        """Return the fault for this request, if any, consuming scripted budget."""
        for seq in self._sequences:
            if seq.queue and (seq.method is None or seq.method == method):
                fault = seq.queue.popleft()
                if not seq.queue:
                    self._sequences.remove(seq)
                return fault
        for rule in self._rules:
            if rule.matches(method, call, number, key):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.fault
        for rate in self._rates:
            if rate.methods is None or method in rate.methods:
                rng = rate.rng
                if rng.random() < rate.rate:
                    return rng.choice(rate.kinds)  # reproducible, not secret
        return None
