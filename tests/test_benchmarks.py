"""The benchmark runner's plumbing (not its figures): ``--quick`` writes results and a chart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.system
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


@pytest.mark.system
def test_the_server_never_shares_the_clients_cpu() -> None:
    """pin_client() used to run before the server chose a CPU, and so gave it the client's."""
    script = (
        "from benchmarks._servers import client_cpus, pin_client, server_cpu\n"
        "import os\n"
        "# The CPUs this process may use (a taskset narrows them), before pin_client() does.\n"
        "cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 1\n"
        "pin_client()\n"
        "assert cpus < 2 or not (client_cpus() & server_cpu()), (client_cpus(), server_cpu())\n"
        "print(sorted(client_cpus()), sorted(server_cpu()))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)


async def test_warm_up_waits_for_a_steady_rate_not_a_fixed_count() -> None:
    """A contender that speeds up over its first ~3,000 requests is measured only after."""
    from benchmarks import _harness

    now = [0.0]
    done = [0]

    async def call() -> None:
        # 85 req/s at first, climbing to 374 req/s by request 3,000, then flat.
        done[0] += 1
        rate = 85 + (374 - 85) * min(done[0], 3000) / 3000
        now[0] += 1 / rate

    found = await _harness.warm(call, clock=lambda: now[0])
    assert found["steady"] is True
    assert found["requests"] >= 3000
    assert found["rate"] == pytest.approx(374, rel=0.05)


def test_ratio_is_the_median_of_per_round_ratios_with_spread() -> None:
    from benchmarks import _harness

    found = _harness.ratio([10.0, 30.0, 20.0], [10.0, 10.0, 10.0])
    assert found == {"median": 2.0, "min": 1.0, "max": 3.0, "rounds": 3}


@pytest.mark.system
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


@pytest.mark.system
@pytest.mark.slow
def test_busy_quick_run_reports_the_page_figures(tmp_path: Path) -> None:
    """The busy benchmark (under load, --quick) runs end to end: its figures well formed.

    Long (~40 s of real-time load): in the default suite, test_busy_service.py pins the same
    promises (100 identical reads send one request, no call waits past its deadline at 10x the
    rate, the limiter's window) in virtual time, and tests/examples/test_fastapi_app.py the page.
    """
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "busy", "--output",
         str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    results = {r["name"]: r for r in json.loads((tmp_path / "results.json").read_text())["results"]}
    assert set(results) == {
        "busy_latency",
        "busy_rate",
        "busy_answers",
        "busy_memory",
        "shared_reads",
    }
    assert results["shared_reads"]["ratio"] == 1.0  # 100 identical reads, 1 request
    for run in (
        results["busy_latency"]["runs"]["shared"] + results["busy_latency"]["runs"]["baseline"]
    ):
        assert run["failed"] == 0  # every view answered, fresh or degraded
        assert run["busiest_window_sent"] <= 5  # the client never sends above its rate
