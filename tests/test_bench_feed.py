"""benchmarks/bench_feed_memory.py runs and reports well-formed figures (a smoke run, tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.system
def test_feed_memory_benchmark_smoke() -> None:
    """Two rounds at 2,000 vs 200 participants and a 300-participant client run."""
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_feed_memory.py", "--rows", "2000",
         "--client-rows", "300", "--rounds", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)
    assert payload["rounds"] == 2
    stream = payload["stream"]
    assert stream["rows"]["referrers"] == 2000 and stream["events"] == {"referral.credited": 20}
    assert stream["requests_per_poll"] == 3 and stream["baseline_events"] == 0
    assert payload["summary"]["stream"]["peak_rss_mb"]["median"] > 0
    assert payload["client"]["rows"]["referrers"] == 300
