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
