"""Observability: correlation ids, metadata-only logging and event hooks (`irefer_async.hooks`).

One correlation id per logical call (retries and reconciling reads included), on every log
line, hook event and error. The ``irefer_async`` logger carries metadata only (``DEBUG`` each
attempt, ``INFO`` each retry and call end; fields also in ``record.irefer``). `start_call`
returns None for an unobserved read. No hook is ever added to an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from logging import DEBUG, INFO
from typing import TYPE_CHECKING, Literal, TypedDict

import attrs

from ._errors import APIError, ConfigurationError, HTTPStatusError, IReferError, TransportError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LOGGER",
    "CallEvent",
    "CallTrace",
    "EventHook",
    "EventHooks",
    "build_event_hooks",
    "correlation_scope",
    "end_call",
    "new_correlation_id",
    "start_call",
]

#: The SDK's logger. Quiet unless you configure it (``logging.getLogger("irefer_async")``).
LOGGER = logging.getLogger("irefer_async")

_prefix = os.urandom(4).hex()  # what secrets.token_hex(4) does, without its import
_counter = itertools.count(1)


def _reseed() -> None:
    # A forked worker (gunicorn, taskiq, multiprocessing) must not repeat its parent's ids.
    global _prefix, _counter  # noqa: PLW0603 - process-wide id source
    _prefix = os.urandom(4).hex()
    _counter = itertools.count(1)


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reseed)


def new_correlation_id() -> str:
    """Return a fresh correlation id: 16 hex characters, unique across processes in practice."""
    return f"{_prefix}{next(_counter):08x}"


_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "irefer_async_correlation_id", default=None
)


@contextlib.contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Make each call in the block (and tasks it starts) use ``correlation_id`` (fresh if None).

    To tie SDK calls to your own request id: ``with correlation_scope(request_id) as cid:``.
    """
    cid = correlation_id or new_correlation_id()
    token = _CURRENT.set(cid)
    try:
        yield cid
    finally:
        _CURRENT.reset(token)


@attrs.frozen(slots=True)
class CallEvent:
    """One moment of one HTTP attempt, as event hooks receive it (docs/observability.md)."""

    #: ``"request"`` (about to send), ``"response"`` (attempt over) or ``"retry"``.
    kind: Literal["request", "response", "retry"]
    #: The logical call's correlation id (shared by its retries and reconciling read).
    correlation_id: str
    #: The API method, e.g. ``"referrerStats"``.
    method: str
    #: The campaign the call is for, or None.
    campaign_id: int | None
    #: This attempt's number within the call, from 1 (for ``retry``: the upcoming one).
    attempt: int
    #: Whether the method is a write (``newSignup``, ``newSpecificAction``).
    write: bool
    #: The HTTP status (``response`` only; None if the exchange failed on the network).
    status: int | None = None
    #: Seconds the attempt took, from sending to decoding (``response`` only).
    elapsed: float = 0.0
    #: Response headers, when a response was received (``response`` only).
    headers: Mapping[str, str] | None = None
    #: The error the attempt ended with (``response``) or the one being retried (``retry``).
    error: IReferError | None = None
    #: Calls of the client already waiting for a slot when this attempt asked for one
    #: (``request`` and ``response``): the client's queue, a pressure signal to alert on.
    queued: int = 0
    #: Seconds this attempt waited for its slot (concurrency cap, 429 pause, rate limit),
    #: part of the call's deadline (``request`` and ``response``).
    waited: float = 0.0

    @property
    def elapsed_ms(self) -> float:
        """`elapsed` in milliseconds."""
        return self.elapsed * 1000.0


#: A hook: a function (or coroutine function) taking a `CallEvent`.
EventHook = Callable[[CallEvent], "Awaitable[object] | object"]


