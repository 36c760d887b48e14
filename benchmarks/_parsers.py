"""Which incremental JSON parser streams the list endpoints: measured, not guessed.

One ``referrers`` body of N emulator rows (100,000 by default), fed in 64 KiB chunks as a
socket delivers it, parsed into one ``dict`` per row by each candidate:

* ``orjson whole`` (baseline): ``orjson.loads`` of the whole body, what the tuple calls did;
  not incremental (the body and every row in memory at once);
* ``splitter + orjson`` (chosen): :class:`irefer_async._stream.ArraySplitter`, the item is
  the shortest prefix up to a ``}`` that orjson parses;
* ``splitter, json.loads``: the same without orjson (the pure fallback);
* ``ijson yajl2_c``: ijson's C backend, ``items_coro(..., "item", use_float=True)``;
* ``json-stream (rust tokenizer)``: ``json_stream.load`` with ``to_standard_types``;
* ``scan + msgspec``: msgspec has no incremental parser; per item after our string-aware scan.

Candidates not installed are listed as skipped. Rows are parsed, not decoded into models
(decoding is the same for all). Medians of interleaved rounds; ratio = rows/s of the chosen
path over the baseline's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

CHUNK = 64 * 1024


def body_of(rows: int) -> bytes:
    from irefer_async.testing import Emulator  # noqa: PLC0415

    from ._servers import list_body  # noqa: PLC0415

    emulator = Emulator(seed=0, journal_limit=1)
    emulator.seed_participants(rows)
    return asyncio.run(list_body(emulator, "referrers"))


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def _orjson_whole(body: bytes) -> int:
    import orjson  # noqa: PLC0415

    return len(orjson.loads(body))


def _splitter(body: bytes) -> int:
    from irefer_async._stream import ArraySplitter  # noqa: PLC0415

    splitter = ArraySplitter("referrers")
    n = 0
    for chunk in _chunks(body):
        splitter.feed(chunk)
        while splitter.next_item() is not None:
            n += 1
    splitter.feed_eof()
    splitter.close()
    return n


def _splitter_json(body: bytes) -> int:
    from irefer_async import _stream  # noqa: PLC0415

    saved = _stream._orjson_loads
    _stream._orjson_loads = None
    try:
        return _splitter(body)
    finally:
        _stream._orjson_loads = saved


def _splitter_msgspec(body: bytes) -> int:
    import msgspec  # noqa: PLC0415

    from irefer_async import _stream  # noqa: PLC0415

    # The scan finds each item's end; msgspec parses it.
    saved = _stream._orjson_loads, _stream._loads
    _stream._orjson_loads = None
    _stream._loads = msgspec.json.decode  # type: ignore[assignment]
    try:
        return _splitter(body)
    finally:
        _stream._orjson_loads, _stream._loads = saved


def _ijson_count(body: bytes) -> int:
    import ijson  # noqa: PLC0415

    if ijson.backend != "yajl2_c":
        raise ImportError("ijson without its C backend")
    events = ijson.sendable_list()
    coro = ijson.items_coro(events, "item", use_float=True)
    n = 0
    for chunk in _chunks(body):
        coro.send(chunk)
        n += len(events)
        del events[:]
    coro.close()
    return n + len(events)


def _json_stream(body: bytes) -> int:
    import io  # noqa: PLC0415

    import json_stream  # noqa: PLC0415

    n = 0
    for item in json_stream.load(io.BytesIO(body)):
        json_stream.to_standard_types(item)
        n += 1
    return n


CANDIDATES: dict[str, Callable[[bytes], int]] = {
    "orjson whole (baseline)": _orjson_whole,
    "splitter + orjson (chosen)": _splitter,
    "splitter, json.loads (no orjson)": _splitter_json,
    "ijson yajl2_c": _ijson_count,
    "json-stream (rust tokenizer)": _json_stream,
    "scan + msgspec": _splitter_msgspec,
}


def run(*, quick: bool = False) -> dict[str, Any]:
    """Rows per second of each parser on one body; 100,000 rows (``--quick``: 10,000)."""
    rows = 10_000 if quick else 100_000
    rounds = 3 if quick else 5
    body = body_of(rows)
    timings: dict[str, list[float]] = {}
    skipped: list[str] = []
    for name, parse in CANDIDATES.items():
        try:
            assert parse(body) == rows, name  # warm-up and check
        except ImportError:
            skipped.append(name)
    for _ in range(rounds):
        for name, parse in CANDIDATES.items():
            if name in skipped:
                continue
            started = time.perf_counter()
            parse(body)
            timings.setdefault(name, []).append(time.perf_counter() - started)
    table = []
    for name, times in timings.items():
        spread = (max(times) - min(times)) / statistics.median(times)
        table.append(
            {
                "label": name,
                "value": rows / statistics.median(times),
                "spread": round(spread, 3),
            }
        )
    by_name = {row["label"]: row["value"] for row in table}
    ratio = by_name["splitter + orjson (chosen)"] / by_name["orjson whole (baseline)"]
    return {
        "name": "stream_parsers",
        "title": f"Incremental parsers, {rows:,} referrers rows ({len(body) / 1e6:.0f} MB), "
        "64 KiB chunks",
        "unit": "rows/s",
        "rows": table,
        "skipped": skipped,
        "ratio": ratio,
        "ratio_label": "splitter+orjson / orjson whole",
        "target": ">= 0.8 and fastest incremental",
        "met": ratio >= 0.8
        and all(
            value <= by_name["splitter + orjson (chosen)"]
            for label, value in by_name.items()
            if "baseline" not in label and "chosen" not in label
        ),
    }


if __name__ == "__main__":
    from .run import print_table

    print_table(run())
