"""Fault matrix: every endpoint x every emulator fault kind, with the outcome written down.

Three tables, one cell per (endpoint, fault):

* ``once``: the fault hits the endpoint's first request only;
* ``always``: the fault hits every request of the endpoint;
* ``unknown`` (writes only): the fault hits the write once and every reconciling read fails.

A cell reads ``<outcome> <W>+<R>``: the outcome (``ok``; ``reconciled``: a write proven landed
by a read; or the SDK error raised), ``W`` the requests the emulator journalled for the
endpoint and ``R`` those of the reconciling read (``referrerStats`` for a signup,
``referrers`` for a signup, ``specificActionSignups`` for an action): after an ambiguous
failure an early read (which can only prove "landed") and, if it found nothing, the settled
read ``NO_WAIT.settle`` later that may prove "not landed". The journal counts every attempt,
including those the in-process transport turned into a connect error. Retries never sleep
(``NO_WAIT``); in the ``always`` table R is an upper bound (an early read is skipped when a
scan ran less than ``EARLY_MIN_GAP`` before). The client's read timeout is ``READ_TIMEOUT``, so a ``held`` write is processed
after the client gave up, and before its settled read.

The in-process cells run on a virtual-time loop (``helpers.run_virtual``, the emulator on a
``LoopClock``): read timeouts, holds, stalls, trickles and settle windows keep their
durations but cost no real time, so the whole matrix stays in the default suite. The
loopback cells at the end run in real time over a real socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from _support import NO_WAIT, make_emulator
from helpers import run_virtual

import irefer_async as ia
from irefer_async.testing import Emulator, Fault, FaultKind, LoopClock, WriteEffect

K = FaultKind

#: Every fault kind of the emulator that makes a request fail, with its parameters.
FAULTS: dict[str, Fault] = {
    "connect_refused": Fault(K.CONNECT_REFUSED),
    "connect_timeout": Fault(K.CONNECT_TIMEOUT),
    "timeout_before": Fault(K.TIMEOUT_BEFORE),
    "timeout_after": Fault(K.TIMEOUT_AFTER),
    **{f"{s}_before": Fault(K.HTTP_5XX_BEFORE, status=s) for s in (500, 502, 503, 504)},
    **{f"{s}_after": Fault(K.HTTP_5XX_AFTER, status=s) for s in (500, 502, 503, 504)},
    "429_retry_after": Fault(K.HTTP_429, retry_after="1"),
    "429_bare": Fault(K.HTTP_429),
    "null_body": Fault(K.NULL_BODY),
    "truncated_json": Fault(K.TRUNCATED_JSON),
    "html_page": Fault(K.HTML_PAGE),
    "error_body": Fault(K.ERROR_BODY),
    "drop_before": Fault(K.DROP_BEFORE),
    "drop_after": Fault(K.DROP_AFTER),
    "held": Fault(K.HELD, delay=0.25),
    "held_drop": Fault(K.HELD_DROP, delay=0.25),
    "trickle_forever": Fault(K.TRICKLE_FOREVER, delay=0.5),
    "html_path_page": Fault(K.HTML_PATH_PAGE),
    "echo_status_line": Fault(K.ECHO_STATUS_LINE),
    "server_clock": Fault(K.SERVER_CLOCK),
}
#: The matrix client's read timeout: ``held`` (0.25 s) outlasts it, the settle window does not.
READ_TIMEOUT = 0.2

# The expected outcomes. Columns: a read endpoint (all five behave alike), newSignup,
# newSpecificAction. A "5xx" row stands for 500, 502, 503 and 504.
ONCE = """
fault            read                         newSignup               newSpecificAction
connect_refused  ok 2                         ok 2+0                  ok 2+0
connect_timeout  ok 2                         ok 2+0                  ok 2+0
429_retry_after  ok 2                         ok 2+0                  ok 2+0
429_bare         ok 2                         ok 2+0                  ok 2+0
timeout_before   ok 2                         ok 2+2                  ok 2+2
drop_before      ok 2                         ok 2+2                  ok 2+2
5xx_before       ok 2                         ok 2+2                  ok 2+2
null_body        ok 2                         ok 2+2                  ok 2+2
html_page        ok 2                         ok 2+2                  ok 2+2
html_path_page   ok 2                         ok 2+2                  ok 2+2
echo_status_line ok 2                         ok 2+2                  ok 2+2
timeout_after    ok 2                         reconciled 1+1          reconciled 1+1
drop_after       ok 2                         reconciled 1+1          reconciled 1+1
5xx_after        ok 2                         reconciled 1+1          reconciled 1+1
truncated_json   ok 2                         reconciled 1+1          reconciled 1+1
trickle_forever  ok 2                         reconciled 1+1          reconciled 1+1
held             ok 2                         reconciled 1+2          reconciled 1+2
held_drop        ok 2                         reconciled 1+2          reconciled 1+2
server_clock     ok 2                         reconciled 1+1          reconciled 1+1
error_body       APIError 1                   APIError 1+1            APIError 1+0
"""

ALWAYS = """
fault            read                         newSignup                        newSpecificAction
connect_refused  ConnectError 4               ConnectError 4+0                 ConnectError 4+0
connect_timeout  RequestTimeoutError 4        RequestTimeoutError 4+0          RequestTimeoutError 4+0
429_retry_after  RateLimitedError 4           RateLimitedError 4+0             RateLimitedError 4+0
429_bare         RateLimitedError 4           RateLimitedError 4+0             RateLimitedError 4+0
timeout_before   RequestTimeoutError 4        RequestTimeoutError 4+8          RequestTimeoutError 4+8
drop_before      TransportError 4             TransportError 4+8               TransportError 4+8
5xx_before       ServerError 4                ServerError 4+8                  ServerError 4+8
null_body        EmptyResponseError 4         EmptyResponseError 4+8           EmptyResponseError 4+8
html_page        MalformedResponseError 4     MalformedResponseError 4+8       MalformedResponseError 4+8
html_path_page   MalformedResponseError 4     MalformedResponseError 4+8       MalformedResponseError 4+8
echo_status_line TransportError 4             TransportError 4+8               TransportError 4+8
timeout_after    RequestTimeoutError 4        reconciled 1+1                   reconciled 1+1
drop_after       TransportError 4             reconciled 1+1                   reconciled 1+1
5xx_after        ServerError 4                reconciled 1+1                   reconciled 1+1
truncated_json   MalformedResponseError 4     reconciled 1+1                   reconciled 1+1
trickle_forever  RequestTimeoutError 4        reconciled 1+1                   reconciled 1+1
held             RequestTimeoutError 4        reconciled 1+2                   reconciled 1+2
held_drop        RequestTimeoutError 4        reconciled 1+2                   reconciled 1+2
server_clock     TransportError 4             reconciled 1+1                   reconciled 1+1
error_body       APIError 1                   APIError 1+1                     APIError 1+0
"""

# Writes only; every reconciling read meets a 503 (so it fails after its own 4 attempts, both
# the early read and the settled one).
UNKNOWN = """
fault            newSignup                        newSpecificAction
connect_refused  ok 2+0                           ok 2+0
connect_timeout  ok 2+0                           ok 2+0
429_retry_after  ok 2+0                           ok 2+0
429_bare         ok 2+0                           ok 2+0
timeout_before   WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
drop_before      WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
5xx_before       WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
null_body        WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
html_page        WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
html_path_page   WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
echo_status_line WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
timeout_after    WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
drop_after       WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
5xx_after        WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
truncated_json   WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
trickle_forever  WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
held             WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
held_drop        WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
server_clock     WriteOutcomeUnknownError 1+8     WriteOutcomeUnknownError 1+8
error_body       APIError 1+4                     APIError 1+0
"""

READS = ("referrerStats", "campaignStats", "referrers", "rewards", "specificActionSignups")
WRITES = ("newSignup", "newSpecificAction")
ENDPOINTS = READS + WRITES
RECONCILER = {"newSignup": "referrers", "newSpecificAction": "specificActionSignups"}


def _parse(table: str, columns: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """``{(endpoint, fault id): expected}`` from a text table (5xx rows expanded)."""
    cells: dict[tuple[str, str], str] = {}
    lines = [line for line in table.strip().splitlines()[1:] if line.strip()]
    for line in lines:
        parts = line.split()
        fault, values = parts[0], parts[1:]
        expected = [" ".join(values[i : i + 2]) for i in range(0, len(values), 2)]
        faults = (
            [f"{s}_{fault[4:]}" for s in (500, 502, 503, 504)]
            if fault.startswith("5xx_")
            else [fault]
        )
        for fid in faults:
            assert fid in FAULTS, fid
            for endpoint in ENDPOINTS:
                column = "read" if endpoint in READS else endpoint
                if column in columns:
                    cells[(endpoint, fid)] = expected[columns.index(column)]
    return cells


TABLES = {
    "once": _parse(ONCE, ("read", "newSignup", "newSpecificAction")),
    "always": _parse(ALWAYS, ("read", "newSignup", "newSpecificAction")),
    "unknown": _parse(UNKNOWN, ("newSignup", "newSpecificAction")),
}


def _cells(mode: str) -> list[Any]:
    return [
        pytest.param(endpoint, fid, expected, id=f"{endpoint}-{fid}")
        for (endpoint, fid), expected in TABLES[mode].items()
    ]


def test_tables_cover_every_fault_and_endpoint() -> None:
    """Each table has a cell for every endpoint it applies to and every fault kind."""
    # The slow answers make no request fail (slow_list: the real answer in small chunks).
    slow = {K.LATENCY, K.SLOW_TRICKLE, K.SLOW_LIST}
    assert {f.kind for f in FAULTS.values()} >= set(FaultKind) - slow
    assert READ_TIMEOUT < FAULTS["held"].delay < READ_TIMEOUT + NO_WAIT.settle  # type: ignore[operator]
    assert len(TABLES["once"]) == len(TABLES["always"]) == len(ENDPOINTS) * len(FAULTS)
    assert len(TABLES["unknown"]) == len(WRITES) * len(FAULTS)


def _setup(emulator: Emulator) -> str:
    """A referrer (for referrerStats and actions); returns its referral code."""
    return emulator.add_participant("ann@example.com", name="Ann").code


def _call(client: ia.IReferClient, endpoint: str, code: str) -> Callable[[], Awaitable[Any]]:
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "referrerStats": lambda: client.referrer_stats("ann@example.com"),
        "campaignStats": client.campaign_stats,
        "referrers": client.referrers,
        "rewards": client.rewards,
        "specificActionSignups": client.specific_action_signups,
        "newSignup": lambda: client.new_signup("zed@example.com", name="Zed"),
        "newSpecificAction": lambda: client.new_specific_action(
            "ext-1", action="/dashboard", referrer_code=code
        ),
    }
    return calls[endpoint]


def _run_cell(mode: str, endpoint: str, fid: str, expected: str) -> None:
    """Run one cell on a virtual-time loop: held, stalled and trickled answers cost no real time,
    and the emulator stamps rows and ``Date`` headers in the same (loop) time."""
    run_virtual(_cell(mode, endpoint, fid, expected))


async def _cell(mode: str, endpoint: str, fid: str, expected: str) -> None:
    emulator = make_emulator(clock=LoopClock())
    code = _setup(emulator)
    fault = FAULTS[fid]
    emulator.inject_fault(fault, method=endpoint, times=1 if mode != "always" else None)
    if mode == "unknown":
        emulator.inject_fault(Fault(K.HTTP_5XX_BEFORE), method=RECONCILER[endpoint], times=None)
    outcome, counts = expected.split()
    writes, _, reads = counts.partition("+")
    async with emulator.client(retry=NO_WAIT, timeout=READ_TIMEOUT) as client:
        result: Any = None
        error: BaseException | None = None
        try:
            result = await _call(client, endpoint, code)()
        except BaseException as exc:
            error = exc
    journal = emulator.journal
    seen = len(journal.entries(endpoint))
    if outcome in ("ok", "reconciled"):
        assert error is None, f"expected {outcome}, got {type(error).__name__}: {error}"
        if endpoint in WRITES:
            assert result.reconciled is (outcome == "reconciled")
    else:
        assert isinstance(error, ia.IReferError), f"expected {outcome}, got {error!r}"
        assert type(error).__name__ == outcome, f"expected {outcome}, got {error!r}"
        assert error.attempts == (1 if outcome == "WriteOutcomeUnknownError" else int(writes))
        assert error.method == endpoint
    assert seen == int(writes), f"{endpoint}: {seen} requests, expected {writes}"
    if endpoint in WRITES:
        read = RECONCILER[endpoint]
        made = len(journal.entries(read))
        # Early reads are skipped when a scan ran less than EARLY_MIN_GAP before (loop time):
        # R is exact for one ambiguous failure, an upper bound after several.
        assert made == int(reads) if mode != "always" else made <= int(reads), (made, reads)
        assert (made > 0) == (int(reads) > 0)
        # Never a duplicate: at most one write landed, exactly one when it succeeded.
        assert journal.count(WriteEffect.DUPLICATE_REJECTED) == 0
        landed = [e for e in journal.entries(endpoint) if e.effect is not WriteEffect.NONE]
        should_land = outcome in ("ok", "reconciled") or (
            outcome == "WriteOutcomeUnknownError" and fault.kind.applies_write
        )
        assert len(landed) == int(should_land)
        if endpoint == "newSpecificAction":
            actions = emulator.snapshot()["campaigns"][0]["actions"]
            assert len(actions) == len(landed)
        else:
            assert (emulator.participant("zed@example.com") is not None) == bool(landed)


@pytest.mark.parametrize(("endpoint", "fid", "expected"), _cells("once"))
def test_cell_once(endpoint: str, fid: str, expected: str) -> None:
    """One fault on the endpoint's first request: the table's outcome and request counts."""
    _run_cell("once", endpoint, fid, expected)


@pytest.mark.parametrize(("endpoint", "fid", "expected"), _cells("always"))
def test_cell_always(endpoint: str, fid: str, expected: str) -> None:
    """The fault on every request of the endpoint: the table's outcome and request counts."""
    _run_cell("always", endpoint, fid, expected)


