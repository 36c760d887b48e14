"""Hostile input, property-based: parameters, response bodies and import files.

* any string in any parameter reaches the emulator exactly as given (its journal);
* any JSON body (or bytes, or status) for any endpoint gives a model or an ``IReferError``;
* malformed CSV and JSON-lines files give per-row errors, never a crash.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import unicodedata
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import samples
from _support import NO_WAIT, make_emulator
from click.testing import CliRunner
from helpers import API_KEY, LICENSE_KEY, run_virtual
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import irefer_async as ia
from irefer_async.cli import cli
from irefer_async.cli._rows import KINDS, count_rows, detect_format, header_of, read_rows

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Characters that break naive URL building, plus any unicode (no unpaired surrogates).
NASTY = "+&#=%;?/\\ \t\r\n\"'<>{}[]|^`~@:,$!*()\x00\x7f\u00e9\u2028\u202e\ufeff\U0001f600"
texts = st.text(alphabet=st.sampled_from(NASTY) | st.characters(exclude_categories=["Cs"]))
short = st.text(
    alphabet=st.sampled_from(NASTY) | st.characters(exclude_categories=["Cs"]), max_size=40
)
#: Up to ~20 KiB of URL once percent-encoded: long, but under httpx's 64 KiB URL limit.
long_texts = st.builds(lambda s, n: (s or "x")[:4] * n, short, st.integers(1, 400))
values = short
nonblank = values.filter(lambda s: s.strip() != "")


def _email_part(text: str) -> str:
    # What an email may hold (the SDK refuses whitespace, control characters and a second @):
    # every other hostile character stays.
    return "".join(
        ch
        for ch in text
        if not ch.isspace() and ch != "@" and unicodedata.category(ch) not in ("Cc", "Cf")
    )


email_parts = values.map(_email_part).filter(bool)
emails = st.builds(lambda a, b: f"{a}@{b}", email_parts, email_parts)
#: Emails refused before sending: whitespace or a control character anywhere, or a second @.
bad_emails = st.builds(
    lambda a, bad, b, where: (f"{bad}{a}@{b}", f"{a}{bad}@{b}", f"{a}@{b}{bad}")[where],
    email_parts,
    st.sampled_from([" ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\u00a0", "\u2028",
                     "\u200b", "\ufeff", "@"]),
    email_parts,
    st.integers(0, 2),
)  # fmt: skip


def _run(coro_fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    # Virtual time: an ambiguous write's settle window (a 5xx body for newSignup...) is waited
    # out at no real cost; nothing here does real I/O.
    return run_virtual(coro_fn())


# -- parameters reach the emulator exactly as given -----------------------------------------


@FAST
@given(
    email=emails,
    name=short | long_texts,
    phone=values,
    info=st.lists(st.none() | values, min_size=5, max_size=5),
    referrer_code=values,
)
def test_signup_params_arrive_exactly(
    email: str, name: str, phone: str, info: list[str | None], referrer_code: str
) -> None:
    """Every ``newSignup`` parameter arrives byte for byte, whatever it holds."""
    emulator = make_emulator()
    sent = {"email": email, "name": name, "phone": phone, "referrer_code": referrer_code}
    sent |= {f"info_{i + 1}": v for i, v in enumerate(info) if v is not None}

    async def go() -> None:
        async with emulator.client(retry=None) as client:
            with contextlib.suppress(ia.APIError):  # e.g. an unknown referrer code: it arrived
                await client.new_signup(**sent)  # type: ignore[arg-type]

    _run(go)
    entry = emulator.journal.entries("newSignup")[0]
    assert entry.params == {"campaign_id": "2605", **sent}


@FAST
@given(external_id=nonblank, action=nonblank, referrer_code=nonblank, email=emails)
def test_action_and_read_params_arrive_exactly(
    external_id: str, action: str, referrer_code: str, email: str
) -> None:
    """``newSpecificAction`` and ``referrerStats`` parameters arrive exactly as given."""
    emulator = make_emulator()

    async def go() -> None:
        async with emulator.client(retry=None) as client:
            for call in (
                client.new_specific_action(external_id, action=action, referrer_code=referrer_code),
                client.referrer_stats(email),
            ):
                with contextlib.suppress(ia.APIError):
                    await call

    _run(go)
    action_entry, stats_entry = emulator.journal
    assert action_entry.params == {
        "campaign_id": "2605", "external_id": external_id, "action": action,
        "referrer_code": referrer_code,
    }  # fmt: skip
    assert stats_entry.params == {"campaign_id": "2605", "email": email}


@FAST
@given(email=bad_emails)
def test_a_malformed_email_is_refused_before_sending(email: str) -> None:
    """Whitespace, a control character or a second @ anywhere: InvalidRequestError, nothing sent."""
    emulator = make_emulator()

    async def go() -> None:
        async with emulator.client(retry=None) as client:
            for call in (client.new_signup(email), client.referrer_stats(email)):
                with pytest.raises(ia.InvalidRequestError, match="email"):
                    await call

    _run(go)
    assert len(emulator.journal) == 0


def test_url_over_the_limit_is_an_invalid_request() -> None:
    """A parameter too long for any URL is refused before sending, never retried or reconciled."""
    emulator = make_emulator()

    async def go() -> list[BaseException]:
        errors = []
        async with emulator.client(retry=NO_WAIT) as client:
            for call in (
                client.new_signup("a@example.com", name="\u00e9" * 30_000),
                client.referrer_stats("x" * 70_000 + "@example.com"),
            ):
                try:
                    await call
                except ia.IReferError as exc:
                    errors.append(exc)
        return errors

    errors = _run(go)
    assert [type(e) for e in errors] == [ia.InvalidRequestError] * 2
    assert [e.attempts for e in errors] == [1, 1]
    assert len(emulator.journal) == 0


def test_unpaired_surrogate_is_an_invalid_request() -> None:
    """Text that cannot be sent is refused before any request, not sent as a 'transport' error."""
    emulator = make_emulator()

    async def go() -> list[BaseException]:
        errors = []
        async with emulator.client(retry=NO_WAIT) as client:
            for call in (
                client.new_signup("a\udce9@example.com"),
                client.new_signup("a@example.com", name="\ud800"),
                client.new_specific_action("x\udcff", action="/dashboard", referrer_code="c"),
                client.referrer_stats("b@\udc80"),
            ):
                try:
                    await call
                except ia.IReferError as exc:
                    errors.append(exc)
        return errors

    errors = _run(go)
    assert [type(e) for e in errors] == [ia.InvalidRequestError] * 4
    assert len(emulator.journal) == 0


# -- arbitrary bodies -----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)

SAMPLES: dict[str, Any] = {
    "referrerStats": samples.REFERRER_STATS,
    "campaignStats": samples.CAMPAIGN_STATS,
    "newSignup": samples.NEW_SIGNUP,
    "newSpecificAction": samples.NEW_SPECIFIC_ACTION,
    "referrers": samples.REFERRERS,
    "rewards": samples.REWARDS,
    "specificActionSignups": samples.SPECIFIC_ACTION_SIGNUPS,
}


def _mutate(sample: Any, data: st.DataObject) -> Any:
    """The sample with some fields replaced by arbitrary JSON (reaches the converter's depths)."""
    if isinstance(sample, list):
        return [_mutate(item, data) for item in sample[:2]]
    if not isinstance(sample, dict):
        return data.draw(json_values)
    out = dict(sample)
    for key in data.draw(st.lists(st.sampled_from(sorted(sample)), max_size=4, unique=True)):
        out[key] = data.draw(json_values | st.just(None) | st.just("None") | st.just(""))
    return out


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b""),
    st.just(b"null"),
)


