"""Helpers for the MCP server's tests: a seeded emulator, an in-memory MCP client, key checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("mcp.server.mcpserver")  # the mcp extra (2.x)

from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from irefer_async import IReferClient
from irefer_async.mcp import build_server
from irefer_async.testing import Emulator, WriteEffect
from irefer_async.testing.__main__ import seed_demo

BASE_URL = "http://127.0.0.1:8765/v1.0/"


def seeded_emulator() -> Emulator:
    """The demo campaign (Ann with six referrals, Bob) plus rewards and specific actions."""
    emulator = Emulator(seed=0)
    seed_demo(emulator)
    emulator.seed_rewards(30)
    emulator.seed_actions(25)
    return emulator


class Asker:
    """An elicitation callback that answers every question the same way, and counts them."""

    def __init__(self, *, confirm: bool = True, action: str = "accept") -> None:
        self.confirm = confirm
        self.action = action
        self.questions: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        self.questions.append(params.message)
        if self.action != "accept":
            return ElicitResult(action=self.action)  # type: ignore[arg-type]
        return ElicitResult(action="accept", content={"confirm": self.confirm})


@contextlib.asynccontextmanager
async def connect(
    client: IReferClient, *, asker: Asker | None = None, mode: str = "auto", **options: Any
) -> AsyncIterator[Client]:
    """An in-memory MCP client session on a server built around ``client``."""
    server = build_server(client, base_url=BASE_URL, **options)
    kwargs: dict[str, Any] = {"mode": mode}
    if asker is not None:
        kwargs["elicitation_callback"] = asker
    async with Client(server, **kwargs) as session:
        yield session


def writes(emulator: Emulator, method: str = "newSignup") -> int:
    """How many requests of ``method`` reached the emulator."""
    return sum(1 for entry in emulator.journal if entry.method == method)


def created(emulator: Emulator) -> int:
    return emulator.journal.count(WriteEffect.PARTICIPANT_CREATED)


def key_fragments(*keys: str, size: int = 6) -> set[str]:
    """Every ``size``-character piece of the keys (a leak of any one of them is a leak)."""
    return {key[i : i + size] for key in keys for i in range(len(key) - size + 1)}


def leaks(text: str, fragments: set[str]) -> list[str]:
    return sorted(f for f in fragments if f in text)
