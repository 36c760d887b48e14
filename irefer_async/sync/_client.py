"""The sync `IReferClient`: the async client run on one private loop in a background thread."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from irefer_async import (
    CacheConfig,
    CampaignStats,
    ClientStateError,
    LeadSource,
    Limiter,
    NewSignup,
    NewSignupRequest,
    NewSpecificAction,
    NewSpecificActionRequest,
    RateLimit,
    Referrer,
    ReferrerStats,
    RetryConfig,
    SpecificActionSignup,
    TriggeredReward,
)
from irefer_async import IReferClient as AsyncIReferClient
from irefer_async.hooks import EventHooks

from ._runner import LoopThread
from ._streams import Step, SyncBulkRun, SyncListStream

if TYPE_CHECKING:
    # httpx2 is an optional extra (irefer-async[httpx2]): imported for its types only.
    from httpx2 import AsyncBaseTransport as Httpx2Transport
    from httpx2 import AsyncClient as Httpx2AsyncClient
    from httpx2 import Timeout as Httpx2Timeout

    from irefer_async.decoding import DecodeObserver
    from irefer_async.endpoints import Endpoint

__all__ = ["IReferClient", "SyncRows"]

T = TypeVar("T")
ReqT = TypeVar("ReqT")

#: The async client's defaults, taken from its signature so the two never differ.
_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(AsyncIReferClient.__init__).parameters.items()
}

#: The rows of a sync bulk submission: requests or dicts, read lazily (a plain iterable).
SyncRows = Iterable[ReqT | Mapping[str, Any]]

#: Clients alive in this process, told when it forks (the child starts them afresh).
_CLIENTS: weakref.WeakSet[IReferClient] = weakref.WeakSet()
#: In a forked child: the parent's loops and async clients, kept so that nothing of theirs is
#: ever closed (or collected) here: their sockets and pipes are the parent's.
_PARENTS_STATE: list[object] = []


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._forget_parent()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


async def _shutdown(client: AsyncIReferClient) -> None:
    """Close the async client, then end whatever still runs on the loop (open streams, runs)."""
    try:
        await client.aclose()
    finally:
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest)


async def _value(function: Callable[[], T]) -> T:
    return function()


def _abandon(runner: LoopThread, client: AsyncIReferClient) -> None:
    """Close a collected (never closed) client's async client and stop its loop."""

    async def end() -> None:
        try:
            await _shutdown(client)
        finally:
            runner.loop.stop()

    runner.defer(end())


