"""Send signup tasks to the worker (run next to ``taskiq worker ...:broker``).

With the in-memory broker this runs the tasks in-process, which is handy to try it out::

    python -m examples.taskiq_signups.send ann@example.com bob@example.com

It exits 0 only when every signup went through: 1 when a task failed (its error is printed
on stderr) or a row was refused or failed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from .worker import broker, submit_signup, submit_signups


def _ok(result: Any, *, what: str) -> bool:
    """Print a task's result; False when the task raised or reported a refused row."""
    if result.is_err:
        print(f"{what}: the task failed: {result.error!r}", file=sys.stderr)
        return False
    value = result.return_value
    print(value)
    return bool(value.get("status") == "ok" or value.get("failed") == [])


async def main(emails: list[str]) -> int:
    """Send one task for the first email and one chunked task for the rest; return the exit code."""
    await broker.startup()
    try:
        task = await submit_signup.kiq(emails[0])
        ok = _ok(await task.wait_result(timeout=30), what=emails[0])
        if emails[1:]:
            chunk = await submit_signups.kiq([{"email": e} for e in emails[1:]])
            ok = _ok(await chunk.wait_result(timeout=30), what="chunk") and ok
    finally:
        await broker.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:] or ["ann@example.com"])))
