"""benchmarks/bench_reconcile.py runs and reports well-formed figures (a smoke run, tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.system
@pytest.mark.slow
def test_reconcile_benchmark_smoke() -> None:
    """300 actions into 300, one round: every row one outcome, no duplicate, shared reads."""
    pytest.importorskip("uvicorn")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_reconcile", "--existing", "300", "--rows",
         "300", "--rounds", "1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 300 and figures["existing"] == 300
    assert figures["every_row_one_outcome"] is True
    assert figures["duplicates"] == [0]
    assert figures["wall_ratio"]["median"] > 0
    assert 0 < figures["reconciling_reads"] < figures["ambiguous_writes"]
    assert figures["list_bytes_read"] > 0
    assert figures["scan_cpu_us_per_row"] > 0 and figures["reconcile_cpu_s"]["median"] > 0
