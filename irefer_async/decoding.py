"""Decoding answers into the models, in public: what satellites (the doctor, the feed) use.

The client decodes every answer itself; this module is for code that holds parsed JSON of
its own (a stored feed row, a doctor's probe) and wants exactly the client's decoding:

```python
from irefer_async import Referrer
from irefer_async.decoding import decode

row = decode({"email": "ann@example.com", "confirmed": "1"}, Referrer, method="referrers")
```

`DecodeObserver` is the one decoding hook: an object shown each answer before it is decoded
(the doctor's `irefer_async.doctor.DriftRecorder` counts schema drift with it).

For a drift classifier, `field_hooks(model)` names the quirk function applied to each wire
field. Those functions carry attributes that are part of this contract: ``quirk_kind``
(``"int"``, ``"bool"``, ``"str"``, ``"percent"``, ``"datetime"``, ``"link"`` or ``"enum"``),
``known_values`` on enum hooks (the values the SDK knows), ``nested_model`` on a hook that
decodes nested objects; `maps_none_to_none` says whether a hook turns the guide's "no value"
markers into None, and `is_anchor` whether a link arrived as an HTML anchor.
"""

from __future__ import annotations

from typing import Any, TypeVar

from ._converter import DecodeObserver, field_hooks, is_anchor, json_type, loads, maps_none_to_none
from ._converter import decode as _decode

__all__ = [
    "DecodeObserver",
    "decode",
    "field_hooks",
    "is_anchor",
    "json_type",
    "loads",
    "maps_none_to_none",
]

T = TypeVar("T")


def decode(
    data: Any, tp: type[T] | Any, *, method: str, observer: DecodeObserver | None = None
) -> T:
    """Structure parsed JSON into ``tp`` (a model, or ``tuple[Model, ...]``) as the client does.

    Raises `irefer_async.MalformedResponseError` (naming ``method`` and where it failed) on
    any mismatch. ``observer``, when given, is shown ``data`` first.
    """
    result: T = _decode(data, tp, method=method, drift=observer)
    return result
