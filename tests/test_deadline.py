"""The call deadline primitive: loop-clock based, nested scopes keep the earliest."""

from __future__ import annotations

import asyncio
import math

from irefer_async._deadline import Deadline, current_deadline, deadline_scope


async def test_remaining_follows_the_loop_clock() -> None:
    deadline = Deadline.after(5.0)
    assert 4.9 < deadline.remaining() <= 5.0
    assert Deadline(asyncio.get_running_loop().time() - 1, 1.0).remaining() < 0


async def test_infinite_budget_never_expires() -> None:
    deadline = Deadline.after(math.inf)
    assert deadline.remaining() == math.inf


async def test_scope_sets_and_resets_the_current_deadline() -> None:
    assert current_deadline() is None
    deadline = Deadline.after(3.0)
    with deadline_scope(deadline) as active:
        assert active is deadline and current_deadline() is deadline
    assert current_deadline() is None


async def test_nested_scope_keeps_the_earlier_deadline() -> None:
    outer = Deadline.after(1.0)
    with deadline_scope(outer):
        with deadline_scope(Deadline.after(10.0)) as inner:
            assert inner is outer
        with deadline_scope(Deadline.after(0.5)) as tighter:
            assert tighter is not outer and current_deadline() is tighter
        assert current_deadline() is outer


async def test_a_task_created_in_scope_inherits_it() -> None:
    deadline = Deadline.after(2.0)
    with deadline_scope(deadline):
        task = asyncio.ensure_future(asyncio.sleep(0, result=None))
        seen = await asyncio.create_task(_read())
        await task
    assert seen is deadline


async def _read() -> Deadline | None:
    return current_deadline()
