"""IReferClient: lifecycle, the seven endpoint methods and the one request loop (`_run`).

A method checks its arguments into a query (`_query`, against `._endpoints`); a read goes
through `_read` (the cache, a shared read in flight), a write through `_write` (write safety,
then what it made stale); both open the call's `Deadline` and run `_run`: attempt -> slot ->
send -> classify -> decode, retried (docs/ARCHITECTURE.md, "The request loop").
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from . import _config as config
from ._config import DEFAULT_MAX_CONCURRENCY, DEFAULT_RATE_LIMIT, DEFAULT_RETRY, DEFAULT_TIMEOUT
from ._converter import DecodeObserver, decode
from ._deadline import Deadline, deadline_scope
from ._errors import ClientStateError, InvalidRequestError, IReferError
from ._limits import Limiter, RateLimit, Throttle, build_limiter
from ._observability import (
    CallTrace,
    EventHooks,
    build_event_hooks,
    correlation_scope,
    end_call,
    start_call,
)
from ._redact import REGISTRY, Redactor, install_log_filter
from ._retry import Retries, RetryConfig
from ._sharing import LEAD, MISS, Flight, SingleFlight, read_key
from ._transport import HttpStack, Sender, Slot, Wire, proxy_for, trusts

if TYPE_CHECKING:
    # Imported on first use, not with the package; httpx2 (an optional extra) for types only.
    from httpx2 import AsyncBaseTransport as Httpx2Transport
    from httpx2 import AsyncClient as Httpx2AsyncClient
    from httpx2 import Timeout as Httpx2Timeout

    from . import _endpoints as ep  # imported by `_load_endpoint_table`, with the first client
    from . import _write_safety as ws  # imported by `_reconciliation`, with the first write
    from ._bulk import BulkRows, BulkRun, NewSignupRequest, NewSpecificActionRequest
    from ._cache import CacheConfig
    from ._models import (  # imported with the first call that needs them
        CampaignStats,
        LeadSource,
        NewSignup,
        NewSpecificAction,
        Referrer,
        ReferrerStats,
        SpecificActionSignup,
        TriggeredReward,
    )
    from ._settle import Scan
    from ._stream import ListStream, Opened, Reader
    from ._write_safety import HeldWrite, Reconciliation, WriteState

__all__ = ["IReferClient"]

C = TypeVar("C", bound="IReferClient")


def _load_endpoint_table() -> None:
    """Import the endpoint table: with the first client, not with the package."""
    global ep  # noqa: PLW0603 - the client's methods read it; no method runs before __init__
    from . import _endpoints as ep  # noqa: PLC0415


T = TypeVar("T")


class IReferClient:
    """An asyncio session with the iRefer API.

    Open it with ``async with`` (or call `aclose` when done) and share one client across your
    application: every call goes through its connection pool, rate limit and concurrency cap.

    ```python
    async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
        stats = await client.referrer_stats("ann@example.com")
        print(stats.referrals_made, stats.reward_next)
    ```

    Args:
        license_key: ``W4qL`` + 28 characters; defaults to ``$IREFER_LICENSE_KEY``.
        api_key: the campaign's API key; defaults to ``$IREFER_API_KEY``.
        campaign_id: default campaign of every call (each may override it); defaults to
            ``$IREFER_CAMPAIGN_ID``.
        base_url: API root; defaults to ``$IREFER_BASE_URL`` or ``https://api.irefer.io/v1.0/``.
        timeout: seconds, or an ``httpx.Timeout`` (default 10 s, 5 s to connect).
        retry: a `RetryConfig`, or None for a single attempt per call.
        rate_limit: requests per second, a `RateLimit`, any `Limiter`, or None (default 5/s).
        max_concurrency: requests in flight at once, or None for no cap (default 4).
        http_client: an ``httpx.AsyncClient`` or ``httpx2.AsyncClient`` to send through (your
            hooks, auth and proxies apply); never changed, never closed by the SDK.
        transport: a transport for the client the SDK builds (not with ``http_client``), or
            ``"aiohttp"`` to send with aiohttp (faster; the ``irefer-async[aiohttp]`` extra;
            its pool sized by ``max_concurrency``; httpx stack only).
        http_stack: ``"httpx"`` (default) or ``"httpx2"`` (the ``irefer-async[httpx2]``
            extra) for the client the SDK builds; taken from ``http_client``/``transport``.
        event_hooks: ``{"request": [...], "response": [...], "retry": [...]}``: functions or
            coroutine functions called with a `CallEvent` for every attempt (metrics, status
            and headers, queue and wait for a slot); see `irefer_async.hooks`.
        share_reads: identical reads in flight at once (same method, campaign, parameters)
            share one HTTP exchange and its answer or error (default True; never writes).
        cache: a `CacheConfig` answering repeated reads from memory for a few seconds,
            invalidated by this client's writes; None (the default) for no cache.
        max_waiting: most calls waiting for a slot at once; one more fails at once with
            `QueueFullError` (default None: bounded only by the deadline).
        decode_observer: a `irefer_async.decoding.DecodeObserver` shown every answer's JSON
            before it is decoded (the doctor's `DriftRecorder` counts schema drift).

    Waiting for a slot counts against the call's deadline (``retry.deadline``): a call that
    cannot be sent in time fails fast with `DeadlineExceededError` (``sent=False``), so a busy
    service degrades instead of queueing without bound.

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
        decode_observer: DecodeObserver | None = None,
        http_stack: HttpStack | None = None,
    ) -> None:
        _load_endpoint_table()
        license_key = config.license_key(license_key)
        api_key = config.api_key(api_key)
        self._campaign_id = config.default_campaign(campaign_id)
        self._base_url = config.base_url(base_url)
        self._retry = config.instance("retry", retry, RetryConfig)
        self._max_pause = (retry or DEFAULT_RETRY).wait_max
        self._deadline = config.deadline(self._retry)
        self._settle = (retry or DEFAULT_RETRY).settle
        concurrency = config.count("max_concurrency", max_concurrency, 1)
        self._max_concurrency = concurrency
        waiting = config.count("max_waiting", max_waiting, 0)
        self._throttle = Throttle(build_limiter(rate_limit), concurrency, max_waiting=waiting)
        share_reads = config.instance("share_reads", share_reads, bool, none=False)
        self._flights = SingleFlight() if share_reads else None
        self._cache = config.read_cache(cache)
        stack = config.http_stack(http_stack, http_client, transport)
        self._owns_http = http_client is None
        if http_client is None:
            http: Any = config.build_http_client(
                stack, config.timeout(timeout), concurrency, transport, self._base_url
            )
            # What the SDK built with (a transport, the aiohttp sender, or httpx's own).
            trusted = trusts(http if isinstance(transport, str) else transport)
        else:
            # Its transports cannot be seen through httpx's public API: not trusted.
            http, trusted = http_client, False
        # Never changed: an injected client comes back exactly as it was given.
        self._http = http
        self._event_hooks = build_event_hooks(event_hooks)
        self._redactor = Redactor(license_key, api_key)
        self._drift = decode_observer
        install_log_filter()
        REGISTRY.add(self._redactor)
        self._sender = Sender(
            http,
            stack,
            base_url=self._base_url,
            license_key=license_key,
            api_key=api_key,
            redactor=self._redactor,
            trusted=trusted,
            # An SDK-built client honours HTTP(S)_PROXY (trust_env): its errors name the proxy.
            proxy=proxy_for(self._base_url) if self._owns_http else None,
        )
        # Write safety (the shared reconciling scans and their verdicts): at the first write.
        self._writes: Reconciliation | None = None
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
    def decode_observer(self) -> DecodeObserver | None:
        """The `DecodeObserver` shown every answer before it is decoded, or None."""
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
        self._check_usable()
        if endpoint.write:
            raise InvalidRequestError(f"raw_read sends reads only, not {endpoint.name}")
        params = ep.build_params(endpoint, self._campaign_id, values)
        async with Slot(self._throttle, endpoint.name, self._max_pause):
            return await self._sender.send(endpoint.name, params)

    def read_json(self, method: str, response: Any) -> Any:
        """Return the parsed JSON of a `raw_read` response, or raise what the method would.

        The client's own judgement of an answer: `HTTPStatusError` (404, other non-2xx),
        `RateLimitedError` (429), `ServerError` (5xx), the API's error bodies as their
        errors, `MalformedResponseError`/`EmptyResponseError` for a body that is no JSON.
        """
        return self._sender.classify(method, response)

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
        """Close the client and the HTTP client it built (never an injected one). Idempotent.

        From another event loop than the one the client was used in, the connections opened
        there cannot be awaited (they belong to that loop, often closed by then): the client is
        marked closed and they are released with their loop, without an error.
        """
        if self._closed:
            return
        self._closed = True
        used_in = self._loop
        here = used_in is None or used_in is asyncio.get_running_loop()
        if here and self._writes is not None:
            # Shared reconciling scans end with the client (before its secrets leave the registry).
            await self._writes.aclose()
        REGISTRY.remove(self._redactor)
        if self._owns_http and here:
            await self._http.aclose()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # Like aiohttp's "Unclosed client session": a client that was used holds connections.
        if getattr(self, "_loop", None) is not None and not getattr(self, "_closed", True):
            _warn(
                "Unclosed IReferClient: use `async with IReferClient(...)` or `await aclose()`",
                ResourceWarning,
                source=self,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<IReferClient campaign_id={self.campaign_id} base_url={self._base_url!r} "
            f"license_key='{config.LICENSE_PREFIX}***' api_key='***' {state}>"
        )

    def _reconciliation(self) -> Reconciliation:
        """Return the client's write safety; its first call imports ``ws`` for the write paths."""
        writes = self._writes
        if writes is None:
            global ws  # noqa: PLW0603 - the write paths read it once this has run
            from . import _write_safety as ws  # noqa: PLC0415

            writes = self._writes = ws.Reconciliation(
                self._write_safety_read, deadline=self._deadline, settle=self._settle
            )
        return writes

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

    # -- the request loop ----------------------------------------------------------------

    def _campaign(self, endpoint: ep.Endpoint[Any], campaign_id: int | str | None) -> str | None:
        """Return the campaign a call goes to: its own (checked) or the client's default."""
        if campaign_id is None:
            return self._campaign_id
        return ep.check_campaign_id(campaign_id, method=endpoint.name)

    def _query(
        self,
        endpoint: ep.Endpoint[Any],
        campaign_id: int | str | None,
        values: Mapping[str, object],
    ) -> tuple[str | None, dict[str, str]]:
        """Check a call's arguments into its campaign and query (`InvalidRequestError`, unsent)."""
        campaign = self._campaign(endpoint, campaign_id)
        params = ep.build_params(endpoint, campaign, values)
        self._check_usable()
        return campaign, params

    async def _read(
        self,
        endpoint: ep.Endpoint[T],
        campaign: str | None,
        params: dict[str, str],
        reader: Reader[T] | None = None,
    ) -> T:
        """Answer a read from the cache, the identical read in flight, or the loop (`_run`)."""
        cache = self._cache
        flights = self._flights
        key = read_key(endpoint.name, params)
        generation = 0
        if cache is not None:  # a method it does not cache is never in it
            hit = cache.get(key)
            if hit is not MISS:
                return hit  # type: ignore[no-any-return]
            generation = cache.generation(campaign)
        # One deadline for the whole call, queue and a wait for a shared read included.
        with deadline_scope(Deadline.after(self._deadline)) as deadline:
            flight: Flight[T] | None = None
            if flights is not None:
                flight, joined = flights.join(key, endpoint.name)
                if joined:
                    answer: T = await flight.wait(deadline)
                    if answer is not LEAD:
                        return answer
            trace = start_call(self._event_hooks, endpoint.name, campaign, False)
            try:
                result = await self._run(
                    endpoint, params, deadline, trace, ticket=flight, reader=reader
                )
            except Exception as exc:
                if flight is not None:
                    flight.land(None, exc)
                raise
            except BaseException:  # cancelled: the first joiner still waiting leads
                if flight is not None:
                    flight.hand_over()
                raise
            if flight is not None:
                flight.land(result, None)
        if cache is not None:
            cache.put(key, result, generation)
        return result

    async def _write(
        self,
        endpoint: ep.Endpoint[T],
        campaign: str | None,
        params: dict[str, str],
        *,
        hold: bool = False,
        state: WriteState | None = None,
    ) -> T:
        """Send a write by the loop (``hold``: a bulk row's `HeldWrite`; ``state``: resend one)."""
        if state is None:
            deadline = Deadline.after(self._deadline)
            trace = start_call(self._event_hooks, endpoint.name, campaign, True)
            writes = self._reconciliation()  # it imports ``ws`` on first use
            # Made before the first attempt: it also learns from this write's answer.
            state = ws.WriteState(endpoint, campaign, params, deadline, trace, hold=hold)
            writes.begin(state)
        written: object = None
        try:
            with deadline_scope(state.deadline):
                result = await self._run(endpoint, params, state.deadline, state.trace, write=state)
                written = result
        finally:
            # Landed, failed or unknown: what the write may have changed is stale now.
            self._forget_written(campaign, params, written)
        return result

    def _forget_written(self, campaign: str | None, params: dict[str, str], result: object) -> None:
        if self._flights is not None:
            self._flights.forget(lambda key: key[1] == campaign)  # type: ignore[index]
        if self._cache is not None:
            self._cache.after_write(
                campaign,
                email=params.get("email"),
                referrer_code=params.get("referrer_code"),
                referrer_email=getattr(result, "referrer", None),
            )

    async def _run(  # noqa: PLR0912, PLR0915 - the one loop, read top to bottom
        self,
        endpoint: ep.Endpoint[T],
        params: dict[str, str],
        deadline: Deadline,
        trace: CallTrace | None,
        *,
        ticket: Flight[T] | None = None,
        write: WriteState | None = None,
        reader: Reader[T] | None = None,
    ) -> T:
        """Run the request loop: attempt -> throttle slot -> send -> classify -> decode, retried.

        ``trace``: told each step (None: unobserved). ``ticket``: the shared flight this read
        leads. ``write``: a write's state (a failed attempt is reconciled before any resend).
        ``reader``: a list body's decode step, within the slot (``ends_call`` False: the trace
        stays open for its stream).
        """
        method = endpoint.name
        sender = self._sender
        retries = Retries(self._retry, deadline)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if trace is not None:
                trace.asking(self._throttle.waiting)
            try:
                # A slot within the deadline (or never sent); a 429 pauses the client's calls.
                async with Slot(self._throttle, method, self._max_pause) as slot:
                    if ticket is not None:
                        ticket.sent = True
                    if trace is not None:
                        await trace.sending()
                    # The whole exchange, a body trickling in included, is cut at the deadline;
                    # the wire tells whether it left (cut while connecting: never sent).
                    wire = Wire()
                    async with deadline.bound(method, wire):
                        if reader is None:
                            response = await sender.send(method, params, wire=wire)
                            if trace is not None:
                                trace.saw(response)
                            # The JSON is never a local: an error tracker records locals.
                            result: T = decode(
                                sender.classify(method, response),
                                endpoint.result,
                                method=method,
                                observer=self._drift,
                            )
                        else:
                            body = await sender.open_list(method, params, wire)
                            if trace is not None:
                                trace.saw(body.response)
                            result = await reader.read(body, slot)
            except IReferError as exc:
                # Raised from here on, without the frames that read the answer: their locals
                # hold the raw body (a server may echo the keys), and trackers record locals.
                exc.__traceback__ = None
                error = exc
            else:
                if write is not None:  # answered: when its row was created, for the row clock
                    write.answered(started, loop.time())
                if trace is not None:
                    await trace.answered(None)
                    if reader is None or reader.ends_call:
                        trace.end(None)
                return result
            if trace is not None and trace.sent:
                await trace.answered(error)
            if write is not None:
                try:
                    # Judged under the write's correlation id (its reconciling read's log lines).
                    with correlation_scope(trace.correlation_id if trace is not None else None):
                        landed: T | None = await self._reconciliation().judge(error, write)
                except IReferError as verdict:  # a duplicate, or an unknown outcome: final
                    error = verdict
                    retries.after(error)
                    wait = None
                else:
                    if landed is not None:
                        end_call(trace, None)
                        return landed
                    wait = retries.after(error)
            else:
                wait = retries.after(error)
            if wait is None:
                end_call(trace, error)
                raise error
            await asyncio.sleep(wait)

    async def _open_stream(self, stream: ListStream[Any]) -> Opened:
        """Run a `ListStream`'s attempts up to its first item (the loop; the trace left open)."""
        from ._stream import Opened  # noqa: PLC0415 - on first use

        self._check_usable()
        endpoint = stream.endpoint
        opened = Opened()
        with deadline_scope(Deadline.after(self._deadline)) as deadline:
            trace = start_call(self._event_hooks, endpoint.name, stream.campaign, False)
            try:
                await self._run(endpoint, stream.params, deadline, trace, reader=opened)
            except BaseException:  # e.g. cancelled in a response hook, the body read
                await opened.close()
                raise
        opened.trace = trace
        return opened

    # -- the seven endpoints -----------------------------------------------------------

    async def referrer_stats(
        self, email: str, *, campaign_id: int | str | None = None
    ) -> ReferrerStats:
        """Get a participant's referrals and rewards (``referrerStats``).

        Raises `APIError` if the campaign has no participant with this email.
        """
        endpoint = ep.REFERRER_STATS
        return await self._read(endpoint, *self._query(endpoint, campaign_id, {"email": email}))

    async def campaign_stats(self, *, campaign_id: int | str | None = None) -> CampaignStats:
        """Get the campaign's views, signups, conversion and referrals (``campaignStats``)."""
        endpoint = ep.CAMPAIGN_STATS
        return await self._read(endpoint, *self._query(endpoint, campaign_id, {}))

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
        endpoint = ep.NEW_SIGNUP
        values = {
            "email": email,
            "name": name,
            "phone": phone,
            "info_1": info_1,
            "info_2": info_2,
            "info_3": info_3,
            "info_4": info_4,
            "info_5": info_5,
            "source": source,
            "referrer_code": referrer_code,
        }
        return await self._write(endpoint, *self._query(endpoint, campaign_id, values))

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
        endpoint = ep.NEW_SPECIFIC_ACTION
        values = {"external_id": external_id, "action": action, "referrer_code": referrer_code}
        return await self._write(endpoint, *self._query(endpoint, campaign_id, values))

    async def referrers(self, *, campaign_id: int | str | None = None) -> tuple[Referrer, ...]:
        """List every participant of the campaign (``referrers``)."""
        return await self._list(ep.REFERRERS, campaign_id)

    async def rewards(self, *, campaign_id: int | str | None = None) -> tuple[TriggeredReward, ...]:
        """List every reward triggered in the campaign (``rewards``)."""
        return await self._list(ep.REWARDS, campaign_id)

    async def specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> tuple[SpecificActionSignup, ...]:
        """List every specific action credited in the campaign (``specificActionSignups``)."""
        return await self._list(ep.SPECIFIC_ACTION_SIGNUPS, campaign_id)

    async def _list(
        self,
        endpoint: ep.Endpoint[tuple[T, ...]],
        campaign_id: int | str | None,
    ) -> tuple[T, ...]:
        """Read a whole list, decoded as it arrives (`ListReader`); shared and cached as a read."""
        from ._stream import ListReader  # noqa: PLC0415 - on first use

        campaign, params = self._query(endpoint, campaign_id, {})
        return await self._read(endpoint, campaign, params, ListReader(endpoint.item, self._drift))

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
        return self._stream_list(ep.REFERRERS, campaign_id)

    def iter_rewards(self, *, campaign_id: int | str | None = None) -> ListStream[TriggeredReward]:
        """Stream every reward triggered in the campaign (``rewards``); see `ListStream`."""
        return self._stream_list(ep.REWARDS, campaign_id)

    def iter_specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> ListStream[SpecificActionSignup]:
        """Stream every specific action of the campaign (``specificActionSignups``)."""
        return self._stream_list(ep.SPECIFIC_ACTION_SIGNUPS, campaign_id)

    def _stream_list(
        self, endpoint: ep.Endpoint[tuple[T, ...]], campaign_id: int | str | None
    ) -> ListStream[T]:
        """Return a list endpoint as a stream (checked now, sent on the first item)."""
        from ._stream import ListStream  # noqa: PLC0415 - on first use

        campaign = self._campaign(endpoint, campaign_id)
        params = ep.build_params(endpoint, campaign, {})  # bad input raises here, unsent
        return ListStream(self._open_stream, endpoint, campaign, params, self._drift)

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
        from ._bulk import NewSignupRequest, NewSpecificActionRequest  # noqa: PLC0415

        if isinstance(request, NewSignupRequest):
            endpoint: ep.Endpoint[Any] = ep.NEW_SIGNUP
        elif isinstance(request, NewSpecificActionRequest):
            endpoint = ep.NEW_SPECIFIC_ACTION
        else:
            raise TypeError(
                "find_landed takes a NewSignupRequest or NewSpecificActionRequest, "
                f"not {type(request).__name__}"
            )
        values = {name: getattr(request, name) for name in endpoint.param_names}
        campaign, params = self._query(endpoint, request.campaign_id, values)
        result: NewSignup | NewSpecificAction | None = await self._reconciliation().settled(
            endpoint, campaign, params, sent_at
        )
        return result

    async def _write_safety_read(
        self,
        endpoint: ep.Endpoint[Any],
        campaign: str | None,
        values: Mapping[str, object],
        scan: Scan | None = None,
    ) -> Any:
        """Send a read of write safety, never shared or cached (a settle ``scan``: detached)."""
        params = ep.build_params(endpoint, campaign, values)
        self._check_usable()
        with deadline_scope(Deadline.after(self._deadline), detached=scan is not None) as deadline:
            trace = start_call(self._event_hooks, endpoint.name, campaign, False)
            return await self._run(endpoint, params, deadline, trace, reader=scan)

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
        return self._bulk_run("newSignup", rows, concurrency, ordered)

    def bulk_new_specific_actions(
        self,
        rows: BulkRows[NewSpecificActionRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> BulkRun[NewSpecificActionRequest, NewSpecificAction]:
        """Submit any number of specific actions, streamed; see `bulk_new_signups`."""
        return self._bulk_run("newSpecificAction", rows, concurrency, ordered)

    def _bulk_run(
        self, method: str, rows: BulkRows[Any], concurrency: int | None, ordered: bool
    ) -> BulkRun[Any, Any]:
        from ._bulk import DEFAULT_BULK_CONCURRENCY, BulkRun  # noqa: PLC0415 - on first use

        if concurrency is None:
            concurrency = self._max_concurrency or DEFAULT_BULK_CONCURRENCY
        return BulkRun(rows, client=self, method=method, concurrency=concurrency, ordered=ordered)

    async def _bulk_attempt(
        self, endpoint: ep.Endpoint[T], request: Any, held: HeldWrite | None
    ) -> T:
        """Send a bulk row by `_write` (``held``: resend a held one, the same call)."""
        if held is not None:
            self._check_usable()
            call = held.state
            return await self._write(endpoint, call.campaign, call.params, state=call)
        values = {name: getattr(request, name) for name in endpoint.param_names}
        campaign, params = self._query(endpoint, request.campaign_id, values)
        return await self._write(endpoint, campaign, params, hold=True)

    async def _bulk_settle(self, held: HeldWrite) -> Any:
        """Decide a held bulk row (`Reconciliation.decide`): its landed result, None (resend)."""
        call = held.state
        trace = call.trace
        retries = held.retries = held.retries or Retries(self._retry, call.deadline)
        with (
            deadline_scope(call.deadline),
            correlation_scope(trace.correlation_id if trace is not None else None),
        ):
            try:
                landed = await self._reconciliation().decide(call, held.failure, held.not_before)
            except IReferError as verdict:  # a duplicate, or an unknown outcome: final
                error = verdict
                retries.after(error)
            else:
                if landed is not None:
                    self._forget_written(call.campaign, call.params, landed)
                    end_call(trace, None)
                    return landed
                error = held.failure
                wait = retries.after(error)
                if wait is not None:
                    await asyncio.sleep(wait)  # the call's retry policy
                    return None
        end_call(trace, error)
        raise error