class EventHooks(TypedDict, total=False):
    """The ``event_hooks=`` argument of `IReferClient`."""

    #: Called just before each attempt is sent.
    request: Sequence[EventHook]
    #: Called when each attempt is over, successful or not.
    response: Sequence[EventHook]
    #: Called before an attempt that retries a failed one.
    retry: Sequence[EventHook]


_KINDS = ("request", "response", "retry")
#: The hooks of a client by kind, every kind present (a plain dict: no class to import).
_Hooks = dict[str, tuple[EventHook, ...]]


def build_event_hooks(
    event_hooks: EventHooks | Mapping[str, Sequence[EventHook]] | None,
) -> _Hooks | None:
    """Normalise ``event_hooks=`` once; None when there is none (the fast path)."""
    if event_hooks is None:
        return None
    if not isinstance(event_hooks, Mapping):
        raise ConfigurationError("event_hooks must be a mapping like {'response': [hook]}")
    unknown = sorted(set(event_hooks) - set(_KINDS))
    if unknown:
        raise ConfigurationError(
            f"event_hooks keys must be 'request', 'response' or 'retry', got {unknown}"
        )
    given: Mapping[str, Sequence[EventHook]] = event_hooks  # type: ignore[assignment]
    hooks: _Hooks = {kind: tuple(given.get(kind, ())) for kind in _KINDS}
    for kind, listed in hooks.items():
        if not all(callable(hook) for hook in listed):
            raise ConfigurationError(f"event_hooks[{kind!r}] must hold callables")
    return hooks if any(hooks.values()) else None


def _error_text(error: IReferError | None) -> str:
    if error is None:
        return "-"
    if isinstance(error, APIError) and error.error_code:
        return f"{type(error).__name__}:{error.error_code}"
    return type(error).__name__


