"""examples/taskiq_signups: one client per worker process, tasks on the InMemoryBroker."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from irefer_async import IReferClient
from irefer_async.testing import Emulator

pytest.importorskip("taskiq")


async def test_tasks_share_the_workers_one_client(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = load_example("taskiq_signups/worker.py")
    emulator = Emulator()
    emulator.add_participant("dup@example.com")
    clients: list[IReferClient] = []

    def make_client() -> IReferClient:
        client = emulator.client()
        clients.append(client)
        return client

    monkeypatch.setattr(worker, "make_client", make_client)
    broker = worker.broker
    await broker.startup()
    try:
        one = await worker.submit_signup.kiq("ann@example.com", name="Ann")
        result = await one.wait_result(timeout=5)
        assert not result.is_err, result.error
        assert result.return_value["status"] == "ok"
        dup = await worker.submit_signup.kiq("dup@example.com")
        assert (await dup.wait_result(timeout=5)).return_value["status"] == "refused"
        chunk = await worker.submit_signups.kiq(
            [{"email": f"row{i}@example.com"} for i in range(10)] + [{"email": ""}]
        )
        summary = (await chunk.wait_result(timeout=5)).return_value
        assert summary["ok"] == 10
        assert [f["status"] for f in summary["failed"]] == ["invalid"]
        assert len(clients) == 1  # one client for the worker process, not one per task
    finally:
        await broker.shutdown()
    assert clients[0].is_closed
    assert emulator.participant("row9@example.com") is not None


def test_send_exits_1_when_a_task_fails_or_a_row_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sender's exit code tells: 0 all ok; 1 for a refused row or a task that raised."""
    import asyncio
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    for name in [m for m in sys.modules if m.startswith("examples")]:
        monkeypatch.delitem(sys.modules, name)
    send = importlib.import_module("examples.taskiq_signups.send")
    worker = importlib.import_module("examples.taskiq_signups.worker")
    emulator = Emulator()
    emulator.add_participant("dup@example.com")
    monkeypatch.setattr(worker, "make_client", emulator.client)

    assert asyncio.run(send.main(["ann@example.com", "bob@example.com"])) == 0
    assert asyncio.run(send.main(["dup@example.com"])) == 1  # refused: already signed up
    assert asyncio.run(send.main(["cy@example.com", ""])) == 1  # an invalid row in the chunk
    emulator.inject_fault("http_5xx_before", method="newSignup", times=10)
    assert asyncio.run(send.main(["dan@example.com"])) == 1  # the task raised
    assert "the task failed" in capsys.readouterr().err


def test_without_a_broker_url_the_worker_says_what_it_needs(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory broker, asked to listen by `taskiq worker`, names TASKIQ_BROKER_URL."""
    monkeypatch.delenv("TASKIQ_BROKER_URL", raising=False)
    worker = load_example("taskiq_signups/worker.py")
    with pytest.raises(RuntimeError, match="TASKIQ_BROKER_URL"):
        worker.broker.listen()
