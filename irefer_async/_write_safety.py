"""Write safety: never resend a write that may have landed, even on a slow server.

``newSignup`` and ``newSpecificAction`` are GET requests with no idempotency key, so a
blind resend can create a duplicate. One write attempt is wrapped by `guarded_write`:

* success, or a failure that provably never reached the server (connect error, pool or
  connect timeout, 429, a deadline that passed before sending): passed through unchanged;
* an ambiguous failure (read timeout, dropped connection, 5xx, ``null``/unreadable body,
  the call's deadline cut mid-flight): reconciled with a read. **Settle before resend**: a
  read proves "not landed" only if it *started* at least ``settle`` seconds after the
  failed attempt ended, since a server may still be processing a request its client gave
  up on; earlier reads (shared scans, see `_settle`) may only prove "landed".
  Landed -> the reconciled result. Settled and absent -> the failure is re-raised and the
  retry layer may resend. Cannot tell, or the settled read cannot finish within the call's
  deadline -> `WriteOutcomeUnknownError`, never a resend.
* an API error body: final, except that for ``newSignup`` the SDK looks the email up, so
  that "this email was already a participant" is a `DuplicateSignupError`
  whether or not a fault hid the API's refusal; after an earlier ambiguous attempt of the
  same call it is reconciled (the refusal may be of our own first attempt, which landed).

Residual risk: a server that processes a write more than ``settle`` seconds after the
client gave up on it can still see that write twice.

The reconciling reads live in the client (they need its boards and its reads), which
passes them in as ``reconcile(not_before, refused)``.

Where a write is looked for is declared in the endpoint table (`Reconcile`: a list and
the row fields that match the write); live calls, bulk runs and the CLI's ``--resume``
all look through the client's shared settle scans (`_settle.Board`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TypeVar

from ._deadline import current_deadline
from ._errors import (
    APIError,
    DuplicateSignupError,
    InvalidRequestError,
    IReferError,
    WriteOutcomeUnknownError,
)

__all__ = [
    "RESUMED",
    "Reconciler",
    "WriteState",
    "guarded_write",
    "is_ambiguous",
]

T = TypeVar("T")
R = TypeVar("R")

#: Set by a bulk worker: awaited when a write's reconciling read has answered (or failed), with
#: whether the write is about to be resent; the row leaves its parking and takes back its bulk
#: credit and, to resend, a turn to send (see ``_bulk.py``; ``_settle.PARKING`` is the other end).
RESUMED: ContextVar[Callable[[bool], Awaitable[None]] | None] = ContextVar(
    "irefer_async_resumed", default=None
)

#: ``reconcile(not_before, refused)``: the write's result if it landed, None if a read that
#: started at loop time ``not_before`` or later found no trace of it; raises if it cannot
#: tell. ``refused``: the API refused this very attempt (look for a duplicate, nothing else).
Reconciler = Callable[[float, bool], Awaitable[T | None]]


def is_ambiguous(exc: IReferError) -> bool:
    """Whether a failed write may have been processed by the server."""
    if isinstance(exc, APIError | InvalidRequestError):
        return False
    return exc.maybe_processed


class WriteState:
    """What earlier attempts of one write call left uncertain (one per call, never shared)."""

    __slots__ = ("first_sent", "maybe_landed")

    def __init__(self) -> None:
        #: An earlier attempt failed ambiguously, so this write may already have landed.
        self.maybe_landed = False
        #: The loop time at which the call's first attempt started (to date a found row).
        self.first_sent: float | None = None


async def guarded_write(
    attempt: Callable[[], Awaitable[T]],
    reconcile: Reconciler[T],
    *,
    method: str,
    params: Mapping[str, str],
    state: WriteState,
    settle: float,
    check_refusal: bool = False,
) -> T:
    """Run one write attempt; after an ambiguous failure, let a settled ``reconcile`` decide.

    ``check_refusal``: on an API error body, ask ``reconcile(now, True)`` whether it was a
    duplicate (it raises :class:`DuplicateSignupError` if so).
    """
    loop = asyncio.get_running_loop()
    if state.first_sent is None:
        state.first_sent = loop.time()
    try:
        return await attempt()
    except IReferError as exc:
        failure = exc
    ended = loop.time()
    if isinstance(failure, APIError) and not state.maybe_landed:
        if check_refusal:
            try:
                await reconcile(ended, True)
            except DuplicateSignupError:
                raise
            except IReferError:
                pass  # could not look: the API's own answer stands
        raise failure
    if not isinstance(failure, APIError) and not is_ambiguous(failure):
        raise failure
    state.maybe_landed = True
    # A refusal after an ambiguous attempt is the server's answer now: no need to settle.
    not_before = ended if isinstance(failure, APIError) else ended + settle
    reconcile_error: IReferError | None = None
    try:
        landed = await reconcile(not_before, False)
    except DuplicateSignupError:
        await _resumed(resend=False)
        raise
    except IReferError as exc:
        reconcile_error = exc
    else:
        await _resumed(resend=landed is None)
        if landed is not None:
            return landed
        raise failure  # settled and absent: the retry layer may resend it
    await _resumed(resend=False)
    # Raised outside the except block: no __context__ chain (it may carry a URL).
    raise WriteOutcomeUnknownError(
        method=method, params=params, last_error=failure, reconcile_error=reconcile_error
    )


async def _resumed(*, resend: bool) -> None:
    hook = RESUMED.get()
    if hook is None:
        return
    deadline = current_deadline()
    remaining = math.inf if deadline is None else deadline.remaining()
    if not resend or math.isinf(remaining):
        await hook(resend)
        return
    # Waiting for a turn to resend stays within the call's deadline; past it, the retry layer
    # sends nothing more (the failure stands: settled, not landed).
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(hook(resend), max(remaining, 0.0))
