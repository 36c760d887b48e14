"""IReferClient: configuration, lifecycle, the seven endpoint methods and the one call funnel.

Every public method is a one-liner into :meth:`IReferClient._call`, which validates the
arguments (:mod:`._endpoints`), then runs the layers, each in its own module::

    _call -> retry (._retry) -> [write safety (._write_safety)] -> one attempt:
             throttle slot (._limits) -> HTTP exchange (._transport) -> decode (._converter)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import httpx

from . import _bulk
from . import _endpoints as ep
from ._bulk import BulkRows, BulkRun, NewSignupRequest, NewSpecificActionRequest
from ._converter import decode
from ._deadline import Deadline, current_deadline, deadline_scope
from ._errors import (
    ClientStateError,
    ConfigurationError,
    DeadlineExceededError,
    DuplicateSignupError,
    InvalidRequestError,
    IReferError,
    MalformedResponseError,
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
from ._observability import CallTrace, EventHooks, build_event_hooks, end_call, start_call
from ._redact import REGISTRY, Redactor, install_log_filter
from ._retry import RetryConfig, call_with_retry
from ._settle import Board, Sighting, parse_http_date, parse_row_time
from ._transport import USER_AGENT, Sender
from ._write_safety import WriteState, guarded_write

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "IReferClient",
]

#: The API root; the guide mixes ``/v1/`` and ``/v1.0/``, its sample URLs use ``/v1.0/``.
DEFAULT_BASE_URL: Final = "https://api.irefer.io/v1.0/"
#: 10 s per read/write/pool wait, 5 s to connect.
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
#: 4 attempts, 0.5 s doubling to at most 8 s with jitter, 30 s in all.
DEFAULT_RETRY: Final = RetryConfig()
#: iRefer publishes no limits: 5 requests per second, conservatively.
DEFAULT_RATE_LIMIT: Final = RateLimit(5.0)
#: At most 4 requests in flight per client.
DEFAULT_MAX_CONCURRENCY: Final = 4

_LICENSE_PREFIX = "W4qL"
_LICENSE_LENGTH = 32

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


def _license_key(value: str | None) -> str:
    value = value if value is not None else os.environ.get("IREFER_LICENSE_KEY")
    if not value:
        raise ConfigurationError(
            "license_key is missing: pass license_key= or set IREFER_LICENSE_KEY"
        )
    if not isinstance(value, str):
        raise ConfigurationError(f"license_key must be a string, not {type(value).__name__}")
    if not value.startswith(_LICENSE_PREFIX) or len(value) != _LICENSE_LENGTH:
        raise ConfigurationError(
            f"license_key must be {_LICENSE_PREFIX!r} followed by 28 more characters "
            f"(32 in all); the value given has {len(value)} characters"
            + (
                ""
                if value.startswith(_LICENSE_PREFIX)
                else f" and does not start with {_LICENSE_PREFIX!r}"
            )
        )
    if not value.isascii() or not value.isalnum():
        raise ConfigurationError("license_key must contain only letters and digits")
    return value


def _api_key(value: str | None) -> str:
    value = value if value is not None else os.environ.get("IREFER_API_KEY")
    if not value:
        raise ConfigurationError("api_key is missing: pass api_key= or set IREFER_API_KEY")
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key must be a string, not {type(value).__name__}")
    return value


def _base_url(value: str | None) -> str:
    value = value or os.environ.get("IREFER_BASE_URL") or DEFAULT_BASE_URL
    if not isinstance(value, str):
        raise ConfigurationError(f"base_url must be a string, not {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        return httpx.Timeout(value)
    raise ConfigurationError(
        f"timeout must be positive seconds, an httpx.Timeout or None, got {value!r}"
    )


def _default_campaign(value: int | str) -> str:
    try:
        return ep.check_campaign_id(value)
    except InvalidRequestError as exc:
        message = exc.message
    raise ConfigurationError(message)


def _named_transport(name: str, pool: int) -> httpx.AsyncBaseTransport:
    if name != "aiohttp":
        raise ConfigurationError(f'transport must be an httpx transport or "aiohttp", got {name!r}')
    try:
        from ._aiohttp import AiohttpTransport  # noqa: PLC0415 - an optional extra
    except ImportError as exc:
        missing = exc.name
    else:
        return AiohttpTransport(
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        )
    raise ConfigurationError(
        f'transport="aiohttp" needs the aiohttp extra ({missing} is not installed): '
        "pip install 'irefer-async[aiohttp]'"
    )


def _concurrency(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_concurrency must be an integer >= 1 or None, got {value!r}")
    return value


class IReferClient:
    """An asyncio session with the iRefer API.

    Open it with ``async with`` (or call :meth:`aclose` when done) and share one client
    across your application: it owns a connection pool, a rate limiter and a concurrency
    cap that every call goes through.

    Example::

        async with IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605) as client:
            stats = await client.referrer_stats("ann@example.com")
            print(stats.referrals_made, stats.reward_next)

    Args:
        license_key: ``W4qL`` + 28 characters; defaults to ``$IREFER_LICENSE_KEY``.
        api_key: the campaign's API key; defaults to ``$IREFER_API_KEY``.
        campaign_id: default campaign for every call (each call may override it).
        base_url: API root; defaults to ``$IREFER_BASE_URL`` or ``https://api.irefer.io/v1.0/``.
        timeout: seconds, or an ``httpx.Timeout`` (default 10 s, 5 s to connect).
        retry: a :class:`RetryConfig`, or None for a single attempt per call.
        rate_limit: requests per second, a :class:`RateLimit`, any :class:`Limiter`, or None
            for no limit (default 5/s).
        max_concurrency: requests in flight at once, or None for no cap (default 4).
        http_client: an ``httpx.AsyncClient`` to use; the SDK never closes it.
        transport: an httpx transport for the client the SDK builds (not with ``http_client``),
            or ``"aiohttp"`` to send with aiohttp, ~3.5x the throughput at 64 in flight (needs
            the ``irefer-async[aiohttp]`` extra; its pool is sized by ``max_concurrency``).
        event_hooks: ``{"request": [...], "response": [...], "retry": [...]}``: functions or
            coroutine functions called with a :class:`CallEvent` for every attempt (metrics,
            raw response status and headers); see :mod:`irefer_async._observability`.

    """

    def __init__(
        self,
        license_key: str | None = None,
        api_key: str | None = None,
        *,
        campaign_id: int | str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryConfig | None = DEFAULT_RETRY,
        rate_limit: float | RateLimit | Limiter | None = DEFAULT_RATE_LIMIT,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Literal["aiohttp"] | None = None,
        event_hooks: EventHooks | None = None,
    ) -> None:
        license_key = _license_key(license_key)
        api_key = _api_key(api_key)
        self._campaign_id = None if campaign_id is None else _default_campaign(campaign_id)
        self._base_url = _base_url(base_url)
        if retry is not None and not isinstance(retry, RetryConfig):
            raise ConfigurationError(
                f"retry must be a RetryConfig or None, not {type(retry).__name__}"
            )
        self._retry = retry
        self._max_pause = (retry or DEFAULT_RETRY).wait_max
        self._budget = retry.deadline if retry is not None else math.inf
        self._settle = (retry or DEFAULT_RETRY).settle
        # Shared reconciling reads, one board per (list endpoint, campaign).
        self._boards: dict[tuple[str, str | None], Board] = {}
        concurrency = _concurrency(max_concurrency)
        self._max_concurrency = concurrency
        self._throttle = Throttle(build_limiter(rate_limit), concurrency)
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client or transport, not both")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ConfigurationError("http_client must be an httpx.AsyncClient")
        if http_client is None:
            pool = concurrency or 100
            if isinstance(transport, str):
                transport = _named_transport(transport, pool)
            # Keep-alive limit = concurrency, so the pool never closes and reopens connections.
            http_client = httpx.AsyncClient(
                timeout=_timeout(timeout),
                limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                transport=transport,
            )
            self._owns_http = True
        else:
            self._owns_http = False
        self._http = http_client
        self._event_hooks = build_event_hooks(event_hooks, http_client)
        self._redactor = Redactor(license_key, api_key)
        install_log_filter()
        REGISTRY.add(self._redactor)
        self._sender = Sender(
            http_client,
            base_url=self._base_url,
            license_key=license_key,
            api_key=api_key,
            redactor=self._redactor,
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
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
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
        REGISTRY.remove(self._redactor)
        if self._owns_http:
            await self._http.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<IReferClient campaign_id={self.campaign_id} base_url={self._base_url!r} "
            f"license_key='{_LICENSE_PREFIX}***' api_key='***' {state}>"
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

    # -- the funnel --------------------------------------------------------------------

    async def _call(
        self, endpoint: ep.Endpoint, campaign_id: int | str | None, **values: object
    ) -> Any:
        campaign = (
            self._campaign_id
            if campaign_id is None
            else ep.check_campaign_id(campaign_id, method=endpoint.name)
        )
        params = ep.build_params(endpoint, campaign, values)
        self._check_usable()
        with deadline_scope(Deadline.after(self._budget)):
            return await self._traced_call(endpoint, campaign, params)

    async def _traced_call(
        self, endpoint: ep.Endpoint, campaign: str | None, params: dict[str, str]
    ) -> Any:
        # None for a read nobody observes (no hook, logger quiet at INFO): the fast path.
        trace = start_call(self._event_hooks, endpoint.name, campaign, endpoint.write)
        try:
            if not endpoint.write:
                result = await call_with_retry(
                    lambda: self._attempt(endpoint, params, trace), self._retry
                )
            else:
                assert trace is not None  # writes are always traced: the reconciling read
                # must run under the write's correlation id
                state = WriteState()
                reconcile = trace.reconciling(self._reconciler(endpoint, campaign, params, state))
                result = await call_with_retry(
                    lambda: guarded_write(
                        lambda: self._attempt(endpoint, params, trace),
                        reconcile,
                        method=endpoint.name,
                        params=params,
                        state=state,
                        settle=self._settle,
                        check_refusal=endpoint is ep.NEW_SIGNUP,
                    ),
                    self._retry,
                )
        except IReferError as exc:
            end_call(trace, exc)  # stamps exc.correlation_id
            raise
        if trace is not None:
            trace.end(None)
        return result

    async def _attempt(
        self, endpoint: ep.Endpoint, params: dict[str, str], trace: CallTrace | None = None
    ) -> Any:
        """One HTTP attempt: take a throttle slot, send, decode (reported to ``trace``)."""
        throttle = self._throttle
        deadline = current_deadline()
        async with throttle:
            try:
                if deadline is not None and not math.isinf(deadline.at):
                    data = await _within(
                        deadline,
                        lambda: self._sender.get_json(endpoint.name, params)
                        if trace is None
                        else trace.send(self._sender.get_json, endpoint.name, params),
                        endpoint.name,
                    )
                elif trace is None:
                    data = await self._sender.get_json(endpoint.name, params)
                else:
                    data = await trace.send(self._sender.get_json, endpoint.name, params)
            except RateLimitedError as exc:
                if exc.retry_after:
                    # Every call of this client waits; capped so one header cannot stall it.
                    throttle.pause(min(exc.retry_after, self._max_pause))
                raise
        if trace is None:
            return decode(data, endpoint.result, method=endpoint.name)
        return await trace.decode(lambda: decode(data, endpoint.result, method=endpoint.name))

    # -- shared reconciling reads (see _settle.py and _write_safety.py) ------------------

    def _reconciler(
        self,
        endpoint: ep.Endpoint,
        campaign: str | None,
        params: dict[str, str],
        state: WriteState,
    ) -> Callable[[float, bool], Awaitable[Any]]:
        if endpoint is ep.NEW_SIGNUP:
            return lambda not_before, refused: self._signup_landed(
                campaign, params, state, not_before, refused=refused
            )
        return lambda not_before, _: self._action_landed(campaign, params, not_before)

    def _board(self, endpoint: ep.Endpoint, campaign: str | None) -> Board:
        board = self._boards.get((endpoint.name, campaign))
        if board is None:
            key_of = _signup_key if endpoint is ep.REFERRERS else _action_key
            board = Board(lambda: self._scan_rows(endpoint, campaign), key_of)
            self._boards[endpoint.name, campaign] = board
        return board

    async def _scan_rows(
        self, endpoint: ep.Endpoint, campaign: str | None
    ) -> tuple[list[Any], float | None]:
        """One shared read of a whole list: its raw rows and the server's clock."""
        params = ep.build_params(endpoint, campaign, {})
        method = endpoint.name
        # Traced as a read of its own; it runs under the id of the write that started it.
        trace = start_call(self._event_hooks, method, campaign, False)

        async def attempt() -> tuple[Any, str | None]:
            deadline = current_deadline()
            assert deadline is not None
            get = self._sender.get_json_dated
            async with self._throttle:
                answer = await _within(
                    deadline,
                    lambda: get(method, params) if trace is None else trace.send(get, method, params),
                    method,
                )
            if trace is not None:
                await trace.decode(lambda: answer)
            return answer

        # Shared by many calls: its own budget, whichever call's task started the scan.
        try:
            with deadline_scope(Deadline.after(self._budget), detached=True):
                data, date = await call_with_retry(attempt, self._retry)
        except IReferError as exc:
            end_call(trace, exc)
            raise
        if trace is not None:
            trace.end(None)
        if type(data) is not list:
            raise MalformedResponseError(
                f"{method}: expected a list", method=method, detail="the body is not an array"
            )
        return data, parse_http_date(date)

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
        sighting = await self._board(ep.REFERRERS, campaign).lookup(email.casefold(), not_before)
        if sighting is None:
            return None
        created = parse_row_time(sighting.row.get("created_at"))
        first_sent = state.first_sent if state.first_sent is not None else sighting.loop_time
        existed = refused or (
            created is not None
            and created + _CLOCK_SLACK <= sighting.server_time_at(first_sent)
        )
        if existed:
            raise _duplicate(params, sighting, created)
        return await self._landed_signup(campaign, email, sighting)

    async def _landed_signup(
        self, campaign: str | None, email: str, sighting: Sighting
    ) -> NewSignup:
        """The reconciled result: ``referrerStats`` fills what a ``referrers`` row lacks."""
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
        return NewSignup(
            campaign_name=stats.campaign_name,
            email=stats.email,
            confirmed=stats.confirmed,
            referral_link=stats.referral_link,
            referrer=sighting.row.get("referrer_email") or None,
            reward_next=stats.reward_next,
            reward_next_description=stats.reward_next_description,
            reward_next_referrals_required=stats.reward_next_referrals_remaining,
            rewards_offered=stats.rewards_offered,
            reconciled=True,
            raw=stats.raw,
        )

    async def _action_landed(
        self, campaign: str | None, params: dict[str, str], not_before: float
    ) -> NewSpecificAction | None:
        external_id = params["external_id"]
        board = self._board(ep.SPECIFIC_ACTION_SIGNUPS, campaign)
        sighting = await board.lookup((external_id, params["action"]), not_before)
        if sighting is None:
            return None
        return NewSpecificAction(
            campaign_name=None, external_id=external_id, reconciled=True, raw=sighting.row
        )

    # -- the seven endpoints -----------------------------------------------------------

    async def referrer_stats(
        self, email: str, *, campaign_id: int | str | None = None
    ) -> ReferrerStats:
        """Get a participant's referrals and rewards (``referrerStats``).

        Raises :class:`APIError` if the campaign has no participant with this email.
        """
        return await self._call(ep.REFERRER_STATS, campaign_id, email=email)  # type: ignore[no-any-return]

    async def campaign_stats(self, *, campaign_id: int | str | None = None) -> CampaignStats:
        """Get the campaign's views, signups, conversion and referrals (``campaignStats``)."""
        return await self._call(ep.CAMPAIGN_STATS, campaign_id)  # type: ignore[no-any-return]

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
        :class:`LeadSource`); ``referrer_code`` credits the referrer who shared the link.
        Parameters left as None are not sent.
        """
        return await self._call(  # type: ignore[no-any-return]
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
        return await self._call(  # type: ignore[no-any-return]
            ep.NEW_SPECIFIC_ACTION, campaign_id, external_id=external_id, action=action,
            referrer_code=referrer_code,
        )  # fmt: skip

    async def referrers(self, *, campaign_id: int | str | None = None) -> tuple[Referrer, ...]:
        """List every participant of the campaign (``referrers``)."""
        return await self._call(ep.REFERRERS, campaign_id)  # type: ignore[no-any-return]

    async def rewards(self, *, campaign_id: int | str | None = None) -> tuple[TriggeredReward, ...]:
        """List every reward triggered in the campaign (``rewards``)."""
        return await self._call(ep.REWARDS, campaign_id)  # type: ignore[no-any-return]

    async def specific_action_signups(
        self, *, campaign_id: int | str | None = None
    ) -> tuple[SpecificActionSignup, ...]:
        """List every specific action credited in the campaign (``specificActionSignups``)."""
        return await self._call(ep.SPECIFIC_ACTION_SIGNUPS, campaign_id)  # type: ignore[no-any-return]

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
        Every row goes through :meth:`new_signup`; a failing row never stops the others::

            async with client.bulk_new_signups(rows) as run:
                async for outcome in run:
                    print(outcome.index, outcome.status, outcome.error)
            print(run.summary)
        """
        return _bulk.new_signups(self, rows, concurrency=concurrency, ordered=ordered)

    def bulk_new_specific_actions(
        self,
        rows: BulkRows[NewSpecificActionRequest],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> BulkRun[NewSpecificActionRequest, NewSpecificAction]:
        """Submit any number of specific actions, streamed; see :meth:`bulk_new_signups`."""
        return _bulk.new_specific_actions(self, rows, concurrency=concurrency, ordered=ordered)


def _signup_key(row: Any) -> str | None:
    email = row.get("email") if type(row) is dict else None
    return email.casefold() if isinstance(email, str) else None


def _action_key(row: Any) -> tuple[Any, Any] | None:
    if type(row) is not dict:
        return None
    return (row.get("referred_person"), row.get("specific_action"))


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
