"""Write safety at the tool level: dry runs that send nothing, and a record of writes made.

`DryRun` builds the request a write would send through the SDK's own checks and encoding,
on a client of its own whose transport only looks (`httpx.MockTransport`): nothing leaves
the process, and the placeholder keys it uses are replaced by ``[license key]`` and
``[api key]`` in what it returns.

`WriteRecord` answers a tool call that repeats one already made (an agent retrying after a
lost answer) from this process's memory, and makes a repeat that arrives while the first is
still in flight wait for it instead of sending again. What reaches iRefer still goes through
the SDK's write safety (settle, reconcile, `DuplicateSignupError`), so a repeat after a
restart is refused as "already a participant" rather than duplicated.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import httpx

from irefer_async import APIError, IReferClient, WriteOutcomeUnknownError

from ._results import SentRequest

__all__ = [
    "API_PLACEHOLDER",
    "LICENSE_PLACEHOLDER",
    "DryRun",
    "OutcomeStillUnknownError",
    "WriteRecord",
]

T = TypeVar("T")

#: What a dry run shows in place of the license key and the API key.
LICENSE_PLACEHOLDER = "[license key]"
API_PLACEHOLDER = "[api key]"

# A license key's shape (W4qL + 28), never a real key: the dry-run client sends nowhere.
_DRY_LICENSE = "W4qL" + "0" * 28
_DRY_API_KEY = "mcp-dry-run-placeholder"
_DRY_CODE = "irefer_mcp_dry_run"
# Where the dry-run client "sends" (its transport answers; the SDK's log lines show this host,
# not the real one, so a dry run never reads as a request to iRefer).
_DRY_BASE = "http://dry-run.invalid/v1.0/"
_WRITES = ("newSignup", "newSpecificAction")


class DryRun:
    """Show what a write would send, validated by the SDK, sending nothing."""

    def __init__(self, base_url: str, campaign_id: int | None) -> None:
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._campaign_id = campaign_id

    async def request(self, method: str, **arguments: Any) -> SentRequest:
        """Return the ``GET`` that ``client.<method>(**arguments)`` would send.

        Raises what the real call would raise before sending (`InvalidRequestError` for bad
        input).
        """
        seen: list[httpx.Request] = []

        def look(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith(_WRITES):
                seen.append(request)
                # An API error body: final for the SDK, so it neither retries nor resends.
                return httpx.Response(200, json={"error": "dry run", "error_code": _DRY_CODE})
            return httpx.Response(200, json=[])  # newSignup's duplicate check reads the list

        client = IReferClient(
            license_key=_DRY_LICENSE,
            api_key=_DRY_API_KEY,
            campaign_id=self._campaign_id,
            base_url=_DRY_BASE,
            transport=httpx.MockTransport(look),
            retry=None,
            rate_limit=None,
        )
        async with client:
            try:
                await getattr(client, _python_name(method))(**arguments)
            except APIError as exc:
                if exc.error_code != _DRY_CODE:
                    raise
        request = seen[0]
        url = str(request.url).replace(
            _DRY_BASE + _DRY_LICENSE, self._base_url + LICENSE_PLACEHOLDER
        )
        url = url.replace(f"api_key={_DRY_API_KEY}", f"api_key={API_PLACEHOLDER}")
        params = {
            name: (API_PLACEHOLDER if name == "api_key" else value)
            for name, value in request.url.params.multi_items()
        }
        return SentRequest(method=request.method, url=url, params=params)


def _python_name(method: str) -> str:
    return {"newSignup": "new_signup", "newSpecificAction": "new_specific_action"}[method]


class OutcomeStillUnknownError(Exception):
    """A repeat of a write whose outcome is unknown, not found in the campaign yet: not resent."""


class WriteRecord(Generic[T]):
    """Results of the writes this process made, by a key of the tool's arguments.

    `run` sends a write once per key: a call whose key already succeeded gets the recorded
    result (``replayed=True``), one arriving while the first is in flight waits for it. A write
    that failed is not recorded (the next call tries again, through the SDK's write safety),
    except one whose outcome is unknown (`WriteOutcomeUnknownError`: it may have landed): a
    repeat first looks for it in the campaign (``lookup``); found, it is the result (replayed);
    not found, the repeat is refused with `OutcomeStillUnknownError` until ``hold`` seconds
    have passed since the unknown outcome (a server may still be processing it), and only then
    sent again. The write runs to its end even if the tool call that started it is cancelled.
    At most ``max_entries`` keys are kept in each state (the oldest forgotten first).
    """

    def __init__(self, max_entries: int = 4096, *, hold: float = 60.0) -> None:
        self._max = max_entries
        self._hold = hold
        self._done: OrderedDict[Hashable, T] = OrderedDict()
        self._unknown: OrderedDict[Hashable, float] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._done)

    def landed(self, key: Hashable) -> bool:
        """Whether a write with this key succeeded, is in flight or may have landed here."""
        return key in self._done or key in self._flights or key in self._unknown

    async def run(
        self,
        key: Hashable,
        write: Callable[[], Awaitable[T]],
        lookup: Callable[[], Awaitable[T | None]] | None = None,
    ) -> tuple[T, bool]:
        """Return ``(result, replayed)``: the write's result, sent at most once per key."""
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key], True
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight), True
        if key in self._unknown and lookup is not None:
            found = await lookup()
            if found is not None:
                self._unknown.pop(key, None)
                self._keep(key, found)
                return found, True
            waited = asyncio.get_running_loop().time() - self._unknown[key]
            if waited < self._hold:
                raise OutcomeStillUnknownError(
                    "an identical earlier call's outcome is unknown and it is not in the "
                    "campaign yet; nothing was sent again. Call again in "
                    f"{self._hold - waited:.0f} s: it is sent again only if still not found"
                )
            del self._unknown[key]

        async def once() -> T:
            return await write()

        task = asyncio.get_running_loop().create_task(once())
        self._flights[key] = task
        task.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(task), False

    def _settle(self, key: Hashable, task: asyncio.Task[T]) -> None:
        self._flights.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, WriteOutcomeUnknownError):
            self._unknown[key] = asyncio.get_running_loop().time()
            while len(self._unknown) > self._max:
                self._unknown.popitem(last=False)
        elif error is None:
            self._keep(key, task.result())

    def _keep(self, key: Hashable, result: T) -> None:
        self._done[key] = result
        while len(self._done) > self._max:
            self._done.popitem(last=False)
