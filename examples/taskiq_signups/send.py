"""Send signup tasks to the worker (run next to ``taskiq worker ...:broker``).

With the in-memory broker this runs the tasks in-process, which is handy to try it out::

    python -m examples.taskiq_signups.send ann@example.com bob@example.com
"""

from __future__ import annotations

import asyncio
import sys

from .worker import broker, submit_signup, submit_signups


async def main(emails: list[str]) -> None:
    """Send one task per email and one chunked task, then print the results."""
    await broker.startup()
    try:
        task = await submit_signup.kiq(emails[0])
        print((await task.wait_result(timeout=30)).return_value)
        chunk = await submit_signups.kiq([{"email": e} for e in emails[1:]])
        print((await chunk.wait_result(timeout=30)).return_value)
    finally:
        await broker.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["ann@example.com"]))
