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

Any value that does not fit raises, and `decode` turns that into
`MalformedResponseError` naming the path that failed.

Speed: decoding is on every call's path and a ``referrers`` answer may hold every participant
of a campaign, so the converter used on success is built for speed. Each model gets a
structure function generated from its attrs fields (`_make_fast_hook`): one line per
field, the common case inlined (``type(v) is str``, a dict lookup for enums and "no value"
markers) with the quirk functions above as the fallback, and the model built with one
positional call. Those functions are registered on a cattrs converter like any hook. Only
when decoding fails is the slower cattrs-generated converter with detailed validation built,
to say *where* it failed; both apply the same quirk functions, so they accept the same
values. `loads` parses JSON with orjson when it is importable (``irefer-async[speedups]``;
about 2x faster than `json.loads`), falling back to `json.loads` for anything
orjson refuses (NaN, a BOM), so the accepted input is the same either way.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from . import _models as m
from ._errors import MalformedResponseError

if TYPE_CHECKING:  # cattrs is imported with the first decode: `import irefer_async` stays light
    import cattrs

__all__ = [
    "DecodeObserver",
    "decode",
    "explain_item",
    "field_hooks",
    "is_anchor",
    "item_structure",
    "json_type",
    "loads",
    "maps_none_to_none",
]

T = TypeVar("T")

_NO_VALUE = (None, "None", "", "null")
# The same markers as a set, for the generated hooks (None is tested with `is` first).
_NO_VALUE_STR = frozenset(("None", "", "null"))

_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is an optional speedup
    _orjson_loads = None


def loads(content: bytes) -> Any:
    """Parse a JSON body: orjson when importable, else (or when orjson refuses) json.loads.

    Raises ``ValueError`` for a body that is not JSON, as `json.loads` does.
    """
    if _orjson_loads is not None:
        try:
            return _orjson_loads(content)
        except ValueError:
            pass  # NaN, Infinity, a BOM, huge integers: json.loads decides
    return json.loads(content)


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

    hook.enum_type = enum_type  # type: ignore[attr-defined] # read by _make_fast_hook
    hook.quirk_kind = "enum"  # type: ignore[attr-defined] # read by irefer_async.doctor's drift classifier
    hook.known_values = frozenset(member.value for member in enum_type)  # type: ignore[attr-defined]
    return hook


def is_anchor(value: Any) -> bool:
    """Whether ``value`` is a link rendered as an HTML anchor (the ``_to_link`` quirk)."""
    return isinstance(value, str) and _ANCHOR.search(value) is not None


# What each quirk function converts, for the doctor's drift classifier
# (documented in irefer_async.decoding: quirk_kind, known_values, nested_model).
for _hook, _kind in (
    (_to_int, "int"),
    (_to_opt_int, "int"),
    (_to_bool, "bool"),
    (_to_str, "str"),
    (_to_opt_str, "str"),
    (_to_percent, "percent"),
    (_to_datetime, "datetime"),
    (_to_link, "link"),
):
    _hook.quirk_kind = _kind  # type: ignore[union-attr]
_to_rewards.nested_model = m.Reward  # type: ignore[attr-defined]


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


def _scalar_hooks() -> dict[Any, Callable[[Any, Any], Any]]:
    """Return the quirk function for each field type of the models."""
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
    return scalar_hooks


_SCALAR_HOOKS = _scalar_hooks()


def build_converter(*, detailed: bool) -> cattrs.Converter:
    """Build the converter; ``detailed`` adds cattrs' per-field error paths (slower)."""
    import cattrs  # noqa: PLC0415 - on first use: about 40 ms of import time
    from cattrs.gen import make_dict_structure_fn  # noqa: PLC0415

    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    scalar_hooks = _SCALAR_HOOKS
    for tp, hook in scalar_hooks.items():
        if type(tp) is type:  # not isinstance: on 3.10 tuple[X, ...] passes it
            conv.register_structure_hook(tp, hook)
        else:
            # Unions and parametrised generics cannot go through singledispatch: match exactly.
            conv.register_structure_hook_func(_exactly(tp), hook)

    for model in _MODELS:
        overrides = _overrides(model)
        if detailed:
            hook = _mapping_only(
                make_dict_structure_fn(
                    model,
                    conv,
                    **_cattrs_overrides(overrides),
                )
            )
        else:
            hook = _GENERATED[model] = _make_fast_hook(model, scalar_hooks, overrides)
            many = _make_fast_many(hook)
            conv.register_structure_hook_func(_exactly(tuple[model, ...]), many)  # type: ignore[valid-type]
        conv.register_structure_hook(model, hook)
    return conv


