"""The one cattrs converter, and every quirk of the iRefer wire format it absorbs.

Quirks (all seen in the API guide's samples):

* numbers sent as strings: ``"total_views": "126"``, ``"signups_count": "1"``, ids ``"271047"``
  become ``int`` (real JSON numbers are accepted too);
* booleans sent as ``"1"``/``"0"`` (``confirmed``) become ``bool``;
* percentages sent as ``"21.4%"`` (``conversion``) become the number ``21.4``;
* ``"None"``, ``""`` and ``null`` mean "no value" in optional fields and become ``None``;
* ISO timestamps with a ``Z`` suffix become timezone-aware ``datetime`` (UTC);
* enum-like strings (lead sources t/f/l/w/e, ``reward_to: "REFFERER"``, ``EACHTIME``...) become
  open enums that keep unknown values instead of failing;
* ``referral_link`` rendered as an HTML anchor (``" <a href="URL">URL</a> "``, as the guide's
  browser captures show) becomes the bare URL;
* a ``null`` list becomes an empty tuple; unknown fields are ignored (kept in ``raw``).

Any value that does not fit raises, and :func:`decode` turns that into
:class:`~irefer_async.MalformedResponseError` naming the path that failed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from . import _models as m
from ._errors import MalformedResponseError

__all__ = ["decode"]

T = TypeVar("T")

_NO_VALUE = (None, "None", "", "null")
_ANCHOR = re.compile(r"""<a\s[^>]*href=["']([^"']*)["']""", re.IGNORECASE)


def _to_int(value: Any, _: Any = None) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer or a numeric string, got {value!r}")


def _to_opt_int(value: Any, _: Any = None) -> int | None:
    return None if value in _NO_VALUE else _to_int(value)


def _to_bool(value: Any, _: Any = None) -> bool:
    if isinstance(value, bool):
        return value
    if value in (1, "1", "true", "True"):
        return True
    if value in (0, "0", "false", "False", None, ""):
        return False
    raise ValueError(f"expected 1/0, got {value!r}")


def _to_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_opt_str(value: Any, _: Any = None) -> str | None:
    return None if value in _NO_VALUE else _to_str(value)


def _to_percent(value: Any, _: Any = None) -> float | None:
    if value in _NO_VALUE:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value.strip().rstrip("%"))
    raise TypeError(f"expected a percentage like '21.4%', got {value!r}")


def _to_datetime(value: Any, _: Any = None) -> dt.datetime | None:
    if value in _NO_VALUE:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO timestamp, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _to_link(value: Any, _: Any = None) -> str:
    text = _to_str(value).strip()
    anchor = _ANCHOR.search(text)
    return anchor.group(1) if anchor else text


def _to_rewards(value: Any, _: Any = None) -> tuple[m.Reward, ...]:
    if value in _NO_VALUE:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"expected a list of rewards, got {type(value).__name__}")
    return tuple(_structure_reward(item) for item in value)


def _enum_hook(enum_type: type[m._OpenEnum]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any = None) -> Any:
        if value in _NO_VALUE:
            return None
        return enum_type(_to_str(value).strip())

    return hook


_MODELS: tuple[type[Any], ...] = (
    m.Reward,
    m.ReferrerStats,
    m.CampaignStats,
    m.NewSignup,
    m.NewSpecificAction,
    m.Referrer,
    m.TriggeredReward,
    m.SpecificActionSignup,
)


def build_converter(*, detailed: bool) -> cattrs.Converter:
    """Build the converter; ``detailed`` adds cattrs' per-field error paths (slower)."""
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    scalar_hooks: dict[Any, Callable[[Any, Any], Any]] = {
        int: _to_int,
        int | None: _to_opt_int,
        bool: _to_bool,
        str: _to_str,
        str | None: _to_opt_str,
        float | None: _to_percent,
        dt.datetime | None: _to_datetime,
        tuple[m.Reward, ...]: _to_rewards,
    }
    for enum_type in (
        m.LeadSource,
        m.RewardQuantity,
        m.RewardDelivery,
        m.RewardGoalType,
        m.RewardTo,
    ):
        scalar_hooks[enum_type | None] = _enum_hook(enum_type)
    for tp, hook in scalar_hooks.items():
        if type(tp) is type:  # not isinstance: on 3.10 tuple[X, ...] passes it
            conv.register_structure_hook(tp, hook)
        else:
            # Unions and parametrised generics cannot go through singledispatch: match exactly.
            conv.register_structure_hook_func(lambda t, tp=tp: t == tp, hook)

    for model in _MODELS:
        overrides: dict[str, Any] = {"raw": override(omit=True)}
        if "referral_link" in attrs_fields(model) and model is not m.Referrer:
            overrides["referral_link"] = override(struct_hook=_to_link)
        conv.register_structure_hook(
            model, _with_raw(make_dict_structure_fn(model, conv, **overrides))
        )
    return conv


def attrs_fields(model: type[Any]) -> set[str]:
    """Return the names of a model's attrs fields."""
    return {f.name for f in attrs.fields(model)}


def _with_raw(structure: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    def hook(value: Any, cls: Any) -> T:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        instance = structure(value, cls)
        object.__setattr__(instance, "raw", value)  # frozen: set once, at birth
        return instance

    return hook


_FAST = build_converter(detailed=False)
_DETAILED: cattrs.Converter | None = None


def _structure_reward(value: Any) -> m.Reward:
    return _FAST.structure(value, m.Reward)


def _explain(data: Any, tp: Any) -> str:
    """Say why ``data`` does not fit ``tp``, with cattrs' paths, for the error message."""
    global _DETAILED  # noqa: PLW0603 - built lazily: only failures need it
    if _DETAILED is None:
        _DETAILED = build_converter(detailed=True)
    try:
        _DETAILED.structure(data, tp)
    except Exception as exc:
        lines = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        return "; ".join(lines[:5]) or f"{type(exc).__name__}: {exc}"
    return "unexpected shape"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number")


def decode(data: Any, tp: type[T] | Any, *, method: str) -> T:
    """Structure decoded JSON into ``tp`` (a model, or ``tuple[Model, ...]`` for lists).

    Raises :class:`MalformedResponseError` (with no exception chained) on any mismatch.
    """
    try:
        if getattr(tp, "__origin__", None) is tuple and type(data) is not list:
            raise TypeError("list endpoint")
        return _FAST.structure(data, tp)  # type: ignore[no-any-return]
    except Exception:  # noqa: S110 - translated below, outside the handler
        pass
    if getattr(tp, "__origin__", None) is tuple and type(data) is not list:
        detail = f"expected a JSON array, got {_json_type(data)}"
    elif type(data) is not dict and getattr(tp, "__origin__", None) is not tuple:
        detail = f"expected a JSON object, got {_json_type(data)}"
    else:
        detail = _explain(data, tp)
    raise MalformedResponseError(
        f"{method}: unexpected response shape", method=method, detail=detail
    )
