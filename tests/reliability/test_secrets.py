"""Secrets: the license key and the api_key appear in no log, exception, repr, output or file.

The campaign's keys look like real ones; the api key needs URL-encoding (``+ / = & % ; #``), so
every encoded form is searched too. Every test here (and every other reliability test) runs
with the ``irefer_async``, ``httpx`` and ``httpcore`` loggers at DEBUG, checked by the
``debug_logs`` fixture. Exceptions are searched through their message, repr, formatted
traceback, ``__cause__``/``__context__`` chain and attributes (``params``, ``last_error``...).
httpx's own exceptions, and those of third-party transports, may put the full URL in their
message: the tests below raise such exceptions from a transport on purpose. The CLI run as a
real process (killed and resumed) is checked by ``test_crash_resume``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _support import (
    NO_WAIT,
    SECRET_API_KEY,
    SECRET_LICENSE_KEY,
    EmulatorProcess,
    cli_env,
    leaks,
    make_emulator,
)
from click.testing import CliRunner
from test_fault_matrix import ENDPOINTS, FAULTS, READ_TIMEOUT, RECONCILER, WRITES, _call, _setup

import irefer_async as ia
from irefer_async.cli import cli
from irefer_async.testing import Fault, FaultKind, LoopClock

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def texts_of(obj: Any, seen: set[int] | None = None, depth: int = 0) -> Iterator[str]:
    """Every text an error tracker or a log could get from ``obj``: walks exceptions deeply."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    if isinstance(obj, BaseException):
        yield str(obj)
        yield repr(obj)
        yield "".join(traceback.format_exception(obj))
        yield from texts_of(obj.args, seen, depth + 1)
        for link in (obj.__cause__, obj.__context__):
            if link is not None:
                yield from texts_of(link, seen, depth + 1)
        for name in dir(obj):
            if name.startswith("__") or name in ("with_traceback", "add_note"):
                continue
            try:
                value = getattr(obj, name)
            except Exception:
                continue
            if not callable(value):
                yield from texts_of(value, seen, depth + 1)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield str(key)
            yield from texts_of(value, seen, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from texts_of(item, seen, depth + 1)
    else:
        yield repr(obj)
        if hasattr(obj, "url"):
            yield str(obj.url)


def assert_clean(*objs: Any) -> None:
    """Fail if any text of ``objs`` holds a secret (without printing it)."""
    found = {s for obj in objs for text in texts_of(obj) for s in leaks(text)}
    assert not found, f"{len(found)} secret(s) leaked"


def test_forms_are_searched() -> None:
    """The search itself works: it finds the raw and the percent-encoded api key."""
    from urllib.parse import quote

    assert leaks(f"?api_key={quote(SECRET_API_KEY, safe='')}")
    assert leaks(SECRET_LICENSE_KEY)
    assert not leaks("nothing here")
    # A fragment of 6 characters is a leak (a key cut before it was redacted), 5 is not.
    assert leaks(f"/v1.0/***{SECRET_LICENSE_KEY[10:16]}") == [SECRET_LICENSE_KEY]
    assert not leaks(f"/v1.0/***{SECRET_LICENSE_KEY[10:15]}")
    assert leaks(quote(SECRET_API_KEY, safe="")[-6:]) == [SECRET_API_KEY]


@pytest.mark.virtual_time
@pytest.mark.parametrize("mode", ["always", "unknown"])
async def test_fault_errors_are_clean(mode: str) -> None:
    """Every endpoint x every fault kind: the error raised, its chain and attributes are clean."""
    await _fault_errors_are_clean(mode)  # held and trickled answers take no real time


async def _fault_errors_are_clean(mode: str) -> None:
    errors: list[BaseException] = []
    results: list[Any] = []
    for endpoint in ENDPOINTS:
        if mode == "unknown" and endpoint not in WRITES:
            continue
        for fault in FAULTS.values():
            emulator = make_emulator(clock=LoopClock())
            code = _setup(emulator)
            emulator.inject_fault(fault, method=endpoint, times=None if mode == "always" else 1)
            if mode == "unknown":
                emulator.inject_fault("drop_before", method=RECONCILER[endpoint], times=None)
            client = emulator.client(retry=NO_WAIT, timeout=READ_TIMEOUT)
            async with client:
                try:
                    results.append(await _call(client, endpoint, code)())
                except ia.IReferError as exc:
                    errors.append(exc)
            results.extend([client, emulator, list(emulator.journal), emulator.snapshot()])
            results.extend(e.as_dict() for e in emulator.journal)
    assert len(errors) > 20
    assert_clean(errors, results)


class _LeakyTransport(httpx.AsyncBaseTransport):
    """A transport whose errors quote the full URL, like httpx's and aiohttp's do."""

    def __init__(self, exc_type: type[BaseException]) -> None:
        self.exc_type = exc_type

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        message = f"while fetching {request.url!s} ({request.url.query.decode()})"
        if issubclass(self.exc_type, httpx.RequestError):
            raise self.exc_type(message, request=request)
        raise self.exc_type(message)


class _ThirdPartyError(Exception):
    """Not an httpx, OS or value error: what an exotic transport might raise."""


@pytest.mark.parametrize(
    "exc_type",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
        httpx.UnsupportedProtocol,
        httpx.ProxyError,
        OSError,
        ValueError,
        RuntimeError,
        _ThirdPartyError,
    ],
)
@pytest.mark.parametrize("endpoint", ["referrerStats", "newSignup", "newSpecificAction"])
async def test_url_bearing_transport_errors_are_clean(
    exc_type: type[BaseException], endpoint: str
) -> None:
    """A transport error whose message holds the whole URL leaves no secret in the SDK error."""
    client = ia.IReferClient(
        SECRET_LICENSE_KEY,
        SECRET_API_KEY,
        campaign_id=2605,
        transport=_LeakyTransport(exc_type),
        retry=NO_WAIT,
        rate_limit=None,
    )
    async with client:
        with pytest.raises(ia.IReferError) as info:
            await _call(client, endpoint, "code")()
    assert_clean(info.value, client)