def _cattrs_overrides(overrides: Mapping[str, Callable[[Any, Any], Any]]) -> dict[str, Any]:
    from cattrs.gen import override  # noqa: PLC0415 - imported with the converter

    result: dict[str, Any] = {name: override(struct_hook=fn) for name, fn in overrides.items()}
    result["raw"] = override(omit=True)
    result["fetched_at"] = override(omit=True)
    return result


def _exactly(tp: Any) -> Callable[[Any], bool]:
    return lambda t: bool(t == tp)


def _overrides(model: type[Any]) -> dict[str, Callable[[Any, Any], Any]]:
    """Per-field hooks that differ from the field type's hook."""
    if hasattr(attrs.fields(model), "referral_link") and model is not m.Referrer:
        return {"referral_link": _to_link}
    return {}


_MISSING: Any = object()
# The fast hooks, by model, as generated (models only nest models generated before them).
_GENERATED: dict[type[Any], Callable[[Any, Any], Any]] = {}
# datetime.fromisoformat reads a "Z" suffix as UTC from Python 3.11 on.
_FROMISO_Z = sys.version_info >= (3, 11)


def _field_expr(hook: Callable[[Any, Any], Any], i: int, env: dict[str, Any]) -> str:
    """Return the expression converting ``v`` with ``hook``, the common wire case inline."""
    inline = _INLINE.get(hook)
    if inline is not None:
        return inline
    table = _lookup_table(hook)
    if table is not None:
        # The exact wire values map straight to results; anything else takes the hook.
        env[f"t{i}"] = table
        return f"t{i}[v] if type(v) is str and v in t{i} else h{i}(v)"
    if hook is _to_rewards:
        env["reward"] = _GENERATED[m.Reward]
        return f"tuple([reward(x, None) for x in v]) if type(v) is list else h{i}(v)"
    if hook is _to_datetime and _FROMISO_Z:
        # "2018-06-04T02:57:24Z": nothing to strip, and fromisoformat reads the Z as UTC
        # itself (3.11+), so the hook's own steps would change nothing.
        env["fromiso"] = dt.datetime.fromisoformat
        return f"fromiso(v) if type(v) is str and v[-1:] == 'Z' and v[:1].isdigit() else h{i}(v)"
    return f"h{i}(v)"


# int() strips the same whitespace str.strip() does, so `int(v)` is `_to_int` for a str.
_INLINE: dict[Callable[[Any, Any], Any], str] = {
    _to_int: "v if type(v) is int else int(v) if type(v) is str else to_int(v)",
    _to_str: "v if type(v) is str else to_str(v)",
    _to_opt_str: "None if v is None or v in NO_VALUE else (v if type(v) is str else to_str(v))",
    _to_opt_int: (
        "None if v is None or v in NO_VALUE else "
        "(v if type(v) is int else int(v) if type(v) is str else to_int(v))"
    ),
}


def _lookup_table(hook: Callable[[Any, Any], Any]) -> dict[str, Any] | None:
    if hook is _to_bool:
        return {"1": True, "0": False}
    enum_type = getattr(hook, "enum_type", None)
    if enum_type is None:
        return None
    table: dict[str, Any] = {member.value: member for member in enum_type}
    table.update(dict.fromkeys(_NO_VALUE_STR))
    return table


