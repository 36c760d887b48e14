"""The one cattrs converter and the wire format's quirks it absorbs (docs/api-quirks.md).

Each quirk is a hook of its field type; cattrs generates every model's structuring code and
unknown fields stay in ``raw``. A mismatch raises `MalformedResponseError` with the path a
second, detailed converter finds.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, get_args

import attrs

from ._errors import MalformedResponseError

if TYPE_CHECKING:  # cattrs is imported with the first decode: `import irefer_async` stays light
    import cattrs

    from . import _models as m  # imported by `build_converter`, with the first decode

T = TypeVar("T")

_NO_VALUE = (None, "None", "", "null")
_NO_VALUE_STR = frozenset(("None", "", "null"))
_MISSING: Any = object()

orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as orjson_loads
except ImportError:  # pragma: no cover - orjson is an optional speedup
    orjson_loads = None


def loads(content: bytes) -> Any:
    """Parse JSON (orjson, else json.loads: NaN, a BOM...); raises ValueError if it is not JSON."""
    if orjson_loads is not None:
        try:
            return orjson_loads(content)
        except ValueError:
            pass  # NaN, Infinity, a BOM, huge integers: json.loads decides
    return json.loads(content)


_ANCHOR = re.compile(r"""<a\s[^>]*href=["']([^"']*)["']""", re.IGNORECASE)
# datetime.fromisoformat reads a "Z" suffix as UTC from Python 3.11 on.
_FROMISO_Z = sys.version_info >= (3, 11)
_fromisoformat = dt.datetime.fromisoformat


def _to_int(value: Any, _: Any = None) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)  # what int() reads, int(value.strip()) reads the same
        except ValueError:
            return int(value.strip())  # str.strip() also strips \x1c-\x1f, int() does not
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer or a numeric string, got {value!r}")


def _to_opt_int(value: Any, _: Any = None) -> int | None:
    if type(value) is int or value is None:
        return value
    return None if value in _NO_VALUE else _to_int(value)


# Strings exactly, numbers by value (1.0 too), None; a bool is its own key (True == 1).
_BOOL: dict[Any, bool] = {"1": True, "0": False, "true": True, "True": True, "false": False}
_BOOL.update({"False": False, "": False, 1: True, 0: False, None: False})


def _to_bool(value: Any, _: Any = None) -> bool:
    try:
        known = _BOOL.get(value)
    except TypeError:  # unhashable: a list or an object
        known = None
    if known is None:
        raise ValueError(f"expected 1/0, got {value!r}")
    return known


def _to_str(value: Any, _: Any = None) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_opt_str(value: Any, _: Any = None) -> str | None:
    if type(value) is str:
        return None if value in _NO_VALUE_STR else value
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
    if _FROMISO_Z and type(value) is str and value[-1:] == "Z" and value[:1].isdigit():
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    if value in _NO_VALUE:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO timestamp, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = _fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _to_link(value: Any, _: Any = None) -> str:
    text = _to_str(value).strip()
    anchor = _ANCHOR.search(text)
    return anchor.group(1) if anchor else text


def is_anchor(value: Any) -> bool:
    """Whether ``value`` is a link rendered as an HTML anchor (the ``_to_link`` quirk)."""
    return isinstance(value, str) and _ANCHOR.search(value) is not None


# Each scalar field type's quirk function, tagged with its ``quirk_kind`` (see decoding.py).
_SCALAR_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {}
for _type, _hook, _kind in (
    (int, _to_int, "int"),
    (int | None, _to_opt_int, "int"),
    (bool, _to_bool, "bool"),
    (str, _to_str, "str"),
    (str | None, _to_opt_str, "str"),
    (float | None, _to_percent, "percent"),
    (dt.datetime | None, _to_datetime, "datetime"),
):
    _SCALAR_HOOKS[_type] = _hook
    _hook.quirk_kind = _kind  # type: ignore[union-attr]
_to_link.quirk_kind = "link"  # type: ignore[attr-defined]

_MODELS: frozenset[type[Any]] = frozenset()  # set by `build_converter`, with the first decode

# Fields the SDK sets, never read from the wire.
_NOT_WIRE = ("raw", "reconciled", "age_unknown", "fetched_at")
# The key under which a row's own JSON object reaches cattrs' code, for `raw`.
_RAW_KEY = "\x00raw"


def _open_enum_of(tp: Any) -> type[m._OpenEnum] | None:
    """``E`` when ``tp`` is ``E | None`` for an open enum ``E`` (the models' enum fields)."""
    args = get_args(tp)
    if len(args) == 2 and args[1] is type(None):
        enum_type = args[0]
        if isinstance(enum_type, type) and issubclass(enum_type, m._OpenEnum):
            return enum_type
    return None


def _enum_hook(tp: Any) -> Callable[[Any, Any], Any]:
    """Make the hook of ``E | None`` for an open enum ``E`` (a factory): unknown values kept."""
    enum_type = get_args(tp)[0]  # the predicate, `_open_enum_of`, checked it
    table: dict[str, Any] = {member.value: member for member in enum_type}
    table.update(dict.fromkeys(_NO_VALUE_STR))
    known = table.get

    def hook(value: Any, _: Any = None) -> Any:
        if type(value) is str:
            member = known(value, _MISSING)
            if member is not _MISSING:
                return member
        if value in _NO_VALUE:
            return None
        return enum_type(_to_str(value).strip())

    hook.quirk_kind = "enum"  # type: ignore[attr-defined] # read by the doctor's drift classifier
    hook.known_values = frozenset(member.value for member in enum_type)  # type: ignore[attr-defined]
    return hook


def _model_tuple_of(tp: Any) -> Any:
    """``M`` when ``tp`` is ``tuple[M, ...]`` for a model ``M`` (lists, nested rewards)."""
    if getattr(tp, "__origin__", None) is not tuple:
        return None
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis and args[0] in _MODELS:
        return args[0]
    return None


def _tuple_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Make the hook of ``tuple[Model, ...]`` (a hook factory): cattrs' own, ``null`` as ``()``."""
    from cattrs.cols import homogenous_tuple_structure_factory  # noqa: PLC0415

    structure = homogenous_tuple_structure_factory(tp, converter)

    def hook(value: Any, _: Any = None) -> tuple[Any, ...]:
        if isinstance(value, list):
            return structure(value, tp)  # type: ignore[no-any-return]
        if value in _NO_VALUE:
            return ()
        raise TypeError(f"expected a list, got {type(value).__name__}")

    hook.nested_model = _model_tuple_of(tp)  # type: ignore[attr-defined] # the drift classifier's
    return hook


def _quirk_override(model: type[Any], name: str) -> Callable[[Any, Any], Any] | None:
    """Return a field's quirk function when it is not its type's (links sent as HTML anchors)."""
    return _to_link if name == "referral_link" and model is not m.Referrer else None


def _model_hook(model: type[Any], converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Make a model's hook from cattrs' generated code: with no key tests, or with defaults."""
    from cattrs import gen  # noqa: PLC0415

    detailed = converter.detailed_validation
    fields = attrs.fields(attrs.resolve_types(model))
    overrides: dict[str, Any] = {}  # quirks unlike the field type's hook, the SDK's fields
    for field in fields:
        quirk = _quirk_override(model, field.name)
        if quirk is not None:
            overrides[field.name] = gen.override(struct_hook=quirk)
        elif field.name == "raw" and not detailed:
            overrides[field.name] = gen.override(
                rename=_RAW_KEY, struct_hook=lambda value, _: value
            )
        elif field.name in _NOT_WIRE:
            overrides[field.name] = gen.override(omit=True)
    with_defaults = gen.make_dict_structure_fn(model, converter, **overrides)
    if detailed:

        def explain(value: Any, _: Any = None) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object, got {type(value).__name__}")
            return with_defaults(value, model)

        return explain

    complete = gen.make_dict_structure_fn_from_attrs(
        [f if f.name in _NOT_WIRE else f.evolve(default=attrs.NOTHING) for f in fields],
        model,
        converter,
        **overrides,
    )

    skip = 0  # rows left to send straight to `with_defaults` after a row missed a key

    def structure(value: Any, _: Any = None) -> Any:
        nonlocal skip
        row = {**value, _RAW_KEY: value}  # TypeError when it is not a JSON object
        if skip:
            skip -= 1
            return with_defaults(row, model)
        try:
            return complete(row, model)
        except KeyError:  # an absent key: its default, if it has one
            skip = 64  # the next rows likely miss it too: spare them the KeyError
            return with_defaults(row, model)

    return structure


@functools.cache
def build_converter(*, detailed: bool) -> cattrs.Converter:
    """Return the converter, built once; ``detailed`` adds cattrs' per-field error paths."""
    import cattrs  # noqa: PLC0415 - on first use: about 40 ms of import time

    global m, _MODELS  # noqa: PLW0603 - imported with the first decode, not with the package
    from . import _models as m  # noqa: PLC0415

    _MODELS = frozenset(
        c
        for name, c in vars(m).items()
        if isinstance(c, type) and issubclass(c, m._Model) and not name.startswith("_")
    )
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    for tp, hook in _SCALAR_HOOKS.items():
        conv.register_structure_hook(tp, hook)
    conv.register_structure_hook_factory(lambda tp: _open_enum_of(tp) is not None, _enum_hook)
    conv.register_structure_hook_factory(lambda tp: _model_tuple_of(tp) is not None, _tuple_hook)
    conv.register_structure_hook_factory(_MODELS.__contains__, _model_hook)
    return conv


@functools.cache
def maps_none_to_none(hook: Callable[[Any, Any], Any]) -> bool:
    """Whether ``hook`` reads JSON null as None (an optional field: it takes the markers)."""
    try:
        return hook(None, None) is None
    except Exception:
        return False


_FIELD_HOOKS: dict[type[Any], dict[str, tuple[Callable[[Any, Any], Any], bool]]] = {}


def field_hooks(model: type[Any]) -> Mapping[str, tuple[Callable[[Any, Any], Any], bool]]:
    """Each wire field of ``model``: the quirk function the decoder applies, and if required."""
    hooks = _FIELD_HOOKS.get(model)
    if hooks is None:
        conv = _fast()
        hooks = _FIELD_HOOKS[model] = {}
        for f in attrs.fields(attrs.resolve_types(model)):
            if f.name not in _NOT_WIRE:
                hook = _quirk_override(model, f.name) or conv.get_structure_hook(f.type)
                hooks[f.name] = (hook, f.default is attrs.NOTHING)
    return hooks


#: The converter used on success, built (cattrs imported) at the first decode.
_fast = functools.partial(build_converter, detailed=False)


def item_structure(model: type[T]) -> Callable[[Any, Any], T]:
    """Return the structure hook of ``model``; it raises on a mismatch (`explain_item` says why)."""
    return _fast().get_structure_hook(model)


def explain_item(data: Any, tp: Any) -> str:
    """Say why decoded JSON ``data`` does not fit ``tp`` (a model or a tuple of one), with paths."""
    import cattrs  # noqa: PLC0415 - imported with the converter

    listed = getattr(tp, "__origin__", None) is tuple
    if type(data) is not (list if listed else dict):
        return f"expected a JSON {'array' if listed else 'object'}, got {json_type(data)}"
    try:
        build_converter(detailed=True).structure(data, tp)  # built lazily: only failures need it
    except Exception as exc:
        lines = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else []
        return "; ".join(lines[:5]) or f"{type(exc).__name__}: {exc}"
    return "unexpected shape"


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


def json_type(value: Any) -> str:
    """Name the JSON type of a parsed value (``"an object"``, ``"null"``...)."""
    return "null" if value is None else _JSON_TYPES.get(type(value), "a number")


class DecodeObserver(Protocol):
    """The decoding hook: shown each answer's parsed JSON before it is decoded.

    The doctor's `irefer_async.doctor.DriftRecorder` implements it. ``observe`` must not
    raise, must not keep ``data`` (participant data) and must be quick (it runs on the loop).
    """

    def observe(self, data: Any, tp: Any, /) -> None:
        """Look at ``data`` (parsed JSON) about to be decoded into ``tp`` (a model or a tuple)."""


def decode(
    data: Any, tp: type[T] | Any, *, method: str, observer: DecodeObserver | None = None
) -> T:
    """Structure parsed JSON into ``tp`` (a model, or ``tuple[Model, ...]``) as the client does.

    Raises `irefer_async.MalformedResponseError` (naming ``method`` and where it failed, nothing
    chained) on any mismatch. ``observer``, when given, is shown ``data`` first.
    """
    if observer is not None:
        observer.observe(data, tp)
    # A list's hook would take null as ().
    if type(data) is list or getattr(tp, "__origin__", None) is not tuple:
        try:
            return _fast().structure(data, tp)  # type: ignore[no-any-return]
        except Exception:  # noqa: S110 - translated below, outside the handler
            pass
    raise MalformedResponseError(
        f"{method}: unexpected response shape", method=method, detail=explain_item(data, tp)
    )
