"""Drift: where the JSON the service sends differs from what the models were written for.

A `DriftRecorder` is a `irefer_async.decoding.DecodeObserver`: handed to `decode`, or to a
client (``IReferClient(decode_observer=DriftRecorder())``; ``irefer doctor`` always does).
Before the fast decoder runs, `DriftRecorder.observe` walks the same JSON with the same quirk
functions and counts, per model and field:

* ``unknown_field``: a key the model does not know (it is kept in ``raw``, nothing else);
* ``missing_field``: a model field the object lacks (a required one fails decoding; an
  optional one silently takes its default);
* ``quirk``: a value that needed one of the converter's quirk conversions (a numeric
  string, ``"1"``/``"0"``, ``"21.4%"``, ``"None"``, an HTML anchor, an enum value the SDK
  does not know...), named by `DriftEntry.detail`;
* ``failed``: a value no conversion accepts (decoding raises MalformedResponseError).

Each entry keeps one example value, redacted by `redact_example` (participant data
never leaves whole). Cost: nothing when no recorder is given (one ``is None`` test per
call, not per object); with one, the plain values that make most of an answer take a type
test each, so a recorded decode costs a few times a plain one (see ``docs/doctor.md``). Memory is
bounded: at most `MAX_ENTRIES` distinct entries, later ones only counted.

Many quirks are the 2018 guide's own wire format (every ``id`` is a string there):
`GUIDE_QUIRKS` lists those, so `DriftEntry.expected` tells drift from the
format the SDK was written for.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from irefer_async import decoding

__all__ = [
    "GUIDE_QUIRKS",
    "MAX_ENTRIES",
    "DriftEntry",
    "DriftKind",
    "DriftRecorder",
    "redact_example",
]

#: Distinct (field, kind, detail) entries kept; further ones only add to ``overflow``.
MAX_ENTRIES = 256


class DriftKind(str, enum.Enum):
    """What kind of difference a `DriftEntry` counts."""

    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    QUIRK = "quirk"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: (field path, quirk) pairs that the 2018 guide's own samples need: not drift.
#: ``tests/test_drift.py`` checks this against the guide's samples and the emulator.
GUIDE_QUIRKS: frozenset[tuple[str, str]] = frozenset(
    [
        *(
            (f"{model}.{name}", "numeric string")
            for model, names in {
                "Referrer": ("id", "campaign_id", "referrals_count"),
                "TriggeredReward": (
                    "id",
                    "campaign_id",
                    "recipient_id",
                    "referrals_made",
                    "reward_id",
                    "reward_signups_count",
                ),
                "SpecificActionSignup": ("id", "campaign_id"),
                "CampaignStats": ("total_views",),
                "Reward": ("signups_count",),
            }.items()
            for name in names
        ),
        ("ReferrerStats.confirmed", "1/0 string"),
        ("NewSignup.confirmed", "1/0 string"),
        ("CampaignStats.conversion", "percent string"),
        *(
            (f"{model}.{name}", "no-value marker")
            for model, names in {
                "ReferrerStats": (
                    "reward_last",
                    "reward_last_description",
                    "reward_next",
                    "reward_next_description",
                ),
                "NewSignup": ("reward_next", "reward_next_description"),
                "Referrer": (
                    "source_network",
                    "name",
                    "phone",
                    "info_1",
                    "info_2",
                    "info_3",
                    "info_4",
                    "info_5",
                    "referrer_email",
                ),
                "TriggeredReward": ("recipient_name", "reward_description"),
                "Reward": ("reward_description",),
            }.items()
            for name in names
        ),
        ("ReferrerStats.referral_link", "html anchor"),
        ("NewSignup.referral_link", "html anchor"),
    ]
)


@attrs.frozen
class DriftEntry:
    """One counted difference: a field of a model, what differed, how often, one example."""

    #: The model the object decodes into (``"Referrer"``).
    model: str
    #: ``Model.field``, nested through lists with ``[]``: ``"ReferrerStats.rewards_earned[]
    #: .signups_count"`` is reported as ``"Reward.signups_count"`` with the model ``Reward``.
    path: str
    #: What differed.
    kind: DriftKind
    #: For ``quirk``: which conversion (``"numeric string"``); for ``failed``: why.
    detail: str
    #: How many values (or objects, for a field's absence or presence) it was seen in.
    count: int
    #: One example value, redacted (`redact_example`); ``""`` for a missing field.
    example: str

    @property
    def expected(self) -> bool:
        """Whether the 2018 guide's own samples look like this (a quirk, not drift)."""
        return self.kind is DriftKind.QUIRK and (self.path, self.detail) in GUIDE_QUIRKS

    def describe(self) -> str:
        """One line for a person: ``Referrer.referral_count: unknown field (12x, e.g. "3")``."""
        what = {
            DriftKind.UNKNOWN_FIELD: "field the SDK does not know",
            DriftKind.MISSING_FIELD: "field missing from the answer",
            DriftKind.QUIRK: f"needed a conversion ({self.detail})",
            DriftKind.FAILED: f"could not be converted ({self.detail})",
        }[self.kind]
        example = f", e.g. {self.example}" if self.example else ""
        return f"{self.path}: {what} ({self.count}x{example})"

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready data."""
        return {
            "model": self.model,
            "path": self.path,
            "kind": self.kind.value,
            "detail": self.detail,
            "count": self.count,
            "example": self.example,
            "expected": self.expected,
        }


_EMAIL = re.compile(r"^([^@\s]{1,2})[^@\s]*@([^@\s.]{0,2})[^@\s]*$")


def redact_example(value: Any, redact: Callable[[str], str] | None = None) -> str:
    """Show a wire value's type and shape without its content (participant data stays out).

    Numbers, booleans and null are shown as they are (their type is the point: ``3`` or
    ``"3"``); strings of up to 3 characters too; longer strings keep their first two
    characters (an email also the first two of its domain), the rest becomes ``*`` (at most
    six), then the length: ``"an***@ex*** (16 chars)"``. ``redact`` (a client's secret
    redactor) runs first, on the whole text.
    """
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return f"{{object, {len(value)} keys}}"
    text = str(value)
    if redact is not None:
        text = redact(text)
    if len(text) <= 3:
        return json.dumps(text)
    email = _EMAIL.match(text)
    if email:
        shown = f"{email.group(1)}***@{email.group(2)}***"
    else:
        shown = text[:2] + "*" * min(len(text) - 2, 6)
    return f'"{shown}" ({len(text)} chars)'


@attrs.define
class _Tally:
    count: int
    example: str


_Key = tuple[str, str, DriftKind, str]  # model, path, kind, detail


class DriftRecorder:
    """Counts drift as JSON is decoded; read it with `entries`.

    For example:

    ```python
    recorder = DriftRecorder()
    async with IReferClient(decode_observer=recorder) as client:
        await client.referrers()
        for entry in recorder.entries():
            if not entry.expected:
                print(entry.describe())
    ```
    """

    __slots__ = ("_entries", "_objects", "_redact", "overflow")

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        """``redact`` (a client's secret redactor) is applied to every example first."""
        self._entries: dict[_Key, _Tally] = {}
        self._objects: dict[str, int] = {}
        self._redact = redact
        #: Differences not kept because `MAX_ENTRIES` distinct ones were already.
        self.overflow = 0

    def __repr__(self) -> str:
        return f"<DriftRecorder {len(self._entries)} entries>"

    @property
    def objects(self) -> Mapping[str, int]:
        """How many JSON objects were examined, by model name."""
        return dict(self._objects)

    def entries(self, *, include_expected: bool = True) -> tuple[DriftEntry, ...]:
        """Every entry, sorted by path; ``include_expected=False`` drops the guide's quirks."""
        result = [
            DriftEntry(model, path, kind, detail, tally.count, tally.example)
            for (model, path, kind, detail), tally in self._entries.items()
        ]
        result.sort(key=lambda e: (e.path, e.kind.value, e.detail))
        return tuple(e for e in result if include_expected or not e.expected)

    def clear(self) -> None:
        """Forget everything counted so far."""
        self._entries.clear()
        self._objects.clear()
        self.overflow = 0

    def observe(self, data: Any, tp: Any) -> None:
        """Count the drift in ``data`` (decoded JSON) against ``tp`` (a model or a tuple).

        Never raises: a shape the models cannot take at all is left for the decoder to
        report.
        """
        if getattr(tp, "__origin__", None) is tuple:
            if type(data) is not list:
                return
            model = tp.__args__[0]
            for item in data:
                self._object(item, model, model.__name__)
        else:
            self._object(data, tp, tp.__name__)

    def _add(self, model: str, path: str, kind: DriftKind, detail: str, value: Any) -> None:
        key = (model, path, kind, detail)
        tally = self._entries.get(key)
        if tally is not None:
            tally.count += 1
        elif len(self._entries) < MAX_ENTRIES:
            example = "" if kind is DriftKind.MISSING_FIELD else redact_example(value, self._redact)
            self._entries[key] = _Tally(1, example)
        else:
            self.overflow += 1

    def _object(self, obj: Any, model: type[Any], name: str) -> None:
        if not isinstance(obj, Mapping):
            return
        self._objects[name] = self._objects.get(name, 0) + 1
        plan = _plan(model)
        if len(obj) != len(plan) or not all(key in plan for key in obj):
            for key, value in obj.items():
                if key not in plan:
                    self._add(name, f"{name}.{key}", DriftKind.UNKNOWN_FIELD, "", value)
        for field, (path, hook, optional, types, plain, nested) in plan.items():
            value = obj.get(field, _ABSENT)
            if (value is None and optional) or (type(value) in types and plain(value)):
                continue  # the plain JSON the field expects: the common case, kept cheap
            if value is _ABSENT:
                self._add(name, path, DriftKind.MISSING_FIELD, "", None)
                continue
            if nested is not None and type(value) is list:
                for item in value:
                    self._object(item, nested, nested.__name__)
                continue
            try:
                hook(value, None)
            except Exception as exc:  # any failure of a quirk function is a failed value
                self._add(name, path, DriftKind.FAILED, _why(exc), value)
                continue
            quirk = classify(hook, value)
            if quirk is not None:
                self._add(name, path, DriftKind.QUIRK, quirk, value)


_ABSENT: Any = object()
_ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# path, quirk function, optional, plain JSON types, plain-value test, nested model
_Step = tuple[str, Callable[[Any, Any], Any], bool, tuple[type, ...], Callable[[Any], bool], Any]
_PLANS: dict[type[Any], dict[str, _Step]] = {}


def _always(value: Any) -> bool:
    return True


def _plan(model: type[Any]) -> dict[str, _Step]:
    """Return each wire field of ``model`` with what its plain values look like (cached)."""
    plan = _PLANS.get(model)
    if plan is None:
        c = decoding
        plan = _PLANS[model] = {}
        for field, (hook, _) in c.field_hooks(model).items():
            optional = c.maps_none_to_none(hook)
            types, plain = _plain(hook, optional=optional)
            nested = getattr(hook, "nested_model", None)
            plan[field] = (f"{model.__name__}.{field}", hook, optional, types, plain, nested)
    return plan


def _plain(  # noqa: PLR0911 - one return per kind of field
    hook: Callable[[Any, Any], Any], *, optional: bool
) -> tuple[tuple[type, ...], Callable[[Any], bool]]:
    """Return the JSON types of a field's plain values and a test on them (no quirk needed)."""
    kind = getattr(hook, "quirk_kind", None)
    if kind == "int":
        return (int,), _always
    if kind == "bool":
        return (bool,), _always
    if kind == "percent":
        return (int, float), _always
    if kind == "str":
        return (str,), (lambda v: v not in _MARKERS) if optional else _always
    if kind == "datetime":
        return (str,), lambda v: _ISO_Z.fullmatch(v) is not None
    if kind == "link":
        return (str,), lambda v: "<" not in v
    if kind == "enum":
        return (str,), getattr(hook, "known_values", frozenset()).__contains__
    return (), _always


def _why(exc: Exception) -> str:
    if isinstance(exc, TypeError | ValueError) and "expected" in str(exc):
        # Our own quirk functions' messages name the expectation and quote the value:
        # keep the expectation only (the value may be participant data).
        return str(exc).split(",", 1)[0]
    return type(exc).__name__


_MARKERS = frozenset(("None", "", "null"))


def classify(hook: Callable[[Any, Any], Any], value: Any) -> str | None:  # noqa: PLR0911 - one return per quirk
    """Name the quirk conversion ``hook`` applies to ``value`` (None: it was native JSON).

    ``value`` is one that ``hook`` accepts.
    """
    c = decoding
    if value is None:
        return None
    if type(value) is str and value in _MARKERS and c.maps_none_to_none(hook):
        return "no-value marker"
    kind = getattr(hook, "quirk_kind", None)
    if kind == "int":
        if type(value) is str:
            return "numeric string"
        return "integral float" if type(value) is float else None
    if kind == "bool":
        if type(value) is bool:
            return None
        return "1/0 string" if value in ("1", "0") else f"{type(value).__name__} as boolean"
    if kind == "str":
        return None if type(value) is str else "number as text"
    if kind == "percent":
        if type(value) is str:
            return "percent string" if value.strip().endswith("%") else "numeric string"
        return None
    if kind == "link":
        return "html anchor" if c.is_anchor(value) else None
    if kind == "enum":
        return None if hook(value, None).known else "value the SDK does not know"
    if kind == "datetime":
        plain = type(value) is str and _ISO_Z.fullmatch(value) is not None
        return None if plain else "timestamp in another format"
    return None
