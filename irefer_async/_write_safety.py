"""Write safety: never resend a write that may have landed.

``newSignup`` and ``newSpecificAction`` are GET requests with no idempotency key, so a
blind resend can create a duplicate. One write attempt is wrapped by `guarded_write`:

* success, or a failure that provably never reached the server (connect error, pool or
  connect timeout, 429), or an API error body: passed through unchanged;
* an ambiguous failure (read timeout, dropped connection, 5xx, ``null``/unreadable body),
  or an API error body after an earlier ambiguous attempt of the same call (the API refuses
  a duplicate of a write that landed with the same error body as bad input, and a
  reconciling read may have misjudged the earlier attempt): first reconcile with a read.
  Landed -> return the reconciled result. Provably not landed -> re-raise the failure,
  which the retry layer may then resend. Cannot tell ->
  `WriteOutcomeUnknownError` (never retried).

Which read reconciles which write is declared in the endpoint table
(`Reconcile`); `landed` runs one such read through a
`Read` (the client's funnel), and `SharedReads` runs them for many writes at once,
doing a read that answers for every write of a campaign (``specificActionSignups``) only once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from ._endpoints import Endpoint, Reconcile
from ._errors import APIError, InvalidRequestError, IReferError, WriteOutcomeUnknownError

__all__ = ["Read", "SharedReads", "WriteState", "guarded_write", "is_ambiguous", "landed"]

T = TypeVar("T")
R = TypeVar("R")


class Read(Protocol):
    """Run a read endpoint for a campaign with these arguments (the client's funnel)."""

    def __call__(
        self, endpoint: Endpoint[R], campaign: str | None, args: Mapping[str, str], /
    ) -> Awaitable[R]:
        """Return the read's decoded result."""
        ...


async def landed(
    read: Read, spec: Reconcile[T, Any], campaign: str | None, params: Mapping[str, str]
) -> T | None:
    """Run a write's reconciling read: its result if it landed, None if provably not.

    Raises the read's error when it cannot tell.
    """
    try:
        result = await read(spec.read, campaign, spec.args(params))
    except spec.absent:
        return None
    return spec.landed(params, result)


_ABSENT: Any = object()


class SharedReads:
    """Reconcile many writes, sharing each read that answers for a whole campaign.

    A `Reconcile` marked ``shared`` (the action list) is read once per campaign and
    matched against every write; the others are read once per write. Used by the CLI's
    ``--resume``; its memory is one shared result per campaign.
    """

    __slots__ = ("_read", "_results")

    def __init__(self, read: Read) -> None:
        self._read = read
        self._results: dict[tuple[str, str | None], Any] = {}

    async def landed(
        self, endpoint: Endpoint[T], campaign: str | None, params: Mapping[str, str]
    ) -> T | None:
        """Like `landed`, for the write ``endpoint`` with these query parameters."""
        spec = endpoint.reconcile
        if spec is None:
            raise TypeError(f"{endpoint.name} is not a write")
        if not spec.shared:
            return await landed(self._read, spec, campaign, params)
        key = (spec.read.name, campaign)
        result = self._results.get(key)
        if result is None:
            try:
                result = await self._read(spec.read, campaign, spec.args(params))
            except spec.absent:
                result = _ABSENT
            self._results[key] = result
        return None if result is _ABSENT else spec.landed(params, result)


def is_ambiguous(exc: IReferError) -> bool:
    """Whether a failed write may have been processed by the server."""
    if isinstance(exc, APIError | InvalidRequestError):
        return False
    return exc.maybe_processed


class WriteState:
    """What earlier attempts of one write call left uncertain (one per call, never shared)."""

    __slots__ = ("maybe_landed",)

    def __init__(self) -> None:
        #: An earlier attempt failed ambiguously, so this write may already have landed.
        self.maybe_landed = False


async def guarded_write(
    attempt: Callable[[], Awaitable[T]],
    reconcile: Callable[[], Awaitable[T | None]],
    *,
    method: str,
    params: Mapping[str, str],
    state: WriteState | None = None,
) -> T:
    """Run one write attempt; after an ambiguous failure, let ``reconcile`` decide.

    ``reconcile`` returns the result if the write landed, None if it provably did not,
    and raises if it cannot tell. ``state`` carries what earlier attempts of the same call
    left uncertain: an API error body after an ambiguous attempt is reconciled too.
    """
    try:
        return await attempt()
    except IReferError as exc:
        # "Provably not landed" rests on a read whose error body cannot be told from "no such
        # participant"; a resend refused as bad input may be a refused duplicate: look again.
        refused_resend = isinstance(exc, APIError) and state is not None and state.maybe_landed
        if not (is_ambiguous(exc) or refused_resend):
            raise
        failure = exc
    if state is not None:
        state.maybe_landed = True
    reconcile_error: IReferError | None = None
    try:
        landed = await reconcile()
    except IReferError as exc:
        reconcile_error = exc
    else:
        if landed is not None:
            return landed
        raise failure  # provably not landed: the retry layer may resend it
    raise WriteOutcomeUnknownError(
        method=method, params=params, last_error=failure, reconcile_error=reconcile_error
    )
