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

from ._converter import (
    DecodeObserver,
    decode,
    field_hooks,
    is_anchor,
    json_type,
    loads,
    maps_none_to_none,
)

__all__ = [
    "DecodeObserver",
    "decode",
    "field_hooks",
    "is_anchor",
    "json_type",
    "loads",
    "maps_none_to_none",
]
