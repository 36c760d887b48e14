"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME ...]`` (or ``nox -s bench``).

Every benchmark measures its own baseline in the same run and reports the ratio, since the
machines are shared and noisy and absolute times do not compare across runs. Results go to
``benchmarks/results/results.json`` and a chart to ``benchmarks/results/chart.png``
(matplotlib, a bench-only dependency; skipped with a note when it is not installed).

=============  ====================================================================
name           what (target)
=============  ====================================================================
decode         5. 10,000 referrers bytes -> models vs pydantic v2 (<= 1.0)
findings       the retry fast path's cost vs tenacity; sniffio installed
sdk_cpu        the SDK's own CPU per call, itemised (<= 20 µs)
calls          a. fastest SDK vs raw aiohttp (>= 0.5); 1b/1c. SDK vs a hand-written loop on
               the same client, aiohttp (>= 1.3) and httpx (>= 1.0); 2. fastest SDK vs the
               SDK on plain httpx (>= 5.0); raw pyreqwest and httpx-over-pyreqwest rows
bulk           6. bulk_new_signups vs a bare worker pool on the emulator (>= 0.9)
limiter        3. rate limiter at 50/s and 200/s (within 1%, window <= R + burst)
memory         4. bulk peak RSS over 1,000,000 rows vs 100,000 (< 100 MB, <= 1.10)
parsers        incremental JSON parsers on 100,000 referrers rows (the splitter's choice)
big_lists      1M participants over loopback: iter_referrers() and export peak RSS
               (<= 150 MB), iter/tuple items per second (>= 0.8), longest loop stall
               (<= 50 ms); each also at 100,000
busy           7. FastAPI stats page at 10x the rate (under load), sharing + cache vs
               neither: p99 <= deadline + 100 ms, emulator never above the rate,
               memory flat; 100 identical concurrent reads -> 1 request
=============  ====================================================================

Servers run in their own process on the machine's last CPU, the benchmark on the others
(``_servers.pin_client``). Throughput contenders are warmed to a steady state and measured in
interleaved rounds; each ratio is the median of its rounds' ratios, printed with its spread
(``_harness``). ``--runs 2`` (the default for a full run) runs everything twice and says
whether every verdict came out the same both times.

``--quick`` shrinks every size and duration (a smoke run of about a minute, what the test
suite calls); its figures are not the ones to quote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from . import (
    _big_lists,
    _busy,
    _decode,
    _findings,
    _limiter,
    _memory,
    _parsers,
    _sdk_cpu,
    _throughput,
)
from ._servers import client_cpus, pin_client, server_cpu

RESULTS = Path(__file__).resolve().parent / "results"

BENCHMARKS: dict[str, Callable[..., Any]] = {
    "decode": _decode.run,
    "findings": _findings.run,
    "sdk_cpu": _sdk_cpu.run,
    "calls": _throughput.run_calls,
    "bulk": _throughput.run_bulk,
    "limiter": _limiter.run,
    "memory": _memory.run,
    "parsers": _parsers.run,
    "big_lists": _big_lists.run,
    "busy": _busy.run,
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = round(os.getloadavg()[0], 2)
    versions: dict[str, str | None] = {}
    for name in ("httpx", "httpcore", "httpx2", "httpcore2", "aiohttp", "httpx-aiohttp",
                 "pyreqwest", "uvloop", "cattrs", "pydantic", "orjson"):  # fmt: skip
        try:
            from importlib.metadata import version  # noqa: PLC0415

            versions[name] = version(name)
        except Exception:  # not installed: say so
            versions[name] = None
    info["versions"] = versions
    return info


def _format_value(value: float, unit: str) -> str:
    if unit in ("req/s", "rows/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit in ("ms", "µs/call"):
        return f"{value:.2f} {unit}"
    return f"{value:,.1f}"


def print_table(result: dict[str, Any]) -> None:
    """One benchmark as a small text table: rows, then the ratio against its target."""
    print(f"\n{result['title']}")
    width = max(len(row["label"]) for row in result["rows"])
    for row in result["rows"]:
        print(f"  {row['label']:<{width}}  {_format_value(row['value'], result['unit']):>16}")
    verdict = "MET" if result["met"] else "MISSED"
    spread = result.get("spread")
    detail = (
        f", spread {spread[0]:.3f}-{spread[1]:.3f} over {result.get('rounds')} rounds"
        if spread
        else ""
    )
    print(
        f"  {result['ratio_label']}: {result['ratio']:.3f}{detail}  (target {result['target']})"
        f"  {verdict}"
    )
    cpu = result.get("cpu_ratio")
    if cpu:
        print(
            f"    from client CPU per call: {cpu['median']:.3f}, "
            f"spread {cpu['min']:.3f}-{cpu['max']:.3f}"
        )
    for label, value in result.get("layers_us", {}).items():
        print(f"    CPU per call: {label}: {value:.1f} µs")


def chart(results: list[dict[str, Any]], path: Path) -> bool:
    """A bar chart per benchmark, baseline first; False when matplotlib is missing."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    columns = 3
    rows = (len(results) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 2.6 * rows), squeeze=False)
    for ax, result in zip(axes.flat, results, strict=False):
        labels = [row["label"] for row in result["rows"]][::-1]
        values = [row["value"] for row in result["rows"]][::-1]
        colour = "#2a9d8f" if result["met"] else "#e76f51"
        # Baselines and references grey; what is measured green (target met) or red.
        grey = ("baseline", "reference", "target R")
        colours = ["#adb5bd" if any(g in label for g in grey) else colour for label in labels]
        bars = ax.barh(labels, values, color=colours)
        ax.bar_label(bars, labels=[_format_value(v, result["unit"]) for v in values], fontsize=7)
        ax.set_title(
            f"{result['title']}\n{result['ratio_label']} = {result['ratio']:.3f} "
            f"(target {result['target']})",
            fontsize=8,
        )
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.margins(x=0.25)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks chosen; print the tables; write results.json and chart.png."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="directory for the results")
    parser.add_argument(
        "--runs", type=int, default=None, help="full runs, verdicts compared (default: 2, quick: 1)"
    )
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 2)

    pin_client()
    info = machine()
    info["client_cpus"] = sorted(client_cpus())
    info["server_cpu"] = sorted(server_cpu())
    print(
        f"irefer-async benchmarks, {info['date']}: Python {info['python']}, {info['cpu']}, "
        f"{info['cpus']} CPUs, load average {info.get('load_average_at_start')}"
        + (" (--quick: smoke sizes)" if args.quick else "")
    )
    results: list[dict[str, Any]] = []
    verdicts: list[dict[str, bool]] = []
    started = time.perf_counter()
    for run in range(1, runs + 1):
        if runs > 1:
            print(f"\n=== run {run} of {runs} ===")
        results = []
        for name in args.only or BENCHMARKS:
            begun = time.perf_counter()
            found = BENCHMARKS[name](quick=args.quick)
            for result in found if isinstance(found, list) else [found]:
                result["seconds"] = result.get("seconds") or round(time.perf_counter() - begun, 1)
                print_table(result)
                results.append(result)
        verdicts.append({r["name"]: r["met"] for r in results})
    # Verdicts that hold: every run gave every benchmark the same verdict.
    stable = all(v == verdicts[0] for v in verdicts)
    for result in results:
        result["verdicts"] = [v.get(result["name"]) for v in verdicts]
    info["runs"] = runs
    info["verdicts_stable"] = stable
    info["total_seconds"] = round(time.perf_counter() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "quick": args.quick, "results": results}
    (args.output / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    drawn = chart(results, args.output / "chart.png")
    missed = [r["name"] for r in results if not r["met"]]
    print(
        f"\n{len(results) - len(missed)}/{len(results)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + (f"; verdicts {'the same' if stable else 'DIFFERENT'} in {runs} runs" if runs > 1 else "")
        + f" in {info['total_seconds']:.0f} s. Wrote {args.output / 'results.json'}"
        + (f" and {args.output / 'chart.png'}" if drawn else " (no chart: pip install matplotlib)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