@pytest.mark.parametrize(("endpoint", "fid", "expected"), _cells("unknown"))
def test_cell_unknown(endpoint: str, fid: str, expected: str) -> None:
    """A faulted write whose reconciling read fails too: outcome unknown, never resent."""
    _run_cell("unknown", endpoint, fid, expected)


async def test_a_spurious_error_body_on_the_reconciling_read_causes_no_resend() -> None:
    """Regression (found by bulk chaos): the write lands but its answer is lost and the early
    reconciling read meets a spurious error body. A list read's error body is a failed read,
    not "absent": the settled read finds the signup, which is never resent."""
    emulator = make_emulator()
    emulator.inject_fault("drop_after", method="newSignup")
    emulator.inject_fault("error_body", method="referrers")
    async with emulator.client(retry=NO_WAIT) as client:
        signup = await client.new_signup("zed@example.com")
    assert signup.reconciled and signup.email == "zed@example.com"
    assert [(e.method, e.effect.value) for e in emulator.journal] == [
        ("newSignup", "participant_created"),
        ("referrers", "none"),
        ("referrers", "none"),
        ("referrerStats", "none"),
    ]


# -- a handful of cells over a real loopback socket --------------------------------------

LOOPBACK = [
    ("newSignup", Fault(K.HTTP_5XX_AFTER, status=502), "reconciled 1+1"),
    ("newSignup", Fault(K.DROP_AFTER), "reconciled 1+1"),
    ("newSignup", Fault(K.DROP_BEFORE), "ok 2+2"),
    ("newSignup", Fault(K.HELD_DROP, delay=0.55), "reconciled 1+2"),
    ("newSpecificAction", Fault(K.HELD, delay=0.55), "reconciled 1+2"),
    ("referrerStats", Fault(K.HTML_PATH_PAGE), "ok 2"),
    ("campaignStats", Fault(K.ECHO_STATUS_LINE), "ok 2"),
    ("newSignup", Fault(K.ECHO_STATUS_LINE), "ok 2+2"),
    ("newSignup", Fault(K.TIMEOUT_AFTER, delay=5.0), "reconciled 1+1"),
    ("newSpecificAction", Fault(K.TRUNCATED_JSON), "reconciled 1+1"),
    ("newSpecificAction", Fault(K.CONNECT_REFUSED), "ok 2+2"),  # a drop on loopback
    ("referrers", Fault(K.TIMEOUT_BEFORE, delay=5.0), "ok 2"),
    ("campaignStats", Fault(K.HTML_PAGE, status=502), "ok 2"),
    ("rewards", Fault(K.HTTP_429, retry_after="0"), "ok 2"),
    ("referrerStats", Fault(K.NULL_BODY), "ok 2"),
]


@pytest.mark.parametrize(
    ("endpoint", "fault", "expected"),
    [pytest.param(*cell, id=f"{cell[0]}-{cell[1].kind.value}") for cell in LOOPBACK],
)
async def test_cell_loopback(endpoint: str, fault: Fault, expected: str) -> None:
    """The same outcomes over a real socket (uvicorn): drops and stalls are real."""
    emulator = make_emulator()
    code = _setup(emulator)
    emulator.inject_fault(fault, method=endpoint)
    outcome, counts = expected.split()
    writes, _, reads = counts.partition("+")
    async with emulator.serve() as url:
        timeout = httpx.Timeout(0.5, connect=2.0)
        async with emulator.client(
            base_url=url, transport=None, retry=NO_WAIT, timeout=timeout
        ) as client:
            result = await _call(client, endpoint, code)()
    assert len(emulator.journal.entries(endpoint)) == int(writes)
    if endpoint in WRITES:
        assert result.reconciled is (outcome == "reconciled")
        assert len(emulator.journal.entries(RECONCILER[endpoint])) == int(reads)
        assert emulator.journal.count(WriteEffect.DUPLICATE_REJECTED) == 0