class IReferClient:
    """A blocking iRefer client for Django, Flask, Celery, scripts and notebooks.

    The same methods, parameters, results and errors as the asyncio
    `irefer_async.IReferClient`, which it runs on one private event loop in a background
    thread: its connection pool, rate limiter and concurrency cap live as long as the client,
    exactly as in async code. Create one per process and share it:

    ```python
    from irefer_async.sync import IReferClient

    with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
        stats = client.referrer_stats("ann@example.com")
        for referrer in client.iter_referrers():
            ...
    ```

    Contracts:

    * **Threads**: safe to call from any number of threads at once; the calls share the
      client's limits. Context variables (`correlation_scope`) follow each call.
    * **Running loops**: works in a thread that already runs an event loop (Jupyter), since
      it never uses the caller's loop; there, prefer the async client with ``await``.
    * **Fork** (Celery prefork, gunicorn): the child starts afresh on first use (a new loop,
      pool and limiter) and never touches the parent's loop or sockets. The loop's thread
      starts on the first call, so a client created at import and first used in the workers
      forks with no thread. A client with an injected ``http_client`` or ``transport``
      object, used before the fork, cannot be rebuilt in the child and raises
      `ClientStateError` there: create the client after the fork instead.
    * ``close()`` (or leaving ``with``) waits for calls in flight, closes the async client,
      ends open streams and bulk runs, and stops the thread. Calls after it raise
      `ClientStateError`. Not from one of the client's own event hooks.

    Args are those of `irefer_async.IReferClient`, with its defaults (read from its
    signature, so the two cannot differ: ``_DEFAULTS[...]`` below).
    """

    def __init__(
        self,
        license_key: str | None = None,
        api_key: str | None = None,
        *,
        campaign_id: int | str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | Httpx2Timeout | None = _DEFAULTS["timeout"],
        retry: RetryConfig | None = _DEFAULTS["retry"],
        rate_limit: float | RateLimit | Limiter | None = _DEFAULTS["rate_limit"],
        max_concurrency: int | None = _DEFAULTS["max_concurrency"],
        http_client: httpx.AsyncClient | Httpx2AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Httpx2Transport | Literal["aiohttp"] | None = None,
        event_hooks: EventHooks | None = None,
        share_reads: bool = True,
        cache: CacheConfig | None = None,
        max_waiting: int | None = None,
        decode_observer: DecodeObserver | None = None,
        http_stack: Literal["httpx", "httpx2"] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "license_key": license_key, "api_key": api_key, "campaign_id": campaign_id,
            "base_url": base_url, "timeout": timeout, "retry": retry, "rate_limit": rate_limit,
            "max_concurrency": max_concurrency, "http_client": http_client,
            "transport": transport, "event_hooks": event_hooks, "share_reads": share_reads,
            "cache": cache, "max_waiting": max_waiting, "decode_observer": decode_observer,
            "http_stack": http_stack,
        }  # fmt: skip
        # Whether a forked child may build the client again from the same options.
        self._rebuildable = http_client is None and (transport is None or transport == "aiohttp")
        self._lock = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._runner: LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # Built here, so bad arguments raise here as for the async client; the loop thread
        # starts on the first call (a client made at import starts no thread before a fork).
        self._async: AsyncIReferClient | None = AsyncIReferClient(**self._options)
        _CLIENTS.add(self)

    # -- lifecycle ------------------------------------------------------------------------

    def _forget_parent(self) -> None:
        """In a forked child: drop (never close) the parent's loop and the client it used.

        A client never used in the parent (no loop yet) holds nothing of the parent's and is
        kept; it starts its loop here, on its first call.
        """
        self._lock = threading.Condition()  # another thread may have held it at the fork
        self._in_flight = 0
        if self._runner is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
        _PARENTS_STATE.append((self._runner, self._async))
        self._runner = self._async = self._finalizer = None

    def _client(self) -> AsyncIReferClient:
        """Return this process's async client (built afresh after a fork), not started."""
        if self._async is None:
            if not self._rebuildable:
                raise ClientStateError(
                    "this IReferClient was used before a fork with an injected http_client "
                    "or transport; create a new client in the child process"
                )
            self._async = AsyncIReferClient(**self._options)
        return self._async

    def _current(self) -> tuple[LoopThread, AsyncIReferClient]:
        """Return the loop and async client of this process, starting the loop if needed."""
        if self._closed:
            raise ClientStateError("this IReferClient is closed; create a new one")
        client = self._client()
        runner = self._runner
        if runner is None:
            runner = self._runner = LoopThread()
            self._finalizer = weakref.finalize(self, _abandon, runner, client)
            self._finalizer.atexit = False
        return runner, client

    def _run(self, call: Callable[[AsyncIReferClient], Awaitable[T]]) -> T:
        """Run ``call(async client)`` on the loop, blocking; counted for `close`."""
        with self._lock:
            runner, client = self._current()
            self._in_flight += 1
        try:
            return runner.run(_awaited(call, client))
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._lock.notify_all()

    def _step_on(self, runner: LoopThread) -> Step:
        """Return how a stream or run of ``runner``'s loop runs a step: counted, like a call."""

        def step(coro: Coroutine[Any, Any, T]) -> T:
            with self._lock:
                if self._closed or runner is not self._runner:
                    coro.close()
                    raise ClientStateError(
                        "this stream's IReferClient is closed (or was forked); start a new stream"
                    )
                self._in_flight += 1
            try:
                return runner.run(coro)
            finally:
                self._done()

        return step

    def _made(self, make: Callable[[AsyncIReferClient], T]) -> tuple[T, LoopThread, Step]:
        """Call a sync method of the async client (a stream's or run's factory) on the loop.

        Returns its result with the loop it belongs to and how to run its steps there.
        """
        with self._lock:
            runner = self._current()[0]
        return self._run(lambda c: _value(lambda: make(c))), runner, self._step_on(runner)

    def close(self) -> None:
        """Close the client: wait for calls in flight, close the pool, stop the thread.

        Idempotent. Open list streams and bulk runs are ended (a run's rows in flight go to
        its ``undelivered``, status unknown).
        """
        with self._lock:
            if self._closed:
                return
            runner, client = self._runner, self._async
            if runner is not None and runner.on_loop_thread():
                raise ClientStateError("close() from the client's own loop (an event hook?)")
            self._closed = True
            self._lock.wait_for(lambda: not self._in_flight)
            if self._finalizer is not None:
                self._finalizer.detach()
        if client is None:
            return
        if runner is None:  # never used: its pool never opened; a loop only to close it
            runner = LoopThread()
        try:
            runner.run(_shutdown(client))
        finally:
            runner.stop()

    def __enter__(self) -> IReferClient:
        if self._closed:
            raise ClientStateError("this IReferClient is closed; create a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        client = self._async
        if client is None:
            return f"<sync IReferClient {'closed' if self._closed else 'forked, not restarted'}>"
        return "<sync " + repr(client).removeprefix("<")

    def _get(self, read: Callable[[AsyncIReferClient], T]) -> T:
        """Read a property of this process's async client."""
        with self._lock:
            if self._closed and self._async is not None:
                return read(self._async)
            return read(self._client())

    @property
    def campaign_id(self) -> int | None:
        """The default campaign id, or None."""
        return self._get(lambda c: c.campaign_id)

    @property
    def max_concurrency(self) -> int | None:
        """The cap on requests in flight, or None when there is none."""
        return self._get(lambda c: c.max_concurrency)

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot right now: the client's queue (a gauge to alert on)."""
        return self._get(lambda c: c.waiting)

    @property
    def cache(self) -> CacheConfig | None:
        """The read cache's configuration, or None when there is no cache."""
        return self._get(lambda c: c.cache)

    @property
    def decode_observer(self) -> DecodeObserver | None:
        """The `DecodeObserver` shown every answer before it is decoded, or None."""
        return self._get(lambda c: c.decode_observer)

    @property
    def is_closed(self) -> bool:
        """Whether `close` has been called."""
        return self._closed

    # -- public views for tools built on the client (the doctor, the CLI) -----------------

    @property
    def base_url(self) -> str:
        """The API root requests go to, ending in ``/`` (holds no key: keys are parameters)."""
        return self._get(lambda c: c.base_url)

    def redact(self, text: str) -> str:
        """Return ``text`` with this client's keys, and any 6-character fragment, masked."""
        return self._get(lambda c: c.redact(text))

    def quote(self, text: str, limit: int) -> str:
        """Redact ``text`` first, then cut it to about ``limit`` characters (never the reverse)."""
        return self._get(lambda c: c.quote(text, limit))

    def raw_read(self, endpoint: Endpoint[Any], values: Mapping[str, object]) -> Any:
        """Send one read once and return its response as is; see the async ``raw_read``."""
        return self._run(lambda c: c.raw_read(endpoint, values))

    def read_json(self, method: str, response: Any) -> Any:
        """Return the parsed JSON of a `raw_read` response, or raise what the method would."""
        return self._get(lambda c: c.read_json(method, response))

    # -- the seven endpoints ----------------------------------------------------------------

    def referrer_stats(self, email: str, *, campaign_id: int | str | None = None) -> ReferrerStats:
        """Get a participant's referrals and rewards (``referrerStats``).

        Raises `APIError` if the campaign has no participant with this email.
        """
        return self._run(lambda c: c.referrer_stats(email, campaign_id=campaign_id))

    def campaign_stats(self, *, campaign_id: int | str | None = None) -> CampaignStats:
        """Get the campaign's views, signups, conversion and referrals (``campaignStats``)."""
        return self._run(lambda c: c.campaign_stats(campaign_id=campaign_id))

    def new_signup(
        self,
        email: str,
        *,
        name: str | None = None,
        phone: str | None = None,
        info_1: str | None = None,
        info_2: str | None = None,
        info_3: str | None = None,
        info_4: str | None = None,
        info_5: str | None = None,
        source: LeadSource | str | None = None,
        referrer_code: str | None = None,
        campaign_id: int | str | None = None,
    ) -> NewSignup:
        """Add a participant to the campaign (``newSignup``); a write, never resent blindly.

        ``referrer_code`` credits the referrer who shared the link: in a web app, read it with
        `irefer_async.web.referral_code`. Parameters left as None are not sent.
        """
        return self._run(
            lambda c: c.new_signup(
                email, name=name, phone=phone, info_1=info_1, info_2=info_2, info_3=info_3,
                info_4=info_4, info_5=info_5, source=source, referrer_code=referrer_code,
                campaign_id=campaign_id,
            )
        )  # fmt: skip

    def new_specific_action(
        self,
        external_id: str,
        *,
        action: str,
        referrer_code: str,
        campaign_id: int | str | None = None,
    ) -> NewSpecificAction:
        """Record that a referred person completed a specific action (``newSpecificAction``)."""
        return self._run(
            lambda c: c.new_specific_action(
                external_id, action=action, referrer_code=referrer_code, campaign_id=campaign_id
            )
        )

    def referrers(self, *, campaign_id: int | str | None = None) -> tuple[Referrer, ...]:
        """List every participant of the campaign (``referrers``)."""
        return self._run(lambda c: c.referrers(campaign_id=campaign_id))

    def rewards(self, *, campaign_id: int | str | None = None) -> tuple[TriggeredReward, ...]:
        """List every reward triggered in the campaign (``rewards``)."""
        return self._run(lambda c: c.rewards(campaign_id=campaign_id))

    def specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> tuple[SpecificActionSignup, ...]:
        """List every specific action credited in the campaign (``specificActionSignups``)."""
        return self._run(lambda c: c.specific_action_signups(campaign_id=campaign_id))

    # -- streamed lists ---------------------------------------------------------------------

    def iter_referrers(self, *, campaign_id: int | str | None = None) -> SyncListStream[Referrer]:
        """Stream every participant of the campaign (``referrers``), one by one.

        Bounded memory whatever the campaign's size; see `SyncListStream`:

        ```python
        with client.iter_referrers() as referrers:
            for referrer in referrers:
                ...
        ```
        """
        return SyncListStream(*self._made(lambda c: c.iter_referrers(campaign_id=campaign_id)))

    def iter_rewards(
        self, *, campaign_id: int | str | None = None
    ) -> SyncListStream[TriggeredReward]:
        """Stream every reward triggered in the campaign (``rewards``); see `SyncListStream`."""
        return SyncListStream(*self._made(lambda c: c.iter_rewards(campaign_id=campaign_id)))

    def iter_specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> SyncListStream[SpecificActionSignup]:
        """Stream every specific action of the campaign (``specificActionSignups``)."""
        return SyncListStream(
            *self._made(lambda c: c.iter_specific_action_signups(campaign_id=campaign_id))
        )

    # -- writes sent earlier ----------------------------------------------------------------

    @overload
    def find_landed(self, request: NewSignupRequest, *, sent_at: float) -> NewSignup | None: ...
    @overload
    def find_landed(
        self, request: NewSpecificActionRequest, *, sent_at: float
    ) -> NewSpecificAction | None: ...
    def find_landed(
        self, request: NewSignupRequest | NewSpecificActionRequest, *, sent_at: float
    ) -> NewSignup | NewSpecificAction | None:
        """Tell whether a write sent earlier landed; see the async client's ``find_landed``.

        Its reconciled result if it landed, None if it provably did not (resend it); raises
        an `IReferError` when it cannot tell: report it as of unknown outcome, never resend.
        """
        return self._run(lambda c: c.find_landed(request, sent_at=sent_at))

    # -- bulk ---------------------------------------------------------------------------------

    def bulk_new_signups(
        self,
        rows: SyncRows[NewSignupRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> SyncBulkRun[NewSignupRequest, NewSignup]:
        """Submit any number of signups (requests or dicts), one outcome per row.

        ``rows`` is read lazily on the client's loop by ``concurrency`` workers; a failing
        row never stops the others; see `SyncBulkRun`.
        """
        return SyncBulkRun(
            *self._made(
                lambda c: c.bulk_new_signups(rows, concurrency=concurrency, ordered=ordered)
            )
        )

    def bulk_new_specific_actions(
        self,
        rows: SyncRows[NewSpecificActionRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> SyncBulkRun[NewSpecificActionRequest, NewSpecificAction]:
        """Submit any number of specific actions, one outcome per row; see `bulk_new_signups`."""
        return SyncBulkRun(
            *self._made(
                lambda c: c.bulk_new_specific_actions(
                    rows, concurrency=concurrency, ordered=ordered
                )
            )
        )


async def _awaited(
    call: Callable[[AsyncIReferClient], Awaitable[T]], client: AsyncIReferClient
) -> T:
    # The call's awaitable is created on the loop, in the task's context.
    return await call(client)
