"""Decode 10,000 ``referrers`` rows: the SDK's cattrs-generated path against its alternatives.

The SDK decodes with code cattrs generates (`irefer_async._converter`: per model, one
function for complete rows and cattrs' ordinary one for rows missing a key; ``raw`` handed to
cattrs as an entry of a shallow copy of the row). Contenders, all with the SDK's quirk hooks:

* ``reference``: the function the SDK's former exec generator wrote for `Referrer` (removed in
  issue 21), transcribed here by hand as the baseline: every field's common case inlined;
* ``sdk``: the SDK's path as it is;
* ``sdk_missing``: the same on rows that lack an optional key (``ip``): the fallback, every row;
* ``plain``: cattrs' `make_dict_structure_fn` alone (one function, a key test per defaulted
  field), ``raw`` handed in the same way;
* ``no_raw``: the same, leaving ``raw`` empty (what it costs to carry it);
* ``evolve``: cattrs' function, then ``raw`` set with `attrs.evolve` (a second instance);
* ``bytes_*``: the whole body, bytes to models: `loads` then the reference vs `decode`.

Interleaved rounds (each contender's best of 3 passes per round, this thread's CPU time, so
other processes' load is charged less); each ratio is the median of the rounds' ratios to the
reference, with their spread.

Run: python benchmarks/bench_cattrs_gen.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from cattrs.gen import make_dict_structure_fn, override

from benchmarks._decode import referrers_body
from irefer_async import LeadSource, Referrer
from irefer_async import _converter as c

_NO_VALUE = frozenset(("None", "", "null"))


def _reference() -> Callable[[Any], Referrer]:
    """The removed generator's `Referrer` function, as it wrote it (names kept)."""
    to_int, to_str, to_dt = c._to_int, c._to_str, c._to_datetime
    enum = c._fast().get_structure_hook(LeadSource | None)
    table: dict[str, Any] = {member.value: member for member in LeadSource}
    table.update(dict.fromkeys(_NO_VALUE))
    fromiso = c._fromisoformat
    missing: Any = object()

    def structure(o: Any) -> Referrer:
        if type(o) is not dict and not isinstance(o, Mapping):
            raise TypeError(f"expected a JSON object, got {type(o).__name__}")
        v = o["id"]
        x0 = v if type(v) is int else int(v) if type(v) is str else to_int(v)
        v = o["campaign_id"]
        x1 = v if type(v) is int else int(v) if type(v) is str else to_int(v)
        v = o["referral_link"]
        x2 = v if type(v) is str else to_str(v)
        v = o["referrer_email"]
        x3 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o["name"]
        x4 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o["email"]
        x5 = v if type(v) is str else to_str(v)
        v = o.get("phone")
        x6 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("info_1")
        x7 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("info_2")
        x8 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("info_3")
        x9 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("info_4")
        x10 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("info_5")
        x11 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("created_at")
        x12 = fromiso(v) if type(v) is str and v[-1:] == "Z" and v[:1].isdigit() else to_dt(v)
        v = o.get("ip")
        x13 = None if v is None or v in _NO_VALUE else (v if type(v) is str else to_str(v))
        v = o.get("source_network")
        x14 = table[v] if type(v) is str and v in table else enum(v, None)
        v = o.get("referrals_count", missing)
        x15 = (
            0 if v is missing else v if type(v) is int else int(v) if type(v) is str else to_int(v)
        )
        return Referrer(
            x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15,
            fetched_at=None, raw=o,
        )  # fmt: skip

    return structure


def _plain_cattrs(*, raw: str) -> Callable[[Any], Referrer]:
    """cattrs' `make_dict_structure_fn` alone, on the SDK's converter and quirk hooks."""
    conv = c._fast()
    omit = override(omit=True)
    raw_override = override(rename="\x00raw", struct_hook=lambda v, _: v) if raw == "key" else omit
    fn = make_dict_structure_fn(
        Referrer,
        conv,
        _cattrs_detailed_validation=False,
        _cattrs_forbid_extra_keys=False,
        fetched_at=omit,
        raw=raw_override,
    )
    if raw == "key":
        return lambda row: fn({**row, "\x00raw": row}, Referrer)
    if raw == "evolve":
        return lambda row: attrs.evolve(fn(row, Referrer), raw=row)
    return lambda row: fn(row, Referrer)


def _best(fn: Callable[[Any], object], arg: Any, *, per_row: bool) -> float:
    """Best of 3 passes, in this thread's CPU seconds (per call of ``fn``)."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        if per_row:
            for row in arg:
                fn(row)
        else:
            fn(arg)
        best = min(best, time.thread_time() - started)
    return best


def run(rounds: int = 7, count: int = 10_000) -> dict[str, Any]:
    """Time every contender in interleaved rounds; return medians, ratios and spreads."""
    body = referrers_body(count)
    rows = c.loads(body)
    lacking = [{k: v for k, v in row.items() if k != "ip"} for row in rows]
    reference = _reference()
    sdk_hook = c.item_structure(Referrer)
    per_row: dict[str, tuple[Callable[[Any], object], Any]] = {
        "reference": (reference, rows),
        "sdk": (lambda row: sdk_hook(row, None), rows),
        "sdk_missing": (lambda row: sdk_hook(row, None), lacking),
        "plain": (_plain_cattrs(raw="key"), rows),
        "no_raw": (_plain_cattrs(raw="omit"), rows),
        "evolve": (_plain_cattrs(raw="evolve"), rows),
    }
    whole: dict[str, Callable[[bytes], object]] = {
        "bytes_reference": lambda b: tuple([reference(row) for row in c.loads(b)]),
        "bytes_sdk": lambda b: c.decode(c.loads(b), tuple[Referrer, ...], method="referrers"),
    }
    for name, (fn, data) in per_row.items():  # same results (raw aside, it is not compared)
        assert fn(data[0]) == reference(data[0]), name
    times: dict[str, list[float]] = {name: [] for name in [*per_row, *whole]}
    for _ in range(rounds):
        for name, (fn, data) in per_row.items():
            times[name].append(_best(fn, data, per_row=True) / count)
        for name, whole_fn in whole.items():
            times[name].append(_best(whole_fn, body, per_row=False) / count)
    result: dict[str, Any] = {"rows": count, "rounds": rounds}
    for name, values in times.items():
        base = times["bytes_reference" if name.startswith("bytes_") else "reference"]
        ratios = sorted(a / b for a, b in zip(values, base, strict=True))
        result[name] = {
            "us_per_row": statistics.median(values) * 1e6,
            "ratio": statistics.median(ratios),
            "spread": [ratios[0], ratios[-1]],
        }
    return result


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    result = run(args.rounds)
    print(f"{result['rows']} referrers rows, {result['rounds']} interleaved rounds")
    for name, row in result.items():
        if isinstance(row, dict):
            low, high = row["spread"]
            print(
                f"{name:16s} {row['us_per_row']:6.2f} us/row  {row['ratio']:.2f}x"
                f"  [{low:.2f}-{high:.2f}]"
            )


if __name__ == "__main__":
    main()
