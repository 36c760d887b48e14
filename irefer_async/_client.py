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
import contextlib
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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
from ._deadline import Deadline, current_deadline, deadline_scope
from ._errors import (
    ClientStateError,
    DeadlineExceededError,
    DuplicateSignupError,
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
    referral_code_of,
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
from ._settle import Board, Scan, Sighting, parse_row_time
from ._sharing import SingleFlight, fresh_reads, must_be_fresh, note_sent
from ._stack import HttpStack
from ._stream import (
    ArraySplitter,
    AttemptLayer,
    ListStream,
    OpenList,
    RowMatcher,
    match_body,
    read_list,
    scan_body,
)
from ._transport import ListBody, Sender, parse_http_date
from ._write_safety import WriteState, guarded_write

if TYPE_CHECKING:
    # httpx2 is an optional extra (irefer-async[httpx2]): imported for its types only.
    from httpx2 import AsyncBaseTransport as Httpx2Transport
    from httpx2 import AsyncClient as Httpx2AsyncClient
    from httpx2 import Timeout as Httpx2Timeout

    from .doctor import DriftRecorder, ProbeReport

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

#: Seconds of doubt when dating a found participant against the write: ``created_at`` and
#: the ``Date`` header both have a resolution of one second.
_CLOCK_SLACK = 2.0
#: ``asyncio.timeout_at`` (3.11+) bounds an await with one timer; 3.10 falls back to wait_for.
_timeout_at = getattr(asyncio, "timeout_at", None)


async def _within(deadline: Deadline, exchange: Callable[[], Awaitable[T]], method: str) -> T:
    """Run one HTTP exchange, cut when the call's deadline passes (a trickling body included)."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise DeadlineExceededError(
            f"{method}: the call's deadline ({deadline.budget:g}s) passed before sending",
            method=method,
            sent=False,
        )
    try:
        if _timeout_at is not None:
            async with _timeout_at(deadline.at):
                return await exchange()
        return await asyncio.wait_for(exchange(), remaining)
    except asyncio.TimeoutError:
        pass
    raise DeadlineExceededError(
        f"{method}: the call's deadline ({deadline.budget:g}s) passed during the exchange",
        method=method,
        sent=True,
    )


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
        # Shared reconciling reads, one board per (list endpoint, campaign): see _settle.py.
        self._boards: dict[tuple[str, str | None], Board] = {}
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
        self._drift: DriftRecorder | None = None
        if record_drift:  # the doctor's recorder, imported only when asked for
            from .doctor import DriftRecorder  # noqa: PLC0415

            self._drift = DriftRecorder(self._redactor.redact)
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

    # -- public views for tools built on the client (the doctor, the CLI) ---------------

    @property
    def base_url(self) -> str:
        """The API root requests go to, ending in ``/`` (holds no key: keys are parameters)."""
        return self._base_url

    def redact(self, text: str) -> str:
        """Return ``text`` with this client's keys masked (raw and URL-encoded forms)."""
        return self._redactor.redact(text)

    def quote(self, text: str, limit: int) -> str:
        """Redact ``text`` (keys and any 6-character fragment of one), then cut it to ``limit``."""
        return self._redactor.quote(text, limit)

    async def raw_read(self, endpoint: ep.Endpoint[Any], values: Mapping[str, object]) -> Any:
        """Send one read once, through the client's throttle, and return its response as is.

        ``endpoint`` is a read of `irefer_async.endpoints` (``CAMPAIGN_STATS``...), ``values``
        its parameters, checked as the method checks them (the client's campaign id applies).
        Nothing is retried, cached, shared or decoded, and the HTTP status is not judged: the
        answer is an ``httpx.Response`` (or httpx2's) whatever its status, for a tool that
        wants to see it (``irefer doctor``). A failed exchange raises the SDK's
        `TransportError` (keys redacted); `read_json` then judges the response.
        """
        from ._errors import InvalidRequestError  # noqa: PLC0415 - this block adds no import line

        self._check_usable()
        if endpoint.write:
            raise InvalidRequestError(f"raw_read sends reads only, not {endpoint.name}")
        params = ep.build_params(endpoint, self._campaign_id, values)
        async with self._throttle:
            return await self._sender.fetch(endpoint.name, params)

    def read_json(self, method: str, response: Any) -> Any:
        """Return the parsed JSON of a `raw_read` response, or raise what the method would.

        The client's own judgement of an answer: `HTTPStatusError` (404, other non-2xx),
        `RateLimitedError` (429), `ServerError` (5xx), the API's error bodies as their
        errors, `MalformedResponseError`/`EmptyResponseError` for a body that is no JSON.
        """
        return self._sender._read(method, response)

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
        for board in self._boards.values():
            await board.aclose()
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
        reconcile = trace.reconciling(self._reconciler(endpoint, campaign, params, state))
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
                data = await _within(deadline, lambda: send(endpoint.name, params), endpoint.name)
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

    # -- shared reconciling reads (see _settle.py and _write_safety.py) ------------------

    def _reconciler(
        self,
        endpoint: ep.Endpoint[Any],
        campaign: str | None,
        params: dict[str, str],
        state: WriteState,
    ) -> Callable[[float, bool], Awaitable[Any]]:
        if endpoint is ep.NEW_SIGNUP:
            return lambda not_before, refused: self._signup_landed(
                campaign, params, state, not_before, refused=refused
            )
        return lambda not_before, _: self._action_landed(campaign, params, not_before)

    def _board(self, write: ep.Endpoint[Any], campaign: str | None) -> Board:
        """Return the shared settle scans of the list the table says a write is found in."""
        spec = write.reconcile
        assert spec is not None, write.name
        scan = spec.scan
        board = self._boards.get((scan.name, campaign))
        if board is None:
            # Key kind _WRITE: the write's own row, as the table declares it; a signup's
            # board also finds a referrer by its code (_BY_CODE) in the same scan.
            kinds = [partial(RowMatcher, spec.fields, casefold=spec.casefold)]
            if write is ep.NEW_SIGNUP:
                kinds.append(_REFERRER_BY_CODE)
            board = Board(partial(self._settle_scan, scan, campaign), tuple(kinds))
            self._boards[scan.name, campaign] = board
        return board

    async def _settle_scan(
        self, endpoint: ep.Endpoint[Any], campaign: str | None, scan: Scan
    ) -> None:
        """One shared, streamed scan of a list for a board: only the targets' rows are kept.

        Notes the server's clock (``Date``) against the loop's as each answer arrives.
        """
        loop = asyncio.get_running_loop()

        async def read(body: ListBody) -> None:
            scan.dated(parse_http_date(body.date), loop.time())
            splitter = ArraySplitter(body.method)
            try:
                await match_body(body, scan.matchers, splitter)
            finally:
                scan.rows += splitter.count

        # Traced as a read of its own; it runs under the id of the write that started it.
        # Shared by many calls: its own budget, whichever call's task started the scan.
        await self._list_scan(endpoint, campaign, read, detached=True)

    async def _settled(
        self,
        endpoint: ep.Endpoint[T],
        campaign: str | None,
        params: dict[str, str],
        not_before: float,
    ) -> T | None:
        """Whether a write sent earlier (the CLI's ``--resume``) landed, by the shared scans.

        ``not_before``: the loop time from which a scan may prove "not landed". A row found is
        taken as landed (the earlier attempt's send time is unknown, so it is not dated),
        unless it is credited to another referrer than the ``referrer_code`` sent: then it is
        someone else's row, and None lets the resumed run send it for the API's own answer (a
        refusal: the email is taken).
        """
        campaign = self._campaign_id if campaign is None else campaign
        with deadline_scope(Deadline.after(self._deadline)):
            if endpoint is ep.NEW_SIGNUP:
                state = WriteState()
                state.first_sent = -math.inf  # found = landed
                result: Any = None
                with contextlib.suppress(DuplicateSignupError):
                    result = await self._signup_landed(
                        campaign, params, state, not_before, refused=False
                    )
            else:
                result = await self._action_landed(campaign, params, not_before)
        return result  # type: ignore[no-any-return]

    async def _signup_landed(
        self,
        campaign: str | None,
        params: dict[str, str],
        state: WriteState,
        not_before: float,
        *,
        refused: bool,
    ) -> NewSignup | None:
        email = params["email"]
        code = params.get("referrer_code")
        # The referrer the code names is looked for in the same scan (its row, by code).
        by_code = (_BY_CODE, (code,)) if code else None
        spec = ep.NEW_SIGNUP.reconcile
        assert spec is not None
        sighting = await self._board(ep.NEW_SIGNUP, campaign).lookup(
            (_WRITE, spec.target(params)), not_before, () if by_code is None else (by_code,)
        )
        if sighting is None:
            return None
        created = parse_row_time(sighting.row.get("created_at"))
        first_sent = state.first_sent if state.first_sent is not None else sighting.loop_time
        existed = refused or (
            created is not None and created + _CLOCK_SLACK <= sighting.server_time_at(first_sent)
        )
        if not existed and by_code is not None:
            # Created now, but by this write only if credited to the referrer it named: a
            # row credited to another (or to nobody) is someone else's signup, which the API
            # would have refused this one for. A code no row carries names nobody.
            referrer = sighting.related.get(by_code)
            named = None if referrer is None else referrer.get("email")
            existed = not _same_email(sighting.row.get("referrer_email"), named)
        if existed:
            raise _duplicate(params, sighting, created)
        return await self._landed_signup(campaign, email, sighting)

    async def _landed_signup(
        self, campaign: str | None, email: str, sighting: Sighting
    ) -> NewSignup:
        """Build the reconciled result: ``referrerStats`` fills what a ``referrers`` row lacks."""
        try:
            stats = await self.referrer_stats(email, campaign_id=campaign)
        except IReferError:
            row = sighting.row
            code = row.get("referral_link")
            return NewSignup(
                campaign_name="",
                email=str(row.get("email") or email),
                confirmed=False,
                referral_link=code if isinstance(code, str) else "",
                referrer=row.get("referrer_email") or None,
                reconciled=True,
                raw=row,
            )
        return ep.signup_from_stats(stats, sighting.row.get("referrer_email") or None)

    async def _action_landed(
        self, campaign: str | None, params: dict[str, str], not_before: float
    ) -> NewSpecificAction | None:
        external_id = params["external_id"]
        spec = ep.NEW_SPECIFIC_ACTION.reconcile
        assert spec is not None
        board = self._board(ep.NEW_SPECIFIC_ACTION, campaign)
        sighting = await board.lookup((_WRITE, spec.target(params)), not_before)
        if sighting is None:
            return None
        return NewSpecificAction(
            campaign_name=None, external_id=external_id, reconciled=True, raw=sighting.row
        )

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

    async def _scan_rows(
        self, endpoint: ep.Endpoint[Any], campaign: str | None, matcher: RowMatcher
    ) -> dict[tuple[str, ...], Mapping[str, Any]]:
        """Run one matching scan of a list endpoint as a read (for reconciling many writes).

        The same checks, retries, throttle slot and observability as any read; returns
        ``matcher.found`` (target -> the first matching row's JSON object), building no model.
        Targets found by an attempt that then failed stay found (the rows existed).
        """
        ep.build_params(endpoint, campaign, {})  # bad input raises here, unsent
        self._check_usable()
        if not matcher.pending:
            return matcher.found
        return await self._list_scan(
            endpoint, campaign, partial(scan_body, matcher=matcher), detached=False
        )

    async def _list_scan(
        self,
        endpoint: ep.Endpoint[Any],
        campaign: str | None,
        read: Callable[[ListBody], Awaitable[T]],
        *,
        detached: bool,
    ) -> T:
        """Open a list body and ``read`` it, as a read: retried, throttled, observed.

        Each attempt (the body's last byte included) is cut at the deadline of the scan's own
        scope (``detached``: not the calling write's, when the scan is shared by many).
        """
        params = ep.build_params(endpoint, campaign, {})
        self._check_usable()
        method = endpoint.name
        throttle = self._throttle

        async def run(send: OpenList) -> T:
            async def exchange() -> T:
                return await read(await send(method, params))

            deadline = current_deadline()
            await throttle.acquire(method)
            try:
                if deadline is None or math.isinf(deadline.at):
                    return await exchange()
                return await _within(deadline, exchange, method)
            except RateLimitedError as exc:
                if exc.retry_after:
                    throttle.pause(min(exc.retry_after, self._max_pause))
                raise
            finally:
                throttle.release()

        open_list = self._sender.open_list
        with deadline_scope(Deadline.after(self._deadline), detached=detached):
            trace = start_call(self._event_hooks, method, campaign, False)
            if trace is None:
                try:
                    return await call_with_retry(lambda: run(open_list), self._retry)
                except IReferError as exc:
                    stamp_error(exc)
                    raise
            result: T = await trace.observe(
                call_with_retry(lambda: trace.attempt(run, open_list), self._retry)
            )
            return result

    # -- readiness ---------------------------------------------------------------------

    async def probe(self, *, network: bool = True, write_probe: str | None = None) -> ProbeReport:
        """Check this client's account: network, credentials, every read endpoint, drift.

        What ``irefer doctor`` runs (see `irefer_async.doctor`), as a typed report, for a
        readiness check. Reads only, unless ``write_probe`` (an email) asks for one signup.
        ``network=False`` leaves out the DNS/TCP/TLS checks (for a client whose transport
        does not use the network, or a host behind something they cannot see):

        ```python
        report = await client.probe()
        if not report.ok:
            raise RuntimeError(report.first_failure)
        ```
        """
        from .doctor import probe_client  # noqa: PLC0415 - only readiness checks need it

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


#: The kinds of key of a board: the write's own row (as the endpoint table declares it); on
#: the ``referrers`` board also a referrer by its code.
_WRITE, _BY_CODE = 0, 1
#: ``referrers`` rows carry the bare code in ``referral_link``; a server sending the link is
#: read too.
_REFERRER_BY_CODE = partial(
    RowMatcher, ("referral_link",), convert={"referral_link": referral_code_of}
)


def _same_email(a: object, b: object) -> bool:
    """Whether two row values name the same participant (None or "" for nobody)."""
    a = a.casefold() if isinstance(a, str) and a else None
    b = b.casefold() if isinstance(b, str) and b else None
    return a == b


def _duplicate(
    params: dict[str, str], sighting: Sighting, created: float | None
) -> DuplicateSignupError:
    referrer = sighting.row.get("referrer_email")
    return DuplicateSignupError(
        email=params["email"],
        existed_since=None
        if created is None
        else dt.datetime.fromtimestamp(created, dt.timezone.utc),
        referrer_email=referrer if isinstance(referrer, str) and referrer else None,
        referrer_code=params.get("referrer_code"),
    )
