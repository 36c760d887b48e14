"""``irefer demo``: the whole story in one command, no credentials needed.

Starts the embedded emulator, generates a file of signups with referral chains, imports it
through the same bulk path as ``irefer import`` (progress bar included), then shows the
campaign's stats and its top referrers. Referral codes are assigned by the server, so the
file is generated and imported in waves: the first wave has no referrer, each later wave
refers codes read from the results of the waves before it.
"""

from __future__ import annotations

import csv
import json
import random
import tempfile
from pathlib import Path

from rich.console import Console

from ..testing import Emulator
from . import _target
from ._import import ImportOptions, ImportReport, print_summary, run_import
from ._progress import Counts
from ._query import flatten, render_object, render_rows
from ._target import Target

__all__ = ["run_demo"]

_FIRST = ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lea")
_SOURCES = ("t", "f", "l", "w", "e", "")


async def run_demo(console: Console, *, rows: int, waves: int, seed: int, progress: str) -> int:
    """Run the demo; returns the exit code."""
    emulator = Emulator(seed=seed)
    emulator.record_views(rows * 4)
    previous = _target.emulator_factory
    _target.emulator_factory = lambda: emulator
    rng = random.Random(seed)  # noqa: S311 - demo data, not cryptography
    codes: list[str] = []
    per_wave = [rows // waves + (1 if i < rows % waves else 0) for i in range(waves)]
    number = 0
    total = Counts(rows)
    try:
        with tempfile.TemporaryDirectory(prefix="irefer-demo-") as tmp:
            for wave, count in enumerate(per_wave, start=1):
                path = Path(tmp) / f"signups-wave{wave}.csv"
                with path.open("w", newline="", encoding="utf-8") as f:
                    writer = csv.writer(f)
                    writer.writerow(["email", "name", "source", "referrer_code"])
                    for _ in range(count):
                        number += 1
                        first = rng.choice(_FIRST)
                        # Popular early referrers: a skewed pick makes a visible leaderboard.
                        referrer = codes[int(len(codes) * rng.random() ** 3)] if codes else ""
                        writer.writerow([
                            f"{first}{number}@example.com", f"{first.title()} {number}",
                            rng.choice(_SOURCES) if referrer else "", referrer,
                        ])  # fmt: skip
                console.print(f"[bold]wave {wave}/{waves}[/]: {count} signups")
                options = ImportOptions(
                    kind="signups",
                    path=path,
                    target=Target(emulator=True),
                    concurrency=64,
                    rate=None,
                    progress=progress,
                )
                report = await run_import(options, console)
                for status, n in report.counts.by_status.items():
                    total.by_status[status] += n
                assert report.results is not None
                with report.results.open(encoding="utf-8") as results:
                    for line in results:
                        record = json.loads(line)
                        if record["status"] == "ok" and record["result"]:
                            codes.append(record["result"]["referral_code"])
        print_summary(ImportReport(total, None, None, 0), console, kind="signups", dry_run=False)
        async with emulator.client() as client:
            stats = await client.campaign_stats()
            referrers = await client.referrers()
        render_object(flatten(stats), "table", console, title="campaign stats")
        counts: dict[str, int] = {}
        for r in referrers:
            if r.referrer_email:
                counts[r.referrer_email] = counts.get(r.referrer_email, 0) + 1
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        render_rows(
            [{"rank": i, "referrer": email, "referrals": n} for i, (email, n) in enumerate(top, 1)],
            "table",
            console,
            title="top referrers",
        )
    finally:
        _target.emulator_factory = previous
    return total_exit(total)


def total_exit(total: Counts) -> int:
    """Exit 0 when every generated row was imported."""
    return 0 if total.by_status["ok"] == total.total else 1