def _call(client: ia.IReferClient, method: str) -> Coroutine[Any, Any, Any]:
    return {
        "referrerStats": lambda: client.referrer_stats("ann@example.com"),
        "campaignStats": client.campaign_stats,
        "newSignup": lambda: client.new_signup("ann@example.com"),
        "newSpecificAction": lambda: client.new_specific_action(
            "e", action="/dashboard", referrer_code="c"
        ),
        "referrers": client.referrers,
        "rewards": client.rewards,
        "specificActionSignups": client.specific_action_signups,
    }[method]()


def _serve(body: bytes, status: int, headers: dict[str, str]) -> Any:
    async def go_all() -> list[Any]:
        results = []
        transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body,
                                                                       headers=headers))  # fmt: skip
        async with ia.IReferClient(
            LICENSE_KEY, API_KEY, campaign_id=2605, transport=transport, retry=NO_WAIT,
            rate_limit=None,
        ) as client:  # fmt: skip
            for method in SAMPLES:
                try:
                    results.append(await _call(client, method))
                except ia.IReferError as exc:
                    results.append(exc)
        return results

    return _run(go_all)


@settings(max_examples=80, deadline=None)
@given(
    body=bodies,
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 400, 404, 408, 429, 500, 503, 599]),
    retry_after=st.none() | texts | st.integers(-5, 10**12).map(str),
)
def test_any_body_gives_a_model_or_an_ireferror(
    body: bytes, status: int, retry_after: str | None
) -> None:
    """Any bytes, status and Retry-After, for every endpoint: a model or an IReferError."""
    headers = {}
    if retry_after is not None and retry_after.isascii() and retry_after.isprintable():
        headers["retry-after"] = retry_after
    _serve(body, status, headers)  # any other exception fails the test


@settings(max_examples=80, deadline=None)
@given(method=st.sampled_from(sorted(SAMPLES)), data=st.data())
def test_mutated_samples_give_a_model_or_an_ireferror(method: str, data: st.DataObject) -> None:
    """The guide's sample with fields replaced by arbitrary JSON: a model or an IReferError."""
    body = json.dumps(_mutate(SAMPLES[method], data)).encode()
    for outcome in _serve(body, 200, {}):
        assert isinstance(outcome, ia.IReferError) or not isinstance(outcome, BaseException)