class CallTrace:
    """The observability state of one logical call: id, attempt count, timings, hooks."""

    def __init__(
        self, hooks: _Hooks | None, method: str, campaign: str | None, write: bool, info: bool
    ) -> None:
        self.hooks = hooks
        self.method = method
        self.campaign_id = None if campaign is None else int(campaign)
        self.write = write
        self.info = info
        self.debug = info and LOGGER.isEnabledFor(DEBUG)
        # Made on first use: an unobserved write needs one only if it fails or reconciles.
        self._correlation_id = _CURRENT.get()
        self.attempts = 0
        self.last_error: IReferError | None = None
        self.status: int | None = None
        self.headers: Mapping[str, str] | None = None
        self.started = time.perf_counter() if info or hooks else 0.0
        self.sent_at = 0.0
        #: Whether the current attempt got its slot and was sent (so it will be answered).
        self.sent = False
        # The current attempt's queue and wait for its slot (loop clock); the call's total wait.
        self.queued = 0
        self.waited = 0.0
        self.waited_total = 0.0
        self._asked_at = 0.0

    @property
    def correlation_id(self) -> str:
        """The call's correlation id (the bound one, or a fresh one made on first use)."""
        cid = self._correlation_id
        if cid is None:
            cid = self._correlation_id = new_correlation_id()
        return cid

    def _log(self, level: int, kind: str, **fields: object) -> None:
        """One line ``irefer <kind> name=value ...``, its fields also in ``record.irefer``."""
        fields = {
            "method": self.method,
            "campaign_id": self.campaign_id,
            **fields,
            "correlation_id": self.correlation_id,
        }
        message = f"irefer {kind}" + "".join(f" {name}=%s" for name in fields)
        LOGGER.log(level, message, *fields.values(), extra={"irefer": fields})

    async def _emit(
        self, kind: Literal["request", "response", "retry"], error: IReferError | None = None
    ) -> None:
        """Call the ``kind`` hooks with this attempt's `CallEvent`; log what they raise."""
        hooks = self.hooks[kind] if self.hooks is not None else ()
        if not hooks:
            return
        answered = kind == "response"
        event = CallEvent(
            kind=kind,
            correlation_id=self.correlation_id,
            method=self.method,
            campaign_id=self.campaign_id,
            attempt=self.attempts,
            write=self.write,
            status=self.status if answered else None,
            elapsed=time.perf_counter() - self.sent_at if answered else 0.0,
            headers=self.headers if answered else None,
            error=error,
            queued=self.queued if kind != "retry" else 0,
            waited=self.waited if kind != "retry" else 0.0,
        )
        for hook in hooks:
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                LOGGER.exception(
                    "irefer event hook %r failed on %s event (correlation_id=%s)",
                    hook,
                    kind,
                    event.correlation_id,
                )

    def asking(self, queue_length: int) -> None:
        """Note that an attempt asks for its throttle slot, ``queue_length`` calls waiting."""
        self.sent = False
        self.queued = queue_length
        self._asked_at = asyncio.get_running_loop().time()

    async def sending(self) -> None:
        """Announce the attempt about to be sent (it has its slot): ``retry``, ``request``."""
        self.waited = asyncio.get_running_loop().time() - self._asked_at
        self.waited_total += self.waited
        self.attempts += 1
        self.sent = True
        self.status = None
        self.headers = None
        if self.attempts > 1:
            if self.info:
                after = _error_text(self.last_error)
                self._log(INFO, "retry", attempt=self.attempts, after=after)
            if self.hooks is not None:
                await self._emit("retry", self.last_error)
        if self.debug:
            waited_ms = round(self.waited * 1000.0, 1)
            self._log(
                DEBUG, "request", attempt=self.attempts, queued=self.queued, waited_ms=waited_ms
            )
        if self.hooks is not None:
            await self._emit("request")
        self.sent_at = time.perf_counter() if self.info or self.hooks else 0.0

    def saw(self, response: httpx.Response) -> None:
        """Note the attempt's response status and headers, for the ``response`` event."""
        self.status = response.status_code
        self.headers = response.headers

    async def answered(self, error: IReferError | None) -> None:
        """Report the sent attempt over (decoded, or failed): the ``response`` event.

        Not for an attempt that failed before sending (`sent` is False): that is no answer.
        """
        if error is not None:
            error.correlation_id = self.correlation_id
            self.last_error = error
        if isinstance(error, HTTPStatusError):
            self.status = error.status_code
        elif isinstance(error, TransportError):
            self.status = None
        elif self.status is None:
            self.status = 200  # an answer was read: a 2xx (iRefer answers 200)
        if self.debug:
            self._log(
                DEBUG,
                "response",
                attempt=self.attempts,
                status=self.status,
                elapsed_ms=round((time.perf_counter() - self.sent_at) * 1000.0, 1),
                error=_error_text(error),
            )
        if self.hooks is not None:
            await self._emit("response", error)

    def end(self, error: IReferError | None) -> None:
        """Record the call's outcome: stamp the error, log the call's summary line."""
        if error is not None and error.correlation_id is None:
            error.correlation_id = self.correlation_id
        if self.info:
            self._log(
                INFO,
                "call",
                outcome="ok" if error is None else "failed",
                attempts=self.attempts,
                status=self.status if error is None or error is self.last_error else None,
                elapsed_ms=round((time.perf_counter() - self.started) * 1000.0, 1),
                waited_ms=round(self.waited_total * 1000.0, 1),
                error=_error_text(error),
            )


def start_call(
    hooks: _Hooks | None, method: str, campaign: str | None, write: bool
) -> CallTrace | None:
    """Begin observing a call; None (nothing to do) for an unobserved read."""
    info = LOGGER.isEnabledFor(INFO)
    if hooks is None and not info and not write:
        return None
    return CallTrace(hooks, method, campaign, write, info)


def end_call(trace: CallTrace | None, error: IReferError | None) -> None:
    """End a call: its trace's summary line, or (unobserved) its error's correlation id."""
    if trace is not None:
        trace.end(error)
    elif error is not None and error.correlation_id is None:
        error.correlation_id = _CURRENT.get() or new_correlation_id()