def _make_fast_hook(
    model: type[Any],
    scalar_hooks: Mapping[Any, Callable[[Any, Any], Any]],
    overrides: Mapping[str, Callable[[Any, Any], Any]],
) -> Callable[[Any, Any], Any]:
    """Generate ``structure(o, _) -> model`` with each field's conversion written out.

    Same results as the cattrs-generated function with the same quirk hooks (required fields
    read with ``o[name]``, defaults kept when a key is absent, unknown keys ignored), minus
    cattrs' per-field bookkeeping.
    """
    env: dict[str, Any] = {
        "Mapping": Mapping,
        "cls": model,
        "MISSING": _MISSING,
        "NO_VALUE": _NO_VALUE_STR,
        "to_int": _to_int,
        "to_str": _to_str,
    }
    lines = [
        "def structure(o, _=None):",
        "    if type(o) is not dict and not isinstance(o, Mapping):",
        "        raise TypeError(f'expected a JSON object, got {type(o).__name__}')",
    ]
    args: list[str] = []
    for i, field in enumerate(attrs.fields(attrs.resolve_types(model))):
        if field.name in _SET_LATER:
            args += _SET_LATER[field.name]
            continue
        name, var = field.name, f"x{i}"
        hook = overrides.get(name)
        if hook is None:
            hook = scalar_hooks[field.type]
        env[f"h{i}"] = hook
        # An absent key must give the default; when the hook maps None to the default
        # (None), `o.get(name)` already does.
        none_is_default = field.default is None and _maps_none_to_none(hook)
        if field.default is attrs.NOTHING:
            lines.append(f"    v = o[{name!r}]")
        elif none_is_default:
            lines.append(f"    v = o.get({name!r})")
        else:
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                raise TypeError(f"{model.__name__}.{name}: factory defaults are not supported")
            env[f"d{i}"] = field.default
            lines.append(f"    v = o.get({name!r}, MISSING)")
        expr = _field_expr(hook, i, env)
        if field.default is attrs.NOTHING or none_is_default:
            lines.append(f"    {var} = {expr}")
        else:
            lines.append(f"    {var} = d{i} if v is MISSING else {expr}")
        args.append(f"{name}={var}" if field.kw_only else var)
    if _plain_slots(model):
        # No validator, converter or post-init to run: fill the slots directly, which
        # skips the frozen __init__'s object.__setattr__ call per field.
        names = [f.name for f in attrs.fields(model)]
        lines.append("    self = new(cls)")
        for name, arg in zip(names, [*args, "o"], strict=True):
            env[f"set_{name}"] = model.__dict__[name].__set__
            lines.append(f"    set_{name}(self, {arg.rpartition('=')[2]})")
        lines.append("    return self")
        env["new"] = object.__new__
    else:
        args.append("raw=o")
        lines.append(f"    return cls({', '.join(args)})")
    source = "\n".join(lines)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<irefer_async structure {model.__name__}>", "exec"), env, namespace)  # noqa: S102 - our own generated code
    structure: Callable[[Any, Any], Any] = namespace["structure"]
    structure.__doc__ = source
    return structure


# Fields not read from the JSON: ``raw`` is the JSON itself (passed last); ``fetched_at`` is
# stamped by the client once the answer is in.
_SET_LATER: dict[str, list[str]] = {"raw": [], "fetched_at": ["fetched_at=None"]}


def _maps_none_to_none(hook: Callable[[Any, Any], Any]) -> bool:
    try:
        return hook(None, None) is None
    except Exception:
        return False


_NONE_TO_NONE: dict[Callable[[Any, Any], Any], bool] = {}


def maps_none_to_none(hook: Callable[[Any, Any], Any]) -> bool:
    """Whether ``hook`` reads JSON null as None (an optional field: it takes the markers)."""
    known = _NONE_TO_NONE.get(hook)
    if known is None:
        known = _NONE_TO_NONE[hook] = _maps_none_to_none(hook)
    return known


_FIELD_HOOKS: dict[type[Any], dict[str, tuple[Callable[[Any, Any], Any], bool]]] = {}


def field_hooks(model: type[Any]) -> Mapping[str, tuple[Callable[[Any, Any], Any], bool]]:
    """Each wire field of ``model``: the quirk function the decoder applies, and if required.

    The same functions as the generated decoders' fallbacks, so what the drift recorder
    calls a quirk is what decoding does.
    """
    hooks = _FIELD_HOOKS.get(model)
    if hooks is None:
        overrides = _overrides(model)
        hooks = _FIELD_HOOKS[model] = {
            f.name: (overrides.get(f.name) or _SCALAR_HOOKS[f.type], f.default is attrs.NOTHING)
            for f in attrs.fields(attrs.resolve_types(model))
            if f.name not in ("raw", "reconciled", "age_unknown", "fetched_at")
        }
    return hooks


def _plain_slots(model: type[Any]) -> bool:
    """Whether ``model`` is a slotted attrs class whose ``__init__`` only stores its fields."""
    fields = attrs.fields(model)
    return (
        "__slots__" in model.__dict__
        and fields[-1].name == "raw"
        and not hasattr(model, "__attrs_pre_init__")
        and not hasattr(model, "__attrs_post_init__")
        and all(f.validator is None and f.converter is None and f.init for f in fields)
        and all(isinstance(model.__dict__.get(f.name), _MEMBER_DESCRIPTOR) for f in fields)
    )


