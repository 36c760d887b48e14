"""Decode 10,000 ``referrers`` rows: the SDK's generated fast path vs cattrs' own generated code.

Both use the same quirk functions and the same converter; the cattrs row builds its structure
function with `cattrs.gen.make_dict_structure_fn` (no detailed validation), which leaves the
model's ``raw`` empty; the third row adds it with `attrs.evolve`, as a model built by cattrs
would need. Medians of 7 passes, microseconds per row, same run.

Run: python benchmarks/bench_cattrs_gen.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn

from benchmarks._decode import referrers_body
from irefer_async import Referrer
from irefer_async import _converter as c


def _cattrs_generated() -> Callable[[Any], Referrer]:
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    for tp, hook in c._SCALAR_HOOKS.items():
        if type(tp) is type:
            conv.register_structure_hook(tp, hook)
        else:
            conv.register_structure_hook_func(c._exactly(tp), hook)
    for model in c._MODELS:
        overrides = c._cattrs_overrides(c._overrides(model))
        fn = make_dict_structure_fn(model, conv, _cattrs_detailed_validation=False, **overrides)
        conv.register_structure_hook(model, fn)
    hook = conv.get_structure_hook(Referrer)
    return lambda row: hook(row, Referrer)


def _per_row(decode: Callable[[Any], object], rows: list[Any]) -> float:
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for row in rows:
            decode(row)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1e6 / len(rows)


def main() -> None:
    """Print the three rows."""
    rows = orjson.loads(referrers_body(10_000))
    fast_hook = c.item_structure(Referrer)
    generated = _cattrs_generated()
    assert generated(rows[0]) == fast_hook(rows[0], None)
    fast = _per_row(lambda row: fast_hook(row, None), rows)
    plain = _per_row(generated, rows)
    with_raw = _per_row(lambda row: attrs.evolve(generated(row), raw=row), rows)
    print(f"SDK fast path (generated per model): {fast:6.2f} us/row  1.00x")
    print(f"cattrs make_dict_structure_fn:       {plain:6.2f} us/row  {plain / fast:.2f}x")
    print(f"cattrs, then raw set by evolve:      {with_raw:6.2f} us/row  {with_raw / fast:.2f}x")


if __name__ == "__main__":
    main()
