"""IReferClient: lifecycle, the seven endpoint methods and the one call funnel.

Every public method is a one-liner into `IReferClient._call`, which validates the
arguments against the endpoint table (`._endpoints`), then runs the layers, each in its
own module:

```text
_call -> [observe (._observability)] -> retry (._retry) -> [write safety (._write_safety)]
      -> one attempt: throttle slot (._limits) -> exchange (._transport) -> decode (._converter)
```

Options are checked by `._config`; bulk runs (`._bulk`) get a send function.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from . import _bulk
from . import _config as config
from . import _endpoints as ep
from ._bulk import BulkRows, BulkRun, NewSignupRequest, NewSpecificActionRequest
from ._cache import MISS, CacheConfig, read_key
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
)
from ._converter import decode
from ._deadline import Deadline, current_deadline, deadline_scope, within
from ._drift import DriftRecorder
from ._errors import (
    ClientStateError,
    IReferError,
    RateLimitedError,
)
from ._limits import Limiter, RateLimit, Throttle, build_limiter
from ._models import (
    CampaignStats,
    LeadSource,
    NewSignup,
    NewSpecificAction,
    Referrer,
    ReferrerStats,
    SpecificActionSignup,
    TriggeredReward,
)
from ._observability import (
    CallTrace,
    EventHooks,
    GetJson,
    Send,
    build_event_hooks,
    stamp_error,
    start_call,
)
from ._redact import REGISTRY, Redactor, install_log_filter
from ._retry import RetryConfig, call_with_retry
from ._settle import ListScanner
from ._sharing import SingleFlight, fresh_reads, must_be_fresh, note_sent
from ._stack import HttpStack
from ._stream import (
    AttemptLayer,
    ListStream,
    read_list,
)
from ._transport import Sender
from ._write_safety import Reconciliation, WriteState, guarded_write

if TYPE_CHECKING:
    # httpx2 is an optional extra (irefer-async[httpx2]): imported for its types only.
    from httpx2 import AsyncBaseTransport as Httpx2Transport
    from httpx2 import AsyncClient as Httpx2AsyncClient
    from httpx2 import Timeout as Httpx2Timeout

    from ._probe import ProbeReport

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "IReferClient",
]

C = TypeVar("C", bound="IReferClient")
T = TypeVar("T")


def _list_model(endpoint: ep.Endpoint[Any]) -> type[Any] | None:
    """Return the item model of a list endpoint (``tuple[Model, ...]``), or None."""
    result: Any = endpoint.result
    if getattr(result, "__origin__", None) is tuple:
        return result.__args__[0]  # type: ignore[no-any-return]
    return None


def _stamp_failure(error: IReferError | None) -> None:
    if error is not None:
        stamp_error(error)


def _stamp(result: object, when: dt.datetime) -> None:
    """Set ``fetched_at`` on a result, or on every row of a list result (frozen: set once)."""
    if type(result) is tuple:
        for row in result:
            object.__setattr__(row, "fetched_at", when)
    elif result is not None:
        object.__setattr__(result, "fetched_at", when)


class IReferClient:
    """An asyncio session with the iRefer API.

    Open it with ``async with`` (or call `aclose` when done) and share one client
    across your application: it owns a connection pool, a rate limiter and a concurrency
    cap that every call goes through.

    For example:

    ```python
    async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
        stats = await client.referrer_stats("ann@example.com")
        print(stats.referrals_made, stats.reward_next)
    ```

    Args:
        license_key: ``W4qL`` + 28 characters; defaults to ``$IREFER_LICENSE_KEY``.
        api_key: the campaign's API key; defaults to ``$IREFER_API_KEY``.
        campaign_id: default campaign for every call (each call may override it); defaults
            to ``$IREFER_CAMPAIGN_ID``.
        base_url: API root; defaults to ``$IREFER_BASE_URL`` or ``https://api.irefer.io/v1.0/``.
        timeout: seconds, or an ``httpx.Timeout`` (default 10 s, 5 s to connect).
        retry: a `RetryConfig`, or None for a single attempt per call.
        rate_limit: requests per second, a `RateLimit`, any `Limiter`, or None
            for no limit (default 5/s).
        max_concurrency: requests in flight at once, or None for no cap (default 4).
        http_client: an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` to use; the SDK sends
            through its ``get`` (your hooks, auth and proxies apply), never changes it and
            never closes it.
        transport: a transport for the client the SDK builds (not with ``http_client``),
            or ``"aiohttp"`` to send with aiohttp, several times the throughput at 64 in
            flight (needs the ``irefer-async[aiohttp]`` extra; its pool is sized by
            ``max_concurrency``; httpx stack only).
        http_stack: ``"httpx"`` (the default) or ``"httpx2"`` (Pydantic's maintained fork,
            the ``irefer-async[httpx2]`` extra) for the client the SDK builds; taken from
            ``http_client``/``transport`` when one is given.
        event_hooks: ``{"request": [...], "response": [...], "retry": [...]}``: functions or
            coroutine functions called with a `CallEvent` for every attempt (metrics,
            raw response status and headers, the queue and the wait for a slot); see
            `irefer_async._observability`.
        share_reads: identical reads in flight at once (same method, campaign and
            parameters) share one HTTP exchange and its answer or error (default True;
            writes never share).
        cache: a `CacheConfig` to answer repeated reads from memory for a few
            seconds, invalidated by this client's writes; None (the default) for no cache.
        max_waiting: most calls waiting for a slot at once; a call beyond it fails at once
            with `QueueFullError` (default None: bounded only by the deadline).
        record_drift: count, as answers are decoded, where they differ from the models
            (unknown and missing fields, quirk conversions); read them from `drift`.

    Waiting for a slot counts against the call's deadline (``retry.deadline``): a call
    that cannot be sent in time fails fast with `DeadlineExceededError`
    (``sent=False``), so a busy service degrades instead of queueing without bound.

    """

    def __init__(
        self,
        license_key: str | None = None,
        api_key: str | None = None,
        *,
        campaign_id: int | str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | Httpx2Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryConfig | None = DEFAULT_RETRY,
        rate_limit: float | RateLimit | Limiter | None = DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        http_client: httpx.AsyncClient | Httpx2AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Httpx2Transport | Literal["aiohttp"] | None = None,
        event_hooks: EventHooks | None = None,
        share_reads: bool = True,
        cache: CacheConfig | None = None,
        max_waiting: int | None = None,
        record_drift: bool = False,
        http_stack: HttpStack | None = None,
    ) -> None:
        license_key = config.license_key(license_key)
        api_key = config.api_key(api_key)
        self._campaign_id = config.default_campaign(campaign_id)
        self._base_url = config.base_url(base_url)
        self._retry = config.retry(retry)
        self._max_pause = (retry or DEFAULT_RETRY).wait_max
        self._deadline = config.deadline(self._retry)
        self._settle = (retry or DEFAULT_RETRY).settle
        concurrency = config.concurrency(max_concurrency)
        self._max_concurrency = concurrency
        self._throttle = Throttle(
            build_limiter(rate_limit), concurrency, max_waiting=config.max_waiting(max_waiting)
        )
        self._flights = SingleFlight() if config.share_reads(share_reads) else None
        self._cache = config.read_cache(cache)
        stack = config.http_stack(http_stack, http_client, transport)
        if http_client is None:
            http_client = config.build_http_client(
                stack, config.timeout(timeout), concurrency, transport
            )
            self._owns_http = True
        else:
            self._owns_http = False
        # Never changed: an injected client comes back exactly as it was given.
        self._http = http_client
        self._event_hooks = build_event_hooks(event_hooks)
        self._redactor = Redactor(license_key, api_key)
        self._drift = DriftRecorder(self._redactor.redact) if record_drift else None
        install_log_filter()
        REGISTRY.add(self._redactor)
        self._sender = Sender(
            http_client,
            base_url=self._base_url,
            license_key=license_key,
            api_key=api_key,
            redactor=self._redactor,
            # The SDK's own client: requests go to its transport directly (see Sender).
            direct=self._owns_http,
        )
        # Write safety: the shared reconciling scans and their verdicts (_write_safety.py).
        self._writes = Reconciliation(
            ListScanner(
                self._sender,
                self._throttle,
                self._retry,
                max_pause=self._max_pause,
                event_hooks=self._event_hooks,
                deadline=self._deadline,
                check_usable=self._check_usable,
            ),
            lambda email, campaign: self.referrer_stats(email, campaign_id=campaign),
            deadline=self._deadline,
        )
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def campaign_id(self) -> int | None:
        """The default campaign id, or None."""
        return None if self._campaign_id is None else int(self._campaign_id)

    @property
    def max_concurrency(self) -> int | None:
        """The cap on requests in flight, or None when there is none."""
        return self._max_concurrency

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot right now: the client's queue (a gauge to alert on)."""
        return self._throttle.waiting

    @property
    def cache(self) -> CacheConfig | None:
        """The read cache's configuration, or None when there is no cache."""
        return None if self._cache is None else self._cache.config

    @property
    def drift(self) -> DriftRecorder | None:
        """What decoding counted so far (``record_drift=True``), or None when not recording."""
        return self._drift

    @property
    def is_closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._closed

    async def __aenter__(self: C) -> C:
        self._check_usable()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and the HTTP client it built (never an injected one). Idempotent."""
        if self._closed:
            return
        self._closed = True
        # Shared reconciling scans end with the client (before its secrets leave the registry).
        await self._writes.aclose()
        REGISTRY.remove(self._redactor)
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<IReferClient campaign_id={self.campaign_id} base_url={self._base_url!r} "
            f"license_key='{config.LICENSE_PREFIX}***' api_key='***' {state}>"
        )

    def _check_usable(self) -> None:
        if self._closed:
            raise ClientStateError("this IReferClient is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ClientStateError(
                "this IReferClient is bound to another event loop; create one client per loop"
            )

    # -- the funnel ---------------------------------------------------------------------

    async def _call(
        self, endpoint: ep.Endpoint[T], campaign_id: int | str | None, /, **values: object
    ) -> T:
        """Validate a call's arguments, then run it through the layers; returns ``T``."""
        campaign = (
            self._campaign_id
            if campaign_id is None
            else ep.check_campaign_id(campaign_id, method=endpoint.name)
        )
        params = ep.build_params(endpoint, campaign, values)
        self._check_usable()
        # One deadline for the whole call, queue included (read by the throttle).
        with deadline_scope(Deadline.after(self._deadline)):
            if endpoint.write:
                return await self._write(endpoint, campaign, params)
            if (self._flights is None and self._cache is None) or must_be_fresh():
                return await self._pipeline(endpoint, campaign, params)
            return await self._shared_read(endpoint, campaign, params)

    async def _shared_read(
        self, endpoint: ep.Endpoint[T], campaign: str | None, params: dict[str, str]
    ) -> T:
        """Answer a read from the cache, or from the request in flight for it, or a new one."""
        key = read_key(endpoint.name, params)
        cache = self._cache
        if cache is not None and cache.caches(endpoint.name):
            hit = cache.get(key)
            if hit is not MISS:
                return hit  # type: ignore[no-any-return]
            generation = cache.generation(campaign)

            async def fetch() -> T:
                result = await self._pipeline(endpoint, campaign, params)
                cache.put(key, result, generation)
                return result

        else:
            fetch = partial(self._pipeline, endpoint, campaign, params)  # no extra frame

        if self._flights is None:
            return await fetch()
        return await self._flights.run(key, fetch, endpoint.name)

    async def _write(
        self, endpoint: ep.Endpoint[T], campaign: str | None, params: dict[str, str]
    ) -> T:
        """Send a write; its reconciling reads are fresh; the cache forgets what it may change."""
        result = None
        try:
            with fresh_reads():
                result = await self._pipeline(endpoint, campaign, params)
        finally:
            # Landed, failed or unknown: what the write may have changed is stale now.
            if self._flights is not None:
                self._flights.forget(lambda key: key[1] == campaign)  # type: ignore[index]
            if self._cache is not None:
                self._cache.after_write(
                    campaign,
                    email=params.get("email"),
                    referrer_code=params.get("referrer_code"),
                    referrer_email=getattr(result, "referrer", None),
                )
        return result

    async def _pipeline(
        self, endpoint: ep.Endpoint[T], campaign: str | None, params: dict[str, str]
    ) -> T:
        """Run the call on the wire (bare or observed, retried, write-safe); stamp `fetched_at`."""
        # None for a read nobody observes (no hook, logger quiet at INFO): the fast path,
        # the bare pipeline with no observability layer.
        trace = start_call(self._event_hooks, endpoint.name, campaign, endpoint.write)
        if trace is None:
            try:
                result = await call_with_retry(
                    partial(self._attempt, endpoint, params, self._exchange(endpoint)),
                    self._retry,
                )
            except IReferError as exc:
                stamp_error(exc)
                raise
        else:
            trace.queue_length = self._queue_length
            result = await trace.observe(self._observed(endpoint, campaign, params, trace))
        _stamp(result, dt.datetime.now(dt.timezone.utc))
        return result

    def _queue_length(self) -> int:
        return self._throttle.waiting

    def _observed(
        self,
        endpoint: ep.Endpoint[T],
        campaign: str | None,
        params: dict[str, str],
        trace: CallTrace,
    ) -> Awaitable[T]:
        """Build the retry layer over observed attempts (for a write, write safety between)."""
        get_json = self._exchange(endpoint)

        def attempt() -> Awaitable[T]:
            return trace.attempt(partial(self._attempt, endpoint, params), get_json)

        spec = endpoint.reconcile
        if spec is None:
            return call_with_retry(attempt, self._retry)
        state = WriteState()
        # The reconciling read runs under the write's correlation id.
        reconcile = trace.reconciling(self._writes.reconciler(endpoint, campaign, params, state))
        return call_with_retry(
            lambda: guarded_write(
                attempt,
                reconcile,
                method=endpoint.name,
                params=params,
                state=state,
                settle=self._settle,
                check_refusal=endpoint is ep.NEW_SIGNUP,
            ),
            self._retry,
        )

    async def _attempt(self, endpoint: ep.Endpoint[T], params: dict[str, str], send: Send) -> T:
        """One HTTP attempt: take a throttle slot, exchange (``send``), decode."""
        throttle = self._throttle
        # Never past the call's deadline: DeadlineExceededError(sent=False) or QueueFullError.
        await throttle.acquire(endpoint.name)
        try:
            if self._flights is not None:
                note_sent()
            deadline = current_deadline()
            if deadline is None or math.isinf(deadline.at):
                data = await send(endpoint.name, params)
            else:  # the whole exchange, a body trickling in included
                data = await within(deadline, lambda: send(endpoint.name, params), endpoint.name)
        except RateLimitedError as exc:
            if exc.retry_after:
                # Every call of this client waits; capped so one header cannot stall it.
                throttle.pause(min(exc.retry_after, self._max_pause))
            raise
        finally:
            throttle.release()
        if _list_model(endpoint) is not None:
            return data  # type: ignore[no-any-return] # decoded as it arrived (_read_list)
        result: T = decode(data, endpoint.result, method=endpoint.name, drift=self._drift)
        return result

    def _exchange(self, endpoint: ep.Endpoint[Any]) -> GetJson:
        """Return the exchange of one attempt: JSON, or for a list its items read as they arrive."""
        model = _list_model(endpoint)
        if model is None:
            return self._sender.get_json
        return partial(self._read_list, model)

    async def _read_list(
        self,
        model: type[Any],
        method: str,
        params: dict[str, str],
        seen: Callable[[httpx.Response], None] | None = None,
        /,
    ) -> tuple[Any, ...]:
        # A list is decoded as it arrives: never whole in memory, never a long block of
        # the event loop (see _stream.read_list).
        body = await self._sender.open_list(method, params, seen)
        return await read_list(body, model, self._drift)

    def _read(
        self, endpoint: ep.Endpoint[T], campaign: str | None, args: Mapping[str, str], /
    ) -> Awaitable[T]:
        """Run a read through the funnel (a `Read`: reconciling reads)."""
        return self._call(endpoint, campaign, **args)

    # -- the seven endpoints -----------------------------------------------------------

    async def referrer_stats(
        self, email: str, *, campaign_id: int | str | None = None
    ) -> ReferrerStats:
        """Get a participant's referrals and rewards (``referrerStats``).

        Raises `APIError` if the campaign has no participant with this email.
        """
        return await self._call(ep.REFERRER_STATS, campaign_id, email=email)

    async def campaign_stats(self, *, campaign_id: int | str | None = None) -> CampaignStats:
        """Get the campaign's views, signups, conversion and referrals (``campaignStats``)."""
        return await self._call(ep.CAMPAIGN_STATS, campaign_id)

    async def new_signup(
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

        ``source`` is the lead source (``"t"``, ``"f"``, ``"l"``, ``"w"``, ``"e"`` or a
        `LeadSource`); ``referrer_code`` credits the referrer who shared the link.
        Parameters left as None are not sent.
        """
        return await self._call(
            ep.NEW_SIGNUP, campaign_id, email=email, name=name, phone=phone, info_1=info_1,
            info_2=info_2, info_3=info_3, info_4=info_4, info_5=info_5, source=source,
            referrer_code=referrer_code,
        )  # fmt: skip

    async def new_specific_action(
        self,
        external_id: str,
        *,
        action: str,
        referrer_code: str,
        campaign_id: int | str | None = None,
    ) -> NewSpecificAction:
        """Record that a referred person completed a specific action (``newSpecificAction``).

        ``action`` must match a specific-action page of the campaign (e.g. ``"/dashboard"``).
        A write, never resent blindly.
        """
        return await self._call(
            ep.NEW_SPECIFIC_ACTION, campaign_id, external_id=external_id, action=action,
            referrer_code=referrer_code,
        )  # fmt: skip

    async def referrers(self, *, campaign_id: int | str | None = None) -> tuple[Referrer, ...]:
        """List every participant of the campaign (``referrers``)."""
        return await self._call(ep.REFERRERS, campaign_id)

    async def rewards(self, *, campaign_id: int | str | None = None) -> tuple[TriggeredReward, ...]:
        """List every reward triggered in the campaign (``rewards``)."""
        return await self._call(ep.REWARDS, campaign_id)

    async def specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> tuple[SpecificActionSignup, ...]:
        """List every specific action credited in the campaign (``specificActionSignups``)."""
        return await self._call(ep.SPECIFIC_ACTION_SIGNUPS, campaign_id)

    # -- streamed lists ----------------------------------------------------------------

    def iter_referrers(self, *, campaign_id: int | str | None = None) -> ListStream[Referrer]:
        """Stream every participant of the campaign (``referrers``), one by one.

        Bounded memory whatever the campaign's size; see `ListStream`:

        ```python
        async with client.iter_referrers() as referrers:
            async for referrer in referrers:
                ...
        ```
        """
        return self._stream_list(ep.REFERRERS, Referrer, campaign_id)

    def iter_rewards(self, *, campaign_id: int | str | None = None) -> ListStream[TriggeredReward]:
        """Stream every reward triggered in the campaign (``rewards``); see `ListStream`."""
        return self._stream_list(ep.REWARDS, TriggeredReward, campaign_id)

    def iter_specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> ListStream[SpecificActionSignup]:
        """Stream every specific action of the campaign (``specificActionSignups``)."""
        return self._stream_list(ep.SPECIFIC_ACTION_SIGNUPS, SpecificActionSignup, campaign_id)

    def _stream_list(
        self, endpoint: ep.Endpoint[Any], model: type[T], campaign_id: int | str | None
    ) -> ListStream[T]:
        """Return a list endpoint as a stream: the checks, layers and slots of `_call`."""
        campaign = (
            self._campaign_id
            if campaign_id is None
            else ep.check_campaign_id(campaign_id, method=endpoint.name)
        )
        params = ep.build_params(endpoint, campaign, {})  # bad input raises here, unsent
        open_list = self._sender.open_list

        def begin() -> tuple[AttemptLayer, Callable[[IReferError | None], None]]:
            # On the first __anext__: the call starts (and is observed) when it is sent.
            self._check_usable()
            trace = start_call(self._event_hooks, endpoint.name, campaign, False)
            if trace is None:
                return (lambda run: run(open_list)), _stamp_failure
            return (lambda run: trace.attempt(run, open_list)), trace.end

        return ListStream(
            method=endpoint.name,
            model=model,
            params=params,
            begin=begin,
            throttle=self._throttle,
            retry=self._retry,
            max_pause=self._max_pause,
            drift=self._drift,
            deadline=self._deadline,
        )

    # -- writes sent earlier ------------------------------------------------------------

    @overload
    async def find_landed(
        self, request: NewSignupRequest, *, sent_at: float
    ) -> NewSignup | None: ...
    @overload
    async def find_landed(
        self, request: NewSpecificActionRequest, *, sent_at: float
    ) -> NewSpecificAction | None: ...
    async def find_landed(
        self, request: NewSignupRequest | NewSpecificActionRequest, *, sent_at: float
    ) -> NewSignup | NewSpecificAction | None:
        """Tell whether a write sent earlier (say, by a run that was stopped) landed.

        ``sent_at``: when it was last sent, on the wall clock (``time.time()``). Looks the
        write up in the list the API shows it in, once the settle window
        (``RetryConfig.settle``) after ``sent_at`` has passed: returns its reconciled result
        (``reconciled=True``) if it landed, None if it provably did not (resend it). A
        participant credited to another referrer than the ``referrer_code`` sent is someone
        else's signup: None (a resend gets the API's own answer). Calls made at once share
        one scan per list and campaign. Raises an `IReferError` when it cannot tell within
        the call's deadline: report the write as of unknown outcome, never resend it.
        """
        if isinstance(request, NewSignupRequest):
            endpoint: ep.Endpoint[Any] = ep.NEW_SIGNUP
        elif isinstance(request, NewSpecificActionRequest):
            endpoint = ep.NEW_SPECIFIC_ACTION
        else:
            raise TypeError(
                "find_landed takes a NewSignupRequest or NewSpecificActionRequest, "
                f"not {type(request).__name__}"
            )
        campaign = (
            self._campaign_id
            if request.campaign_id is None
            else ep.check_campaign_id(request.campaign_id, method=endpoint.name)
        )
        values = {name: getattr(request, name) for name in endpoint.param_names}
        params = ep.check_params(endpoint, values)
        self._check_usable()
        not_before = self._writes.not_before(sent_at, self._settle)
        result: NewSignup | NewSpecificAction | None = await self._writes.settled(
            endpoint, campaign, params, not_before
        )
        return result

    # -- readiness ---------------------------------------------------------------------

    async def probe(self, *, network: bool = True, write_probe: str | None = None) -> ProbeReport:
        """Check this client's account: network, credentials, every read endpoint, drift.

        What ``irefer doctor`` runs (see `irefer_async._probe`), as a typed report, for a
        readiness check. Reads only, unless ``write_probe`` (an email) asks for one signup.
        ``network=False`` leaves out the DNS/TCP/TLS checks (for a client whose transport
        does not use the network, or a host behind something they cannot see):

        ```python
        report = await client.probe()
        if not report.ok:
            raise RuntimeError(report.first_failure)
        ```
        """
        from ._probe import probe_client  # noqa: PLC0415 - only readiness checks need it

        self._check_usable()
        return await probe_client(self, network=network, write_probe=write_probe)

    # -- bulk --------------------------------------------------------------------------

    def bulk_new_signups(
        self,
        rows: BulkRows[NewSignupRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> BulkRun[NewSignupRequest, NewSignup]:
        """Submit any number of signups (requests or dicts), streamed, one outcome per row.

        ``rows`` is a sync or async iterable, read lazily by ``concurrency`` workers (default:
        ``max_concurrency``, or 16 without a cap); ``ordered=True`` yields in input order.
        Every row goes through `new_signup`; a failing row never stops the others:

        ```python
        async with client.bulk_new_signups(rows) as run:
            async for outcome in run:
                print(outcome.index, outcome.status, outcome.error)
        print(run.summary)
        ```
        """
        return _bulk.new_signups(
            self._bulk_sender(ep.NEW_SIGNUP),
            rows,
            concurrency=self._bulk_concurrency(concurrency),
            ordered=ordered,
        )

    def bulk_new_specific_actions(
        self,
        rows: BulkRows[NewSpecificActionRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> BulkRun[NewSpecificActionRequest, NewSpecificAction]:
        """Submit any number of specific actions, streamed; see `bulk_new_signups`."""
        return _bulk.new_specific_actions(
            self._bulk_sender(ep.NEW_SPECIFIC_ACTION),
            rows,
            concurrency=self._bulk_concurrency(concurrency),
            ordered=ordered,
        )

    def _bulk_concurrency(self, concurrency: int | None) -> int:
        if concurrency is not None:
            return concurrency
        cap = self._max_concurrency
        return cap if cap is not None else _bulk.DEFAULT_BULK_CONCURRENCY

    def _bulk_sender(self, endpoint: ep.Endpoint[T]) -> Callable[[_bulk.Request], Awaitable[T]]:
        """Return a bulk run's send function: one request object through the funnel."""
        call = self._call
        names = endpoint.param_names

        def send(request: _bulk.Request) -> Awaitable[T]:
            return call(
                endpoint, request.campaign_id, **{name: getattr(request, name) for name in names}
            )

        return send
