"""The attribution settings, the code check and the cookie, framework aside."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from irefer_async import ConfigurationError
from irefer_async.web import Attribution, is_referral_code, referral_code


@pytest.mark.parametrize("code", ["7XYu.oRD", "jZA3MbP0", "aSbVGWuE", "........"])
def test_the_guides_codes_are_valid(code: str) -> None:
    assert is_referral_code(code)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "7XYu.oR",
        "7XYu.oRD9",
        "7XYu oRD",
        "7XYu;oRD",
        "<script>",
        "é7XYu.oR",
        "7XYu\noR",
        12345678,
    ],
)
def test_anything_else_is_not_a_code(value: object) -> None:
    assert not is_referral_code(value)


def test_a_loose_pattern_still_refuses_what_a_cookie_cannot_hold() -> None:
    loose = Attribution(code_pattern=".{8}")
    assert loose.valid("ab.cd-ef") == "ab.cd-ef"
    assert [loose.valid(v) for v in ("ab;cdefg", "ab cdefg", 'ab"cdefg', "ab,cdefg")] == [None] * 4


def test_cookie_flags() -> None:
    """HttpOnly and SameSite=Lax always; Secure on https only unless forced."""
    plain = Attribution().set_cookie("7XYu.oRD", https=False)
    assert plain == "vsu_referrer_hash=7XYu.oRD; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax"
    assert "; Secure;" in Attribution().set_cookie("7XYu.oRD", https=True)
    assert "Secure" not in Attribution(secure=False).set_cookie("7XYu.oRD", https=True)
    assert "Secure" in Attribution(secure=True).set_cookie("7XYu.oRD", https=False)
    custom = Attribution(cookie="ref", max_age=dt.timedelta(hours=1), domain=".example.com")
    assert custom.set_cookie("7XYu.oRD", https=False).startswith(
        "ref=7XYu.oRD; Max-Age=3600; Path=/; Domain=.example.com;"
    )


@pytest.mark.parametrize(
    ("query", "cookies", "last_touch", "expected"),
    [
        ("iref=7XYu.oRD", [], False, ("7XYu.oRD", "7XYu.oRD")),
        ("a=1&iref=7XYu.oRD&iref=jZA3MbP0", [], False, ("7XYu.oRD", "7XYu.oRD")),
        ("iref=bad", [], False, (None, None)),
        ("iref=%3Cscript%3E", ["vsu_referrer_hash=jZA3MbP0"], False, ("jZA3MbP0", None)),
        ("iref=7XYu.oRD", ["vsu_referrer_hash=jZA3MbP0"], False, ("jZA3MbP0", None)),
        ("iref=7XYu.oRD", ["vsu_referrer_hash=jZA3MbP0"], True, ("7XYu.oRD", "7XYu.oRD")),
        ("iref=7XYu.oRD", ["vsu_referrer_hash=<tampered>"], False, ("7XYu.oRD", "7XYu.oRD")),
        ("", ["x=1; vsu_referrer_hash=jZA3MbP0; y"], False, ("jZA3MbP0", None)),
        ("iref=", [], False, (None, None)),
    ],
)
def test_first_touch_and_last_touch(
    query: str, cookies: list[str], last_touch: bool, expected: tuple[str | None, str | None]
) -> None:
    """First touch keeps the first valid code; last touch lets a new valid code replace it;
    an invalid code (in the query or the cookie) is ignored."""
    assert Attribution(last_touch=last_touch).resolve(query, cookies) == expected


@pytest.mark.parametrize(
    "options",
    [
        {"param": ""},
        {"param": "a b"},
        {"cookie": "a;b"},
        {"max_age": 0},
        {"max_age": dt.timedelta(seconds=-1)},
        {"domain": "exa mple.com"},
        {"path": "nope"},
        {"code_pattern": "[a-z"},
    ],
)
def test_bad_settings_raise_configuration_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Attribution(**options)  # type: ignore[arg-type]


def test_referral_code_of_a_cookie_header() -> None:
    assert referral_code("a=1; vsu_referrer_hash=jZA3MbP0") == "jZA3MbP0"
    assert referral_code('vsu_referrer_hash="jZA3MbP0"') == "jZA3MbP0"
    assert referral_code("vsu_referrer_hash=bad") is None
    assert referral_code("ref=jZA3MbP0", cookie="ref") == "jZA3MbP0"
    assert referral_code("") is None


def test_no_framework_is_imported() -> None:
    """Importing irefer_async.web (ASGI, WSGI, aiohttp factory) imports no web framework."""
    code = (
        "import sys, irefer_async.web\n"
        "bad = {'aiohttp', 'starlette', 'fastapi', 'django', 'flask', 'werkzeug'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
