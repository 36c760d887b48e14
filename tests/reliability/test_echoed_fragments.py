"""Key fragments through foreign error texts: a server or proxy that echoes the request target.

A malformed status line (``HTTP/1.1 2OO /v1.0/W4qLx9Rk2P``) or header line echoing the request
target cut inside a key makes the HTTP parser (h11 under httpx, aiohttp's) quote a *piece* of
the key in its error, which whole-key redaction missed. Against a raw fake server
(`misbehaving_server`, modes ``echo_status``/``echo_header``): every SDK error (message, repr,
traceback, ``__cause__``/``__context__`` chain), every DEBUG log line (this directory's
``debug_logs`` fixture), and every CLI output and file hold no 6-character piece of either key
in any form. Also: the redactor's forms and windows, the log filter on aiohttp's loggers and on
a record's formatted exception, and a record written after ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from _support import NO_WAIT, SECRET_API_KEY, SECRET_LICENSE_KEY, cli_env, leaks, make_emulator
from click.testing import CliRunner
from test_secrets import assert_clean, texts_of

import irefer_async as ia
from irefer_async.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/misbehaving_server.py

from helpers import run_virtual
from misbehaving_server import MisbehavingServer, misbehaving

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

TRANSPORTS = ["httpx", "aiohttp", "httpx2"]
MODES = ["echo_status", "echo_header"]
#: Characters of the request target after ``/v1.0/`` the server echoes: inside the license
#: key (6 to 19 of its characters, as measured in the field, and all of it), and inside the
#: percent-encoded api key at the end of a campaignStats target.
_STATS_TARGET = f"{SECRET_LICENSE_KEY}.js/campaignStats?campaign_id=2605&api_key="
CUTS = [6, 9, 13, 19, 32, len(_STATS_TARGET) + 9]


def _forms(secret: str) -> set[str]:
    """Every form the promise names, computed here independently of the SDK."""
    once = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    once |= {_lower_escapes(f) for f in once}
    twice = {quote(f, safe="") for f in once}
    twice |= {_lower_escapes(f) for f in twice}
    return {secret, secret.encode().hex(), *once, *twice}


def _lower_escapes(text: str) -> str:
    import re

    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _pieces(text: str) -> list[str]:
    """The 6-character pieces of any form of either key found in ``text``."""
    found = []
    for secret in (SECRET_LICENSE_KEY, SECRET_API_KEY):
        for form in _forms(secret):
            found += [form[i : i + 6] for i in range(len(form) - 5) if form[i : i + 6] in text]
    return found


def _client(url: str, transport: str, **kwargs: Any) -> ia.IReferClient:
    """``transport``: httpx (the default stack), aiohttp (its transport), httpx2 (its stack)."""
    extra: dict[str, Any] = {
        "httpx": {},
        "aiohttp": {"transport": "aiohttp"},
        "httpx2": {"http_stack": "httpx2"},
    }[transport]
    return ia.IReferClient(
        SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605, base_url=url,
        retry=NO_WAIT, rate_limit=None, timeout=5, **extra, **kwargs,
    )  # fmt: skip


# -- the redactor --------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET_LICENSE_KEY, SECRET_API_KEY])
def test_every_window_of_every_form_is_masked(secret: str) -> None:
    """Raw, percent-encoded, quote_plus, lower-case hex, double-encoded, hex: any 6 characters."""
    from irefer_async._redact import Redactor

    redactor = Redactor(SECRET_LICENSE_KEY, SECRET_API_KEY)
    for form in _forms(secret):
        for i in range(len(form) - 5):
            for width in (6, 7, 11):
                piece = form[i : i + width]
                out = redactor.redact(f"line: '{piece}' end")
                assert not _pieces(out), (form.index(piece), width)
                assert out.startswith("line: '") and out.endswith("' end")


def test_redact_then_cut() -> None:
    """A quote cut inside a key keeps no piece of it: the whole text is redacted first."""
    from irefer_async._redact import Redactor

    redactor = Redactor(SECRET_LICENSE_KEY, SECRET_API_KEY)
    text = "HTTP/1.1 2OO /v1.0/" + SECRET_LICENSE_KEY[:19] + " and more text after it"
    for limit in range(len(text)):
        assert not _pieces(redactor.quote(text, limit))


def test_ordinary_text_is_kept() -> None:
    """Only pieces of the keys go: a 5-character piece, other words and the demo keys' words stay."""
    from irefer_async._redact import Redactor
    from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY

    redactor = Redactor(SECRET_LICENSE_KEY, SECRET_API_KEY)
    text = f"GET /v1.0/{SECRET_LICENSE_KEY[3:8]} campaign_id=2605 ok"
    assert redactor.redact(text) == text
    demo = Redactor(DEFAULT_LICENSE_KEY, DEFAULT_API_KEY)
    words = "run `irefer emulator`, then 2026-12-06T00:00:00.000000"
    assert demo.redact(words) == words
    assert (
        demo.redact(f"/{DEFAULT_LICENSE_KEY}.js/?api_key={DEFAULT_API_KEY}")
        == "/***.js/?api_key=***"
    )


