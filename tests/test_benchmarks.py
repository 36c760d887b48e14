"""The benchmark runner's plumbing (not its figures): ``--quick`` writes results and a chart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_run_writes_results_and_chart(tmp_path: Path) -> None:
    """A smoke run of the CPU-only benchmarks and the memory one: every result well formed."""
    pytest.importorskip("pydantic")
    pytest.importorskip("orjson")
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "decode", "findings",
         "memory", "--output", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["quick"] is True
    assert payload["machine"]["python"]
    names = [result["name"] for result in payload["results"]]
    assert names == ["decode", "retry_fast_path", "bulk_memory"]
    for result in payload["results"]:
        assert result["rows"], result["name"]
        assert isinstance(result["ratio"], float)
        assert isinstance(result["met"], bool)
    memory = payload["results"][-1]
    assert memory["rows"][0]["value"] > 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "chart.png").stat().st_size > 0


@pytest.mark.slow
def test_quick_big_lists_run_reports_memory_speed_and_stalls(tmp_path: Path) -> None:
    """A smoke run of the streamed-list benchmarks (loopback emulator) and the parser choice."""
    pytest.importorskip("orjson")
    pytest.importorskip("uvicorn")
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "parsers", "big_lists",
         "--output", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )  # fmt: skip
    payload = json.loads((tmp_path / "results.json").read_text())
    names = [result["name"] for result in payload["results"]]
    assert names == [
        "stream_parsers",
        "big_list_memory",
        "big_list_throughput",
        "big_list_stall",
        "big_list_own_stall",
    ]
    memory = payload["results"][1]
    labels = [row["label"] for row in memory["rows"]]
    assert "iter_referrers(), 20,000" in labels
    assert all(row["value"] > 0 for row in memory["rows"])
