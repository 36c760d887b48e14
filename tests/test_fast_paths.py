"""The hot path's fast versions give exactly what the plain ones do: decode hooks, JSON, URLs."""

from __future__ import annotations

import json
import random
import string
from typing import Any
from urllib.parse import quote, urlencode

import cattrs
import httpx
import pytest
import samples

from irefer_async import NewSignup, Referrer, ReferrerStats, TriggeredReward
from irefer_async._converter import _fast, build_converter, loads
from irefer_async._redact import Redactor
from irefer_async._transport import Sender

_FAST = _fast()
DETAILED = build_converter(detailed=True)

QUIRKY_VALUES: list[Any] = [
    None, "", "None", "null", "0", "1", " 7 ", "12", 12, 12.0, 12.5, True, False, "t", " f ",
    "x", "REFFERER", "2018-06-04T02:57:24Z", " 2018-06-04T02:57:24Z", "2018-06-04T02:57:24z",
    "2018-06-04T02:57:24", "2018-06-04T02:57:24+02:00", "bad", [], {}, "21.4%",
    "\x1c12", "2018-06-04Z", "2018-06-04T02:57:24.5Z", "true", 1.0,
]  # fmt: skip


def _outcome(converter: cattrs.Converter, data: Any, tp: Any) -> Any:
    try:
        value = converter.structure(data, tp)
    except Exception:
        return "raises"
    if converter is _FAST:  # the detailed converter only explains failures: it keeps no raw
        assert getattr(value, "raw", data) is data
    return value


@pytest.mark.parametrize(
    ("sample", "model"),
    [
        (samples.REFERRERS[0], Referrer),
        (samples.REWARDS[0], TriggeredReward),
        (samples.REFERRER_STATS_EMPTY, ReferrerStats),
    ],
)
def test_fast_hooks_agree_with_cattrs_on_every_quirk(sample: dict[str, Any], model: Any) -> None:
    """Every field, given every quirky value (or left out), decodes the same or fails in both."""
    for field in sample:
        missing = {k: v for k, v in sample.items() if k != field}
        assert _outcome(_FAST, missing, model) == _outcome(DETAILED, missing, model), field
        for value in QUIRKY_VALUES:
            data = {**sample, field: value}
            assert _outcome(_FAST, data, model) == _outcome(DETAILED, data, model), (field, value)


def test_fields_the_sdk_sets_are_never_read_from_the_wire() -> None:
    """``reconciled``, ``age_unknown``, ``fetched_at`` and ``raw`` in an answer change nothing."""
    wire = {"reconciled": "1", "age_unknown": True, "fetched_at": "2001-01-01T00:00:00Z"}
    for converter in (_FAST, DETAILED):
        signup = converter.structure({**samples.NEW_SIGNUP, **wire, "raw": {}}, NewSignup)
        assert not signup.reconciled and not signup.age_unknown
        assert signup.fetched_at is not None and signup.fetched_at.year > 2001
    assert _FAST.structure({**samples.NEW_SIGNUP, "raw": {}}, NewSignup).raw["raw"] == {}


def test_a_row_missing_optional_keys_gets_the_defaults_and_keeps_raw() -> None:
    """Rows without some optional keys take the defaults (the generated fallback), raw intact."""
    full = samples.REFERRERS[0]
    row = {k: v for k, v in full.items() if k not in ("ip", "referrals_count")}
    rows = [full, row, *([full] * 70), row, full]  # complete rows before, during, after a skip
    decoded = _FAST.structure(rows, tuple[Referrer, ...])
    for got, sent in zip(decoded, rows, strict=True):
        assert got == DETAILED.structure(sent, Referrer)
        assert got.raw is sent
    assert decoded[1].ip is None and decoded[1].referrals_count == 0
    assert decoded[0].ip == full["ip"]


def test_fast_hooks_reject_what_is_not_an_object() -> None:
    """A list item that is not a JSON object fails, as with cattrs."""
    for value in ([1], ["x"], [None], [[]]):
        assert _outcome(_FAST, value, tuple[Referrer, ...]) == "raises"


@pytest.mark.parametrize("body", [b'{"a": 1}', b"[1, 2.5, null]", b"NaN", b'\xef\xbb\xbf{"a": 1}'])
def test_loads_accepts_what_json_loads_accepts(body: bytes) -> None:
    """orjson when installed, json.loads for what orjson refuses: same result either way."""
    result, expected = loads(body), json.loads(body)
    assert result == expected or (result != result and expected != expected)  # NaN


@pytest.mark.parametrize("body", [b"", b"<html>", b'{"a": ', b"\xff"])
def test_loads_raises_value_error_like_json_loads(body: bytes) -> None:
    """Not JSON: ValueError, as json.loads raises."""
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are json.loads's or orjson's
        loads(body)


def test_url_for_matches_urlencode() -> None:
    """The hand-rolled query string is byte for byte what urlencode(quote_via=quote) gives."""
    license_key, api_key = "W4qL" + "a" * 28, "k+y/\u00e9 &="
    http = httpx.AsyncClient()
    sender = Sender(
        http,
        httpx,
        base_url="http://x.test/v1.0/",
        license_key=license_key,
        api_key=api_key,
        redactor=Redactor(license_key, api_key),
        trusted=True,
    )
    rnd = random.Random(0)
    alphabet = string.printable + "\u00e9\u00fc\u20ac\U0001d11e"
    for _ in range(2000):
        params = {
            rnd.choice(["email", "campaign_id", "info_1"]) + str(n): "".join(
                rnd.choice(alphabet) for _ in range(rnd.randrange(12))
            )
            for n in range(rnd.randrange(5))
        }
        query = urlencode({**params, "api_key": api_key}, quote_via=quote, safe="")
        expected = f"http://x.test/v1.0/{license_key}.js/m?{query}"
        assert sender.url_for("m", params) == expected, params
        # httpx keeps the pre-encoded query as given (nothing re-quoted).
        parsed = http.build_request("GET", expected).url
        assert str(parsed) == expected, params