def test_public_keys_are_the_emulator_demo_keys() -> None:
    """The keys redacted whole only are exactly the emulator's documented demo keys."""
    from irefer_async._redact import PUBLIC_KEYS
    from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY

    assert {DEFAULT_LICENSE_KEY, DEFAULT_API_KEY} == PUBLIC_KEYS


# -- the SDK's errors and logs, both transports ----------------------------------------------


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_echoed_target_leaves_no_piece_in_errors(transport: str, mode: str, cut: int) -> None:
    """A read and a write through a server echoing the target cut inside a key: clean errors."""
    pytest.importorskip({"httpx": "httpx", "aiohttp": "aiohttp", "httpx2": "httpx2"}[transport])
    errors = await _echoed_errors(transport, mode, cut)
    texts = [t for e in errors for t in texts_of(e)]
    assert any("***" in t for t in texts)  # the echoed line is quoted, masked
    assert not [p for t in texts for p in _pieces(t)]
    assert_clean(errors)


async def _echoed_errors(transport: str, mode: str, cut: int) -> list[BaseException]:
    """The errors of a read and a write through a server echoing the target cut at ``cut``."""
    async with misbehaving(mode, cut=cut) as server:
        errors: list[BaseException] = []
        async with _client(server.url, transport) as client:
            for call in (client.campaign_stats(), client.new_signup("a@example.com")):
                with pytest.raises(ia.IReferError) as info:
                    await call
                errors.append(info.value)
    assert server.requests >= 2
    return errors


#: The stdlib's pure-Python Task (PyPy's, and the kind pytest-asyncio's runner backport makes
#: on 3.10); absent from some builds.
_PY_TASK = getattr(asyncio.tasks, "_PyTask", None)


@pytest.mark.skipif(_PY_TASK is None, reason="no pure-Python asyncio.Task in this build")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echoed_target_under_a_pure_python_task(transport: str, mode: str) -> None:
    """Where aiohttp's parser error once reached the SDK error, on every Python version.

    aiohttp fails a request by setting its parser error on a future the task awaits; a
    pure-Python Task throws it into the coroutine from inside an ``except`` block, so every
    exception raised before the task next suspends got it (quoting the echoed line) as its
    implicit ``__context__``, ``raise ... from None`` or not. The C Task does not: CI saw this
    only on 3.10, where pytest-asyncio runs tests in a pure-Python Task.
    """
    pytest.importorskip({"httpx": "httpx", "aiohttp": "aiohttp", "httpx2": "httpx2"}[transport])
    assert _PY_TASK is not None

    async def main() -> list[BaseException]:
        return await _PY_TASK(_echoed_errors(transport, mode, 19))

    errors = asyncio.run(main())
    texts = [t for e in errors for t in texts_of(e)]
    assert any("***" in t for t in texts)
    assert not [p for t in texts for p in _pieces(t)]
    assert_clean(errors)


async def test_httpcore_debug_line_is_redacted(debug_logs: list[str]) -> None:
    """httpcore's ``receive_response_headers.failed exception=...`` line quotes the echo."""
    async with misbehaving("echo_status", cut=19) as server, _client(server.url, "httpx") as c:
        with pytest.raises(ia.TransportError):
            await c.campaign_stats()
    failed = [line for line in debug_logs if "receive_response_headers.failed" in line]
    assert failed and all("***" in line for line in failed)
    assert not [p for line in debug_logs for p in _pieces(line)]


