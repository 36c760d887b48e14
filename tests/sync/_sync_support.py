"""Drivers that run the same contract case through the async client and the sync one."""

from __future__ import annotations

import asyncio
from typing import Any

from irefer_async import IReferClient as AsyncIReferClient
from irefer_async import RetryConfig
from irefer_async.sync import IReferClient
from irefer_async.testing import DEFAULT_BASE_URL, Emulator

FAST_RETRY = RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.1)


def emulator_options(emulator: Emulator, **kwargs: Any) -> dict[str, Any]:
    """What `Emulator.client` passes: the campaign's keys, in-process transport, fast retries."""
    spec = emulator.default_campaign
    options: dict[str, Any] = {
        "license_key": spec.license_key,
        "api_key": spec.api_key,
        "campaign_id": spec.id,
        "base_url": DEFAULT_BASE_URL,
        "rate_limit": None,
        "retry": FAST_RETRY,
        "transport": emulator.transport(),
    }
    options.update(kwargs)
    return options


def sync_client(emulator: Emulator, **kwargs: Any) -> IReferClient:
    """A sync client wired in-process to ``emulator`` (as `Emulator.client` wires an async one)."""
    return IReferClient(**emulator_options(emulator, **kwargs))


class AsyncDriver:
    """The async client, each call run to completion on one loop of the test's own."""

    def __init__(self, emulator: Emulator) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncIReferClient(**emulator_options(emulator))

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run_until_complete(getattr(self.client, name)(*args, **kwargs))

    def collect(self, name: str, /, **kwargs: Any) -> list[Any]:
        async def read() -> list[Any]:
            async with getattr(self.client, name)(**kwargs) as stream:
                return [item async for item in stream]

        return self.loop.run_until_complete(read())

    def bulk(self, name: str, rows: list[Any], /, **kwargs: Any) -> tuple[list[Any], Any]:
        async def read() -> tuple[list[Any], Any]:
            async with getattr(self.client, name)(rows, **kwargs) as run:
                return [outcome async for outcome in run], run.summary

        return self.loop.run_until_complete(read())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())

    def dispose(self) -> None:
        self.close()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class SyncDriver:
    """The sync client, called as sync code calls it."""

    def __init__(self, emulator: Emulator) -> None:
        self.client = sync_client(emulator)

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, name)(*args, **kwargs)

    def collect(self, name: str, /, **kwargs: Any) -> list[Any]:
        with getattr(self.client, name)(**kwargs) as stream:
            return list(stream)

    def bulk(self, name: str, rows: list[Any], /, **kwargs: Any) -> tuple[list[Any], Any]:
        with getattr(self.client, name)(rows, **kwargs) as run:
            return list(run), run.summary

    def close(self) -> None:
        self.client.close()

    def dispose(self) -> None:
        self.close()


Driver = AsyncDriver | SyncDriver