# -- import files ---------------------------------------------------------------------------

cells = st.text(
    alphabet=st.sampled_from(',"\n\r;\t @.xé€\x00') | st.characters(exclude_categories=["Cs"]),
    max_size=30,
)
headers = st.sampled_from(
    [
        "email,name,source",
        "email",
        "EMAIL,Name",
        "",
        "email,name,email",
        "email,unknown_column",
        "a@example.com,Ann",  # no header: the first row is taken as one
        "external_id,action,referrer_code",
    ]
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV file with a random header, rows of random cells, blank lines, BOM, encoding."""
    lines = [draw(headers)]
    for _ in range(draw(st.integers(0, 12))):
        row = draw(st.lists(cells, max_size=5))
        lines.append(",".join(row) if draw(st.booleans()) else ",".join(json.dumps(c) for c in row))
        if draw(st.booleans()):
            lines.append("")
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data += draw(st.binary(max_size=20))
    return data


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    """A JSON-lines file: objects with random keys and values, garbage lines, blank lines."""
    keys = st.sampled_from(["email", "name", "external_id", "action", "referrer_code", "x"])
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(json.dumps(draw(st.dictionaries(keys | texts, json_values, max_size=4))))
        elif kind == 1:
            lines.append(json.dumps(draw(json_values)))
        elif kind == 2:
            lines.append(draw(texts))
        else:
            lines.append("")
    return "\n".join(lines).encode("utf-8", errors="replace") + draw(st.binary(max_size=10))


def _read_everything(path: Path) -> list[Any]:
    fmt = detect_format(path)
    count_rows(path, fmt)
    if fmt == "csv":
        header_of(path)
    rows = []
    for kind in KINDS.values():
        for row in read_rows(path, fmt, kind):
            assert (row.error is None) != (row.request is None)
            rows.append(row)
    return rows


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=csv_files() | jsonl_files(), suffix=st.sampled_from([".csv", ".jsonl", ".txt"]))
def test_any_file_gives_per_row_errors(tmp_path: Path, data: bytes, suffix: str) -> None:
    """Any file (bad encoding, BOM, no header, extra columns, blank lines...) reads row by row."""
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    _read_everything(path)


def test_very_long_cell_is_a_row_error(tmp_path: Path) -> None:
    """A cell longer than the csv module's field limit fails its row, not the file."""
    path = tmp_path / "long.csv"
    path.write_text(
        "email,name\n" + f"a@example.com,{'x' * 200_000}\n" + "b@example.com,B\n", encoding="utf-8"
    )
    rows = _read_everything(path)
    signups = rows[: len(rows) // 2]
    assert signups[-1].request is not None and signups[-1].request.email == "b@example.com"


BAD_FILES: dict[str, bytes] = {
    "latin1.csv": "email,name\nj\u00e9r\u00f4me@example.com,J\u00e9r\u00f4me\nok@example.com,OK\n".encode(
        "latin-1"
    ),
    "bom.csv": codecs.BOM_UTF8 + b"email,name\nbom@example.com,B\n",
    "utf16.csv": "email,name\nu16@example.com,U\n".encode("utf-16"),
    "noheader.csv": b"a@example.com,Ann\nb@example.com,Bob\n",
    "extra.csv": b"email,name\nx@example.com,X,surplus,cells\n",
    "blank.csv": b"email\n\n\n   \ny@example.com\n\n",
    "empty.csv": b"",
    "nul.csv": b"email,name\nn@example.com,N\x00N\n",
    "quotes.csv": b'email,name\n"q@example.com,"unterminated\n',
    "garbage.jsonl": b'{"email": "j@example.com"}\nnot json\n[1,2]\n\n{"email": 5}\n\xff\xfe\n',
    "long.csv": b"email,name\nl@example.com," + b"y" * 200_000 + b"\nm@example.com,M\n",
}


#: Files whose header is unusable: one file-level error, before anything is sent.
FILE_LEVEL = {"empty.csv", "noheader.csv", "utf16.csv"}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_import_of_bad_files_never_crashes(tmp_path: Path, name: str) -> None:
    """``irefer import signups --emulator`` (and ``--dry-run``) on each bad file: exit 0 or 1,
    or 2 with one error line for a problem of the whole file (no usable header)."""
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    runner = CliRunner()
    for extra in (["--dry-run"], []):
        result = runner.invoke(
            cli, ["import", "signups", str(path), "--emulator", "--progress", "none", *extra]
        )
        if name in FILE_LEVEL:
            assert result.exit_code == 2, (result.output, result.exception)
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
            assert "line 1" in result.stderr
            continue
        assert result.exit_code in (0, 1), (result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit)
