"""Benchmark 5: decode 10,000 ``referrers`` from bytes to models.

SDK: the bytes go through what :class:`~irefer_async._transport.Sender` and
:func:`~irefer_async._converter.decode` do on every call (JSON parse, then the cattrs
converter with every wire quirk). Baseline: pydantic v2 ``TypeAdapter(list[Model])
.validate_json`` on the same bytes, for a model with the same fields and types using only
pydantic's native (Rust) coercions: numeric strings to int, ``Z`` timestamps to datetime.
It absorbs fewer quirks than the SDK (``"None"``/``""`` stay strings, no open enum), so
the baseline is the fastest pydantic can be, not an exact equivalent; a second row times a
pydantic model that does absorb them (with ``BeforeValidator``) for context.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from typing import Annotated, Any

import orjson
import pydantic

from irefer_async import Referrer
from irefer_async.decoding import decode, loads
from irefer_async.doctor import DriftRecorder

SOURCES = ("", "t", "f", "l", "w", "e")


def referrers_body(count: int, *, seed: int = 0) -> bytes:
    """A ``referrers`` body with ``count`` participants, in the API's wire format."""
    rnd = random.Random(seed)
    start = dt.datetime(2018, 6, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(count):
        has_referrer = rnd.random() < 0.5
        rows.append(
            {
                "id": str(271047 + i),
                "campaign_id": "2145",
                "referral_link": f"c{i:07d}",
                "referrer_email": f"ref{rnd.randrange(count)}@example.com"
                if has_referrer
                else None,
                "name": f"name {i}",
                "email": f"user{i}@example.com",
                "phone": None if i % 3 else "+15551234567",
                "info_1": None,
                "info_2": None,
                "info_3": "None" if i % 7 == 0 else None,
                "info_4": None,
                "info_5": None,
                "created_at": (start + dt.timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ip": f"10.0.{i % 256}.{(i * 7) % 256}",
                "source_network": SOURCES[i % len(SOURCES)],
                "referrals_count": str(rnd.randrange(20)),
            }
        )
    return orjson.dumps(rows)


class PydReferrer(pydantic.BaseModel):
    """The pydantic twin of :class:`Referrer`, native coercions only."""

    model_config = pydantic.ConfigDict(frozen=True)

    id: int
    campaign_id: int
    referral_link: str
    referrer_email: str | None
    name: str | None
    email: str
    phone: str | None = None
    info_1: str | None = None
    info_2: str | None = None
    info_3: str | None = None
    info_4: str | None = None
    info_5: str | None = None
    created_at: dt.datetime | None = None
    ip: str | None = None
    source_network: str | None = None
    referrals_count: int = 0


def _none(value: Any) -> Any:
    return None if value in ("None", "", "null") else value


Opt = Annotated[str | None, pydantic.BeforeValidator(_none)]


class PydReferrerQuirks(pydantic.BaseModel):
    """The pydantic twin with the SDK's "no value" quirk absorbed by Python validators."""

    model_config = pydantic.ConfigDict(frozen=True)

    id: int
    campaign_id: int
    referral_link: str
    referrer_email: Opt
    name: Opt
    email: str
    phone: Opt = None
    info_1: Opt = None
    info_2: Opt = None
    info_3: Opt = None
    info_4: Opt = None
    info_5: Opt = None
    created_at: dt.datetime | None = None
    ip: Opt = None
    source_network: Opt = None
    referrals_count: int = 0


def sdk_decode(body: bytes) -> tuple[Referrer, ...]:
    """Bytes to models the way the SDK does it for a ``referrers`` answer."""
    return decode(loads(body), tuple[Referrer, ...], method="referrers")


def sdk_decode_recording(body: bytes) -> tuple[Referrer, ...]:
    """The same, with a drift recorder attached (``decode_observer=DriftRecorder()``)."""
    return decode(loads(body), tuple[Referrer, ...], method="referrers", observer=DriftRecorder())


def best_of(fn: Any, arg: Any, repeat: int) -> float:
    """Best CPU time (this thread's) of ``repeat`` calls: not charged for other processes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.thread_time()
        fn(arg)
        best = min(best, time.thread_time() - started)
    return best


def run(*, quick: bool = False) -> dict[str, Any]:
    """Time the SDK, both pydantic models and a drift-recording decode on the same body."""
    count = 10_000
    repeat = 5 if quick else 25
    body = referrers_body(count)
    native = pydantic.TypeAdapter(list[PydReferrer]).validate_json
    quirks = pydantic.TypeAdapter(list[PydReferrerQuirks]).validate_json
    assert len(sdk_decode(body)) == len(native(body)) == count
    # Interleaved rounds, so a noisy moment hurts every contender alike; the verdict is the
    # median of the per-round ratios, with their spread.
    rounds: dict[str, list[float]] = {"sdk": [], "pyd": [], "pydq": [], "drift": []}
    for _ in range(3 if quick else 5):
        rounds["sdk"].append(best_of(sdk_decode, body, repeat))
        rounds["pyd"].append(best_of(native, body, repeat))
        rounds["pydq"].append(best_of(quirks, body, repeat))
        rounds["drift"].append(best_of(sdk_decode_recording, body, max(1, repeat // 5)))
    ratios = sorted(a / b for a, b in zip(rounds["sdk"], rounds["pyd"], strict=True))
    ratio = statistics.median(ratios)
    sdk, pyd, pydq, drift = (statistics.median(rounds[k]) for k in ("sdk", "pyd", "pydq", "drift"))
    return {
        "name": "decode",
        "title": "5. Decode 10,000 referrers (bytes -> models)",
        "unit": "ms",
        "rows": [
            {"label": "SDK (JSON parse + cattrs converter)", "value": sdk * 1e3},
            {"label": "pydantic v2 validate_json, native coercions (baseline)", "value": pyd * 1e3},
            {"label": "pydantic v2 validate_json + BeforeValidator quirks", "value": pydq * 1e3},
            {"label": "SDK with a drift recorder (decode_observer=)", "value": drift * 1e3},
        ],
        # What recording drift costs, against the SDK's own plain decode (context, no target).
        "drift_ratio": drift / sdk,
        "ratio": ratio,
        "spread": [ratios[0], ratios[-1]],
        "rounds": len(ratios),
        "ratio_label": "SDK time / pydantic time",
        "target": "<= 1.0",
        "met": ratio <= 1.0,
        "body_bytes": len(body),
    }
