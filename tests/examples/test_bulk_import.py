"""examples/bulk_import.py: a CSV streamed through bulk_new_signups, failures written out."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from irefer_async.testing import Emulator


def write_csv(path: Path, emails: list[str]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["email", "name", "source"])
        writer.writeheader()
        for i, email in enumerate(emails):
            writer.writerow({"email": email, "name": f"Person {i}", "source": "t"})


async def test_import_writes_failed_rows(
    load_example: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    example = load_example("bulk_import.py")
    emulator = Emulator()
    emulator.add_participant("dup@example.com")
    source, failed = tmp_path / "in.csv", tmp_path / "failed.csv"
    write_csv(source, [f"p{i}@example.com" for i in range(20)] + ["dup@example.com", ""])
    async with emulator.client() as client:
        summary = await example.import_signups(client, source, failed, concurrency=4)
    assert (summary.total, summary.ok, summary.failed, summary.invalid) == (22, 20, 1, 1)
    with failed.open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["status"] for r in rows) == ["failed", "invalid"]
    assert {r["email"] for r in rows} == {"dup@example.com", ""}
    assert emulator.participant("p19@example.com") is not None


async def test_main_over_loopback(
    load_example: Callable[[str], ModuleType],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("uvicorn")
    example = load_example("bulk_import.py")
    emulator = Emulator()
    spec = emulator.default_campaign
    monkeypatch.setenv("IREFER_LICENSE_KEY", spec.license_key)
    monkeypatch.setenv("IREFER_API_KEY", spec.api_key)
    monkeypatch.setenv("IREFER_CAMPAIGN_ID", str(spec.id))
    source = tmp_path / "in.csv"
    write_csv(source, ["a@example.com", "b@example.com", "c@example.com"])
    async with emulator.serve() as base_url:
        monkeypatch.setenv("IREFER_BASE_URL", base_url)
        code = await example.main([str(source), "--failed", str(tmp_path / "f.csv")])
    assert code == 0
    assert "3 ok, 0 failed" in capsys.readouterr().out
    assert emulator.participant("c@example.com") is not None