_MEMBER_DESCRIPTOR = type(m.Reward.__dict__["signups_count"])


def _make_fast_many(hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``tuple[Model, ...]`` from a JSON array (``decode`` has checked it is one)."""

    def structure_many(value: Any, _: Any = None) -> tuple[Any, ...]:
        return tuple([hook(item, None) for item in value])

    return structure_many


def _mapping_only(structure: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """Wrap a detailed hook: it only explains failures, so ``raw`` is left empty."""

    def hook(value: Any, cls: Any) -> T:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        return structure(value, cls)

    return hook


_FAST: cattrs.Converter | None = None
_DETAILED: cattrs.Converter | None = None


def _fast() -> cattrs.Converter:
    """Return the converter used on success, built (cattrs imported) at the first decode."""
    global _FAST  # noqa: PLW0603 - built once, lazily
    if _FAST is None:
        _FAST = build_converter(detailed=False)
    return _FAST


def _structure_reward(value: Any) -> m.Reward:
    return _GENERATED[m.Reward](value, m.Reward)  # type: ignore[no-any-return]


def _explain(data: Any, tp: Any) -> str:
    """Say why ``data`` does not fit ``tp``, with cattrs' paths, for the error message."""
    import cattrs  # noqa: PLC0415 - imported with the converter

    global _DETAILED  # noqa: PLW0603 - built lazily: only failures need it
    if _DETAILED is None:
        _fast()  # the detailed hooks nest the fast ones' models
        _DETAILED = build_converter(detailed=True)
    try:
        _DETAILED.structure(data, tp)
    except Exception as exc:
        lines = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        return "; ".join(lines[:5]) or f"{type(exc).__name__}: {exc}"
    return "unexpected shape"


def item_structure(model: type[T]) -> Callable[[Any, Any], T]:
    """Return the generated structure function of ``model`` (the tuple calls' per-item one).

    It raises on any mismatch; `explain_item` then says why.
    """
    _fast()
    return _GENERATED[model]


def explain_item(data: Any, model: type[Any]) -> str:
    """Say why one decoded list item ``data`` does not fit ``model``."""
    if type(data) is not dict:
        return f"expected a JSON object, got {json_type(data)}"
    return _explain(data, model)


def json_type(value: Any) -> str:
    """Name the JSON type of a parsed value (``"an object"``, ``"null"``...)."""
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }
    return names.get(type(value), "a number")


class DecodeObserver(Protocol):
    """The decoding hook: shown each answer's parsed JSON before it is decoded.

    What the doctor's `irefer_async.doctor.DriftRecorder` implements to count how answers
    differ from the models. ``observe`` must not raise and must not keep ``data`` (it may
    hold participant data); it runs on the event loop, so it must be quick.
    """

    def observe(self, data: Any, tp: Any, /) -> None:
        """Look at ``data`` (parsed JSON) about to be decoded into ``tp`` (a model or a tuple)."""


def decode(data: Any, tp: type[T] | Any, *, method: str, drift: DecodeObserver | None = None) -> T:
    """Structure decoded JSON into ``tp`` (a model, or ``tuple[Model, ...]`` for lists).

    Raises `MalformedResponseError` (with no exception chained) on any mismatch.
    ``drift``, a `DecodeObserver` when given, is shown ``data`` first; without it decoding
    does nothing more than before.
    """
    if drift is not None:
        drift.observe(data, tp)
    try:
        if getattr(tp, "__origin__", None) is tuple and type(data) is not list:
            raise TypeError("list endpoint")
        return (_FAST or _fast()).structure(data, tp)  # type: ignore[no-any-return]
    except Exception:  # noqa: S110 - translated below, outside the handler
        pass
    if getattr(tp, "__origin__", None) is tuple and type(data) is not list:
        detail = f"expected a JSON array, got {json_type(data)}"
    elif type(data) is not dict and getattr(tp, "__origin__", None) is not tuple:
        detail = f"expected a JSON object, got {json_type(data)}"
    else:
        detail = _explain(data, tp)
    raise MalformedResponseError(
        f"{method}: unexpected response shape", method=method, detail=detail
    )