@pytest.mark.parametrize(
    "name", ["aiohttp.client", "aiohttp.internal", "asyncio", "httpcore.http11"]
)
def test_foreign_loggers_are_filtered(name: str) -> None:
    """A record of aiohttp's, asyncio's or httpcore's loggers: message, exception and stack."""
    from irefer_async._redact import install_log_filter

    client = ia.IReferClient(SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605)
    install_log_filter()
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    logger = logging.getLogger(name)
    handler = Keep()
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        echo = f"b'HTTP/1.1 2OO /v1.0/{SECRET_LICENSE_KEY[:13]}'"
        try:
            raise ValueError(f"Bad status line {echo}")
        except ValueError:
            logger.error("failed on %s", echo, exc_info=True, stack_info=True)
        logger.debug("url=%s", f"?api_key={quote(SECRET_API_KEY, safe='')[:14]}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        asyncio.run(client.aclose())
    assert len(lines) == 2 and "Traceback" in lines[0]
    assert not [p for line in lines for p in _pieces(line)]


def test_a_record_written_after_aclose_is_redacted(debug_logs: list[str]) -> None:
    """A late record (a task still finishing an exchange after the client closed, a pool
    connection torn down later) is redacted: a closed client's keys stay in the filter."""
    client = ia.IReferClient(SECRET_LICENSE_KEY, SECRET_API_KEY, campaign_id=2605)
    asyncio.run(client.aclose())
    logging.getLogger("httpx").info(
        'HTTP Request: GET http://127.0.0.1:1/v1.0/%s.js/campaignStats?api_key=%s "HTTP/1.1 200 OK"',
        SECRET_LICENSE_KEY, quote(SECRET_API_KEY, safe=""),
    )  # fmt: skip
    assert debug_logs and "***" in debug_logs[-1]
    assert not leaks(debug_logs[-1])


# -- the CLI ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _serving(mode: str, cut: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The misbehaving server inside each event loop a CLI command runs, on virtual time.

    The commands retry a failed read with backoff: on virtual time that takes no real time.
    Each ``asyncio.run`` of the command starts the server on the same loopback port first.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = MisbehavingServer(mode, {}, 0.0, cut)

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        async def serving() -> Any:
            listener = await asyncio.start_server(server.handle, "127.0.0.1", port)
            try:
                return await coro
            finally:
                listener.close()

        return run_virtual(serving())

    monkeypatch.setattr(asyncio, "run", run)
    yield f"http://127.0.0.1:{port}/v1.0/"


@pytest.mark.parametrize("mode", MODES)
def test_cli_outputs_and_files_hold_no_piece(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor (text and JSON), import (stderr, results.jsonl, failed rows, ledger), export."""
    csv = tmp_path / "signups.csv"
    csv.write_text("email\n" + "".join(f"s{i}@example.com\n" for i in range(5)), encoding="utf-8")
    runner = CliRunner()
    outputs: list[str] = []
    with _serving(mode, 13, monkeypatch) as url:
        base = ["--base-url", url]
        for args in (
            ["doctor", *base],
            ["doctor", *base, "--json"],
            ["import", "signups", str(csv), *base, "--settle", "0", "--progress", "json",
             "--results", str(tmp_path / "results.jsonl")],
            ["stats", "campaign", *base],
            ["export", "referrers", *base, "--format", "csv"],
            ["export", "actions", *base, "--format", "json", "--output", str(tmp_path / "a.json")],
        ):  # fmt: skip
            result = runner.invoke(cli, args, env=cli_env(), catch_exceptions=True)
            outputs += [result.output, repr(result.exception)]
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                outputs += list(texts_of(result.exception))
    files = [p.read_text("utf-8", "replace") for p in tmp_path.iterdir() if p.is_file()]
    joined = "\n".join(outputs + files)
    assert "***" in joined  # the echoed line reached the outputs, masked
    assert (tmp_path / "results.jsonl").exists()
    assert not _pieces(joined)


# -- the emulator's fault, for users' own code ------------------------------------------------


@pytest.mark.parametrize("front", ["in_process", "loopback"])
async def test_emulator_echo_status_line_fault(front: str) -> None:
    """``echo_status_line``: a plain httpx client sees the parser's error quoting a piece of
    the license key (what a user's own code must not log); the SDK's error has it masked."""
    import httpx

    from irefer_async.testing import FaultKind

    emulator = make_emulator()
    emulator.inject_fault(FaultKind.ECHO_STATUS_LINE, times=None)
    piece = SECRET_LICENSE_KEY[:13]
    target = f"{SECRET_LICENSE_KEY}.js/campaignStats?campaign_id=2605&api_key=k"
    async with contextlib.AsyncExitStack() as stack:
        if front == "loopback":
            base = await stack.enter_async_context(emulator.serve())
            raw = httpx.AsyncClient()
            client = _client(base, "httpx")
        else:
            base = "http://irefer.test/v1.0/"
            raw = httpx.AsyncClient(transport=emulator.transport())
            client = emulator.client(retry=NO_WAIT)
        await stack.enter_async_context(raw)
        await stack.enter_async_context(client)
        with pytest.raises(httpx.RemoteProtocolError) as seen:
            await raw.get(base + target)
        with pytest.raises(ia.TransportError) as info:
            await client.campaign_stats()
    assert str(seen.value) == f"illegal status line: bytearray(b'HTTP/1.1 2OO /v1.0/{piece}')"
    assert "illegal status line" in str(info.value) and "***" in str(info.value)
    assert_clean(info.value)
    assert all(e.fault is FaultKind.ECHO_STATUS_LINE for e in emulator.journal)


# -- the leak detector of these suites --------------------------------------------------------


def test_an_object_address_is_not_a_leak() -> None:
    """Why ``test_bulk_cancellation_leaves_no_slot_or_task_behind`` failed now and then.

    httpcore logs every new connection at DEBUG with its stream's repr, an address such as
    ``0x7f0520530bed``; six of its hex digits can be a piece of the hex-looking test key
    ``helpers.LICENSE_KEY`` (``W4qL69dbdc0ed0520530bede3c1fc574``, not even used by that
    test), and the detector then reported "the whole license key" (it names the key a piece
    belongs to). About one address in 10^5 does; that test logs ~60. Addresses are not
    searched for pieces any more; a piece anywhere else still is.
    """
    from helpers import LICENSE_KEY

    line = (
        "httpcore.connection DEBUG connect_tcp.complete "
        "return_value=<httpcore._backends.anyio.AnyIOStream object at 0x7f0520530bed>"
    )
    assert LICENSE_KEY[14:20] in line
    assert not leaks(line)
    assert leaks(f"GET /v1.0/{LICENSE_KEY[10:16]}") == [LICENSE_KEY]
    assert leaks(f"object at 0x7f0520530bed {LICENSE_KEY}") == [LICENSE_KEY]


# -- the doctor's own words are not the key's ---------------------------------------------------

#: Keys holding pieces of the doctor's fixed labels ("config.campaign_id", "license key",
#: "passed"...): redacting the whole output masked those labels, which told that the piece is
#: in the key (and broke the table). Only what comes from outside is redacted now.
_LABEL_LICENSE = "W4qLcampaignlicenseZx7Qp2Rt9Kv4W"
_LABEL_API_KEY = "passed+failed/accepted=Rk4"


@pytest.mark.parametrize("cut", [19, 32, len(_STATS_TARGET) + 9])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_doctor_masks_echoed_pieces_but_not_its_own_labels(
    cut: int, as_json: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys that contain pieces of the doctor's labels, a server that echoes them: every label
    is printed whole, and every key piece in the output is one of the doctor's own words
    (it is in the output of the same run with other keys too)."""

    def doctor(license_key: str, api_key: str) -> str:
        env = {**cli_env(), "IREFER_LICENSE_KEY": license_key, "IREFER_API_KEY": api_key}
        with _serving("echo_status", cut, monkeypatch) as url:
            args = ["doctor", "--base-url", url, *(["--json"] if as_json else [])]
            result = CliRunner().invoke(cli, args, env={**env, "COLUMNS": "200"})
        assert result.exit_code == 1, result.output
        return result.output

    out = doctor(_LABEL_LICENSE, _LABEL_API_KEY)
    other = doctor(SECRET_LICENSE_KEY, SECRET_API_KEY)
    for label in ("config.campaign_id", "config.license_key", "config.api_key"):
        assert label in out, out
    assert "***" in out  # the echoes reached the output, masked
    pieces = {
        form[i : i + 6]
        for key in (_LABEL_LICENSE, _LABEL_API_KEY)
        for form in _forms(key)
        for i in range(len(form) - 5)
        if form[i : i + 6] in out
    }
    assert pieces, "the keys were chosen to share words with the doctor's labels"
    assert sorted(p for p in pieces if p not in other) == []