async def test_real_socket_errors_are_clean() -> None:
    """Real httpx errors from sockets: refused connection, read timeout, dropped connection."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    errors: list[BaseException] = []
    client = ia.IReferClient(
        SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605, retry=NO_WAIT, rate_limit=None,
        base_url=f"http://127.0.0.1:{closed_port}/v1.0/",
    )  # fmt: skip
    async with client:
        for call in (client.campaign_stats(), client.new_signup("a@example.com")):
            try:
                await call
            except ia.IReferError as exc:
                errors.append(exc)
    emulator = make_emulator()
    emulator.inject_fault(Fault(FaultKind.TIMEOUT_BEFORE, delay=3), times=None)
    async with emulator.serve() as url:
        async with emulator.client(
            base_url=url, transport=None, retry=NO_WAIT, timeout=0.2
        ) as looped:
            for call in (looped.referrers(), looped.new_signup("b@example.com")):
                try:
                    await call
                except ia.IReferError as exc:
                    errors.append(exc)
        emulator.clear_faults()
        emulator.inject_fault("drop_after", times=None)
        async with emulator.client(base_url=url, transport=None, retry=NO_WAIT) as looped:
            try:
                await looped.new_signup("c@example.com")
            except ia.IReferError as exc:
                errors.append(exc)
    assert len(errors) == 5
    assert_clean(errors)


@pytest.mark.virtual_time
async def test_bulk_outcomes_are_clean() -> None:
    """A bulk run through faults: every outcome, error and the summary are clean."""
    await _bulk_outcomes_are_clean()  # trickled and late answers take no real time


async def _bulk_outcomes_are_clean() -> None:
    emulator = make_emulator()
    codes = [emulator.add_participant(f"r{i}@example.com").code for i in range(5)]
    emulator.inject_fault_rate(0.4, tuple(FaultKind), seed=7)
    outcomes: list[Any] = []
    async with emulator.client(retry=NO_WAIT) as client:
        async with client.bulk_new_signups(
            [{"email": f"u{i}@example.com"} for i in range(300)]
        ) as run:
            outcomes += [o async for o in run]
        async with client.bulk_new_specific_actions(
            [ia.NewSpecificActionRequest(f"e{i}", "/dashboard", codes[i % 5]) for i in range(300)]
        ) as actions:
            outcomes += [o async for o in actions]
        assert_clean(outcomes, [o.error for o in outcomes], run, actions, run.summary)
    assert any(o.status is ia.BulkStatus.UNKNOWN for o in outcomes)


def _files(tmp: Path) -> list[str]:
    return [p.read_bytes().decode("utf-8", "replace") for p in tmp.iterdir() if p.is_file()]


def test_cli_output_and_files_are_clean(emulator_process: EmulatorProcess, tmp_path: Path) -> None:
    """CLI commands against a loopback emulator: stdout, stderr, results, failed rows, ledger.

    Faults that only cost real time (held writes, endless bodies: test_slow_server.py covers
    them) are left out; the error page quoting the request path is in.
    """
    emulator_process.control(
        "faults", {"rate": 0.15, "kinds": [k.value for k in FaultKind if "timeout" not in k.value
                                          and k.value not in ("latency", "slow_trickle", "held", "held_drop",
                                                              "trickle_forever")],
                   "seed": 3},
    )  # fmt: skip
    csv = tmp_path / "signups.csv"
    csv.write_text(
        "email,name\n"
        + "".join(f"s{i}@example.com,S {i}\n" for i in range(150))
        + "not-an-email,X\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    env = cli_env()
    base = ["--base-url", emulator_process.url]
    outputs = []
    for args in (
        # --settle 0.2: the loopback emulator answers (or drops) once it has processed a write.
        [
            "import",
            "signups",
            str(csv),
            *base,
            "--rate",
            "0",
            "--concurrency",
            "64",
            "--settle",
            "0.2",
            "--progress",
            "json",
        ],
        [
            "import",
            "signups",
            str(csv),
            *base,
            "--rate",
            "0",
            "--settle",
            "0.2",
            "--resume",
            "--progress",
            "json",
        ],
        ["stats", "referrer", "nobody@example.com", *base],
        ["stats", "campaign", *base, "--format", "json"],
        ["export", "referrers", *base, "--format", "csv"],
        ["export", "actions", *base, "--format", "json"],
    ):
        result = runner.invoke(cli, args, env=env, catch_exceptions=True)
        outputs += [result.output, repr(result.exception)]
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            outputs += list(texts_of(result.exception))
    bad_env = [
        {**env, "IREFER_API_KEY": SECRET_API_KEY + "x"},  # wrong key: the API refuses
        {**env, "IREFER_LICENSE_KEY": SECRET_LICENSE_KEY + "x"},  # malformed: rejected locally
        {**env, "IREFER_LICENSE_KEY": SECRET_LICENSE_KEY[:-1] + "!"},
    ]
    for bad in bad_env:
        result = runner.invoke(cli, ["stats", "campaign", *base], env=bad)
        outputs.append(result.output)
    joined = "\n".join(outputs + _files(tmp_path))
    assert "line 152" in joined or "invalid" in joined  # the run really happened
    assert not leaks(joined)


async def test_aiohttp_transport_errors_are_clean(emulator_process: EmulatorProcess) -> None:
    """The aiohttp transport's errors (aiohttp puts the URL in them) are clean too."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("aiohttp")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    for kind in ("drop_before", "drop_after", "http_5xx_after", "truncated_json"):
        emulator_process.control("faults", {"kind": kind, "times": None})
    errors: list[BaseException] = []
    for url in (f"http://127.0.0.1:{closed_port}/v1.0/", emulator_process.url):
        client = ia.IReferClient(
            SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605, base_url=url,
            transport="aiohttp", retry=NO_WAIT, rate_limit=None, timeout=2,
        )  # fmt: skip
        async with client:
            for call in (client.referrers(), client.new_signup("aio@example.com")):
                try:
                    await call
                except ia.IReferError as exc:
                    errors.append(exc)
        assert_clean(client)
    assert len(errors) == 4
    assert_clean(errors)
