"""``import irefer_async`` against ``import httpx``, same rounds (target: at most 1.3x).

Each round runs ``python -c "import httpx"`` and ``python -c "import irefer_async"`` as whole
processes, in turn (the order alternating), and takes each one's CPU time (user + system, from
the kernel's accounting of the finished child). The ratio is the median of the per-round
ratios, with its spread; the load average is recorded with it. Two modes: with bytecode (as a
pip install has it: a fresh ``PYTHONPYCACHEPREFIX``, warmed once) and without
(``PYTHONDONTWRITEBYTECODE=1``: every module compiled from source, as an editable checkout
that never wrote its ``__pycache__``). ``PYTHONPATH`` is passed on: to time
another checkout, run from outside both (a child's ``-c`` puts its working directory first).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from typing import Any

TARGET = 1.3
COMMANDS = {"httpx": "import httpx", "irefer_async": "import irefer_async"}


def _cpu(code: str, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of one ``python -c code`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _mode(rounds: int, env: dict[str, str]) -> dict[str, Any]:
    for code in COMMANDS.values():  # warm the page cache (and write the bytecode, if any)
        _cpu(code, env)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    ratios = []
    for number in range(rounds):
        order = list(COMMANDS.items())
        if number % 2:
            order.reverse()
        for name, code in order:
            times[name].append(_cpu(code, env))
        ratios.append(times["irefer_async"][-1] / times["httpx"][-1])
    return {
        **{f"{name}_ms": statistics.median(values) * 1e3 for name, values in times.items()},
        "ratio": statistics.median(ratios),
        "spread": (min(ratios), max(ratios)),
        "met": statistics.median(ratios) <= TARGET,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both modes, ``rounds`` interleaved rounds each (9, or 5 with ``quick``)."""
    rounds = 5 if quick else 9
    own = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")  # PYTHONPATH passes: A/B runs
    base = {k: v for k, v in os.environ.items() if k not in own}
    result: dict[str, Any] = {"load_average": os.getloadavg(), "rounds": rounds}
    with tempfile.TemporaryDirectory() as cache:
        result["bytecode"] = _mode(rounds, {**base, "PYTHONPYCACHEPREFIX": cache})
    result["source"] = _mode(rounds, {**base, "PYTHONDONTWRITEBYTECODE": "1"})
    result["load_average_after"] = os.getloadavg()
    return result


if __name__ == "__main__":
    rounds_arg = sys.argv[1:] == ["--quick"]
    outcome = run(quick=rounds_arg)
    print(f"load average {outcome['load_average']} -> {outcome['load_average_after']}")
    for mode in ("bytecode", "source"):
        row = outcome[mode]
        low, high = row["spread"]
        print(
            f"{mode:8}  httpx {row['httpx_ms']:6.1f} ms  irefer_async {row['irefer_async_ms']:6.1f}"
            f" ms  ratio {row['ratio']:.3f} ({low:.3f}-{high:.3f})  target <= {TARGET}: "
            f"{'met' if row['met'] else 'missed'}"
        )
