"""The `Emulator`: one stateful fake iRefer service and every way into it.

The fronts (ASGI app, in-process transport, loopback server) all funnel into the one public
entry, `Emulator.handle`: it routes the control plane, picks a fault, applies the request
to the state, journals it and returns an `Outcome` for the front to deliver.
`Emulator.may_delay` tells a front whether an answer can be held back at all. Fronts use
nothing else of the emulator (``tests/testing/test_emulator_fronts.py`` checks it), so the
state, faults and journal can change behind that entry without touching a front.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Iterator
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from . import _wire
from ._clock import Clock, SystemClock
from ._faults import (
    DEFAULT_HOLD,
    DEFAULT_ROW_SKEW,
    SLOW_LIST_CHUNK,
    Fault,
    FaultKind,
    FaultLike,
    FaultPlan,
    FaultRule,
    echoed_status_line,
)
from ._journal import Journal, JournalEntry, WriteEffect
from ._outcome import Disruption, EmulatorRequest, Outcome, StreamedBody
from ._profiles import ServiceProfile, get_profile
from ._specs import DEFAULT_CAMPAIGN, CampaignSpec
from ._state import CampaignState, Participant, RejectedError, State

if TYPE_CHECKING:
    import httpx

    from irefer_async import IReferClient

    from ._asgi import EmulatorApp

__all__ = ["DEFAULT_BASE_URL", "Emulator"]

#: The base URL the in-process client uses; any host works, nothing resolves it.
DEFAULT_BASE_URL = "http://irefer.test/v1.0/"
#: The environment variable naming the HTTP stack of `Emulator.client`'s transport.
HTTP_STACK_VARIABLE = "IREFER_EMULATOR_HTTP_STACK"

_JSON = [(b"content-type", _wire.JSON_CONTENT_TYPE)]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_HTML = [(b"content-type", b"text/html; charset=utf-8")]
_API_PATH = re.compile(r"^/v1(?:\.0)?/([^/]*)\.js/([^/]*)$")
_SAFE_METHOD = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_DEFAULT_LATENCY = 0.05
_DEFAULT_STALL = 60.0
_DEFAULT_TRICKLE_GAP = 0.01
_INFOS = ("info_1", "info_2", "info_3", "info_4", "info_5")

_Handler = Callable[
    ["Emulator", CampaignState, dict[str, str], str, JournalEntry], "bytes | StreamedBody"
]


class Emulator:
    """A stateful iRefer API emulator with scripted faults and a request journal.

    >>> emulator = Emulator(seed=0)          # seeded with the guide's campaign 2605
    >>> emulator.default_campaign.id
    2605

    Use it in-process (``emulator.client()`` or ``emulator.transport()``), as an ASGI app
    (``emulator.app``) or over loopback (``async with emulator.serve() as url``).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        campaigns: Iterable[CampaignSpec] = (DEFAULT_CAMPAIGN,),
        journal_limit: int | None = None,
        profile: str | ServiceProfile = "2018",
    ) -> None:
        """Create an emulator seeded with *campaigns* (the guide's campaign 2605 by default).

        *seed* fixes referral codes and seeded fault rates; *clock* (default: the system clock)
        stamps rows and decides which UTC day ``signups_today`` counts. *journal_limit* keeps
        only the latest entries of the journal (for long benchmark runs; default: all).
        *profile* makes the service differ from the guide (``"2019"``, ``"drifted"``; see
        `irefer_async.testing._profiles`); the default ``"2018"`` is the guide.
        """
        #: How this service differs from the 2018 guide (the default profile: not at all).
        self.profile: ServiceProfile = get_profile(profile)
        self._seed = seed
        self.clock: Clock = clock if clock is not None else SystemClock()
        # Seconds the row clock (participants' created_at) runs off `clock`: a server_clock
        # fault steps it (see _faults.py).
        self._row_skew = 0.0
        self._specs: dict[int, CampaignSpec] = {spec.id: spec for spec in campaigns}
        self._faults = FaultPlan()
        self._date_second = -1
        self._date_headers: list[tuple[bytes, bytes]] = list(_JSON)
        self._journal = Journal(journal_limit)
        self._app: EmulatorApp | None = None
        # The guide's client-side mode: hosts whose pages may call without an api_key.
        self._client_hosts: dict[int, frozenset[str]] = {}
        self._reset_state()

    def _reset_state(self) -> None:
        self._state = State(self._seed)
        for spec in self._specs.values():
            self._state.add_campaign(spec)
        self._calls: dict[str, int] = {}
        self._requests = 0

    def __repr__(self) -> str:
        return (
            f"<Emulator seed={self._seed} campaigns={sorted(self._state.campaigns)} "
            f"requests={self._requests}>"
        )

    # -- fronts -----------------------------------------------------------------------------

    @property
    def app(self) -> EmulatorApp:
        """The emulator as an ASGI 3 app (API under ``/v1.0/``, control under ``/_control/``)."""
        if self._app is None:
            from ._asgi import EmulatorApp  # fronts load on first use  # noqa: PLC0415

            self._app = EmulatorApp(self)
        return self._app

    def transport(self, http_stack: str = "httpx") -> httpx.AsyncBaseTransport:
        """Return a transport that talks to this emulator in-process, with no socket.

        ``http_stack="httpx2"`` gives an ``httpx2.AsyncBaseTransport`` (for an
        ``httpx2.AsyncClient``); the default is httpx's.
        """
        if http_stack == "httpx2":
            from ._transport2 import Httpx2EmulatorTransport  # noqa: PLC0415 - an extra

            return Httpx2EmulatorTransport(self)  # type: ignore[return-value]
        if http_stack != "httpx":
            raise ValueError(f'http_stack must be "httpx" or "httpx2", got {http_stack!r}')
        from ._transport import EmulatorTransport  # fronts load on first use  # noqa: PLC0415

        return EmulatorTransport(self)

    def serve(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """Serve the emulator on *host*:*port* with uvicorn; yields the base URL (``.../v1.0/``).

        ``port=0`` picks a free port. Needs the ``irefer-async[emulator]`` extra.
        """
        from ._server import serve  # fronts load on first use  # noqa: PLC0415

        return serve(self, host=host, port=port)

    def client(self, **kwargs: Any) -> IReferClient:
        """Return an ``IReferClient`` wired in-process to this emulator's default campaign.

        Defaults: the campaign's keys and id, no rate limit, retries without waiting, and a
        settle window of 0.1 s (the in-process emulator has finished processing a write when
        it answers, a ``latency`` fault's default 0.05 s aside: pass your own
        ``RetryConfig(settle=...)`` when you inject held writes or longer delays). Any
        keyword overrides the corresponding ``IReferClient`` argument. The in-process transport
        is on the stack named by ``http_stack=``, else ``$IREFER_EMULATOR_HTTP_STACK`` (set by
        the pytest plugin's ``--irefer-http-stack``), else httpx.
        """
        # Lazily: the emulator must stay importable even when the client is broken.
        from irefer_async import IReferClient, RetryConfig  # noqa: PLC0415

        spec = self.default_campaign
        options: dict[str, Any] = {
            "license_key": spec.license_key,
            "api_key": spec.api_key,
            "campaign_id": spec.id,
            "base_url": DEFAULT_BASE_URL,
            "rate_limit": None,
            "retry": RetryConfig(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, settle=0.1),
        }
        options.update(kwargs)
        if "transport" not in options and "http_client" not in options:
            stack = options.get("http_stack") or os.environ.get(HTTP_STACK_VARIABLE) or "httpx"
            options["transport"] = self.transport(stack)
        return IReferClient(**options)

    # -- control plane ----------------------------------------------------------------------

    @property
    def default_campaign(self) -> CampaignSpec:
        """The first campaign seeded (what `client` and the fixture talk to)."""
        try:
            return next(iter(self._specs.values()))
        except StopIteration:
            raise LookupError("the emulator has no campaign; call seed_campaign()") from None

    @property
    def journal(self) -> Journal:
        """Every API request so far, in arrival order."""
        return self._journal

    def seed_campaign(self, spec: CampaignSpec) -> CampaignSpec:
        """Add (or replace, emptied) the campaign *spec*; it survives `reset`."""
        self._specs[spec.id] = spec
        self._state.add_campaign(spec)
        return spec

    def _campaign(self, campaign_id: int | None) -> CampaignState:
        cid = self.default_campaign.id if campaign_id is None else campaign_id
        try:
            return self._state.campaigns[cid]
        except KeyError:
            raise LookupError(f"no campaign {cid}") from None

    def add_participant(
        self,
        email: str,
        *,
        campaign_id: int | None = None,
        name: str | None = None,
        phone: str | None = None,
        info: Iterable[str | None] = (),
        source: str | None = None,
        referrer_code: str | None = None,
        code: str | None = None,
        confirmed: bool | None = None,
        ip: str = "127.0.0.1",
    ) -> Participant:
        """Sign *email* up directly (no request, no journal entry, no faults).

        Referral credit and rewards apply as for ``newSignup``. *code* forces the referral code.
        Raises ``ValueError`` for input the API would reject (duplicate email, unknown referrer).
        """
        campaign = self._campaign(campaign_id)
        try:
            return self._state.signup(
                campaign,
                email,
                now=self.clock.now(),
                ip=ip,
                name=name,
                phone=phone,
                info=info,
                source=source,
                referrer_code=referrer_code,
                code=code,
                confirmed=confirmed,
            )
        except RejectedError as exc:
            raise ValueError(exc.reason) from None

    def seed_participants(
        self,
        count: int,
        *,
        campaign_id: int | None = None,
        email: str = "seeded{}@example.com",
    ) -> int:
        """Add *count* participants directly and fast (a million in seconds); returns the total.

        For big-campaign tests and benchmarks: no request, no journal entry, no referrer, no
        reward. *email* is a format with one ``{}`` for the participant's number in the
        campaign, so it stays unique. Raises ``ValueError`` if an email is already taken.
        """
        campaign = self._campaign(campaign_id)
        try:
            self._state.seed_participants(campaign, count, now=self.clock.now(), email=email)
        except RejectedError as exc:
            raise ValueError(exc.reason) from None
        return len(campaign.participants)

    def seed_rewards(self, count: int, *, campaign_id: int | None = None) -> int:
        """Add *count* triggered rewards directly (``rewards`` rows); returns the total.

        Recipients cycle through the participants and rewards through the campaign's; raises
        ``ValueError`` if the campaign has no participant or no reward.
        """
        campaign = self._campaign(campaign_id)
        try:
            self._state.seed_rewards(campaign, count, now=self.clock.now())
        except RejectedError as exc:
            raise ValueError(exc.reason) from None
        return len(campaign.triggered)

    def seed_actions(
        self,
        count: int,
        *,
        campaign_id: int | None = None,
        action: str | None = None,
        person: str = "referred{}@example.com",
    ) -> int:
        """Add *count* ``specificActionSignups`` rows directly; returns the total.

        Referrers cycle through the participants; *action* defaults to the campaign's first
        action page; *person* is a format with one ``{}`` for the row number. Raises
        ``ValueError`` if the campaign has no participant or the action matches no rule.
        """
        campaign = self._campaign(campaign_id)
        if action is None:
            rules = campaign.spec.actions
            action = rules[0].page if rules else ""
        try:
            self._state.seed_actions(
                campaign, count, now=self.clock.now(), action=action, person=person
            )
        except RejectedError as exc:
            raise ValueError(exc.reason) from None
        return len(campaign.actions)

    def participant(self, email: str, *, campaign_id: int | None = None) -> Participant | None:
        """Return the participant registered with *email*, if any."""
        return self._campaign(campaign_id).find(email)

    def record_views(self, count: int, *, campaign_id: int | None = None) -> int:
        """Add *count* landing-page views (``total_views``); returns the new total."""
        campaign = self._campaign(campaign_id)
        campaign.total_views = max(0, campaign.total_views + count)
        return campaign.total_views

    def record_action(
        self,
        external_id: str,
        action: str,
        referrer_code: str,
        *,
        campaign_id: int | None = None,
        ip: str = "127.0.0.1",
    ) -> int:
        """Record a specific action directly (no request, no journal entry); returns its row id.

        Raises ``ValueError`` for input the API would reject (unknown code, unmatched action).
        """
        campaign = self._campaign(campaign_id)
        try:
            row = self._state.specific_action(
                campaign, external_id, action, referrer_code, now=self.clock.now(), ip=ip
            )
        except RejectedError as exc:
            raise ValueError(exc.reason) from None
        return row.id

    def hide_participants(
        self, emails: Iterable[str], *, hidden: bool = True, campaign_id: int | None = None
    ) -> int:
        """Leave these participants out of ``referrers`` (as a plan limit hides sign-ups).

        ``hidden=False`` lists them again. Everything else about them is unchanged. Returns
        how many participants are hidden now. Raises ``LookupError`` for an unknown email.
        """
        campaign = self._campaign(campaign_id)
        for email in emails:
            found = campaign.find(email)
            if found is None:
                raise LookupError(f"no participant {email!r}")
            if hidden:
                campaign.hidden.add(found.id)
            else:
                campaign.hidden.discard(found.id)
        return len(campaign.hidden)

    def inject_fault(
        self,
        fault: FaultLike,
        *,
        method: str | None = None,
        call: int | Iterable[int] | None = None,
        email: str | None = None,
        times: int | None = 1,
    ) -> FaultRule:
        """Fault matching requests.

        *method* limits the rule to one API method (``"newSignup"``); *call* to the nth call(s) of
        that method (of any request when *method* is ``None``), from 1, counted since the last
        `reset`; *email* to requests whose ``email`` or ``external_id`` equals it. The rule
        fires *times* times (``None``: forever); with *call* it fires on each listed call.

        >>> Emulator().inject_fault("http_5xx_after", method="newSignup", call=1).fault.kind
        <FaultKind.HTTP_5XX_AFTER: 'http_5xx_after'>
        """
        return self._faults.add_rule(fault, method=method, call=call, email=email, times=times)

    def inject_faults(
        self, faults: Iterable[FaultLike | None], *, method: str | None = None
    ) -> None:
        """Script the next requests (of *method*): one entry each, ``None`` lets one through.

        >>> Emulator().inject_faults(["http_5xx_before", "drop_after", None], method="newSignup")
        """
        self._faults.add_sequence(faults, method=method)

    def inject_fault_rate(
        self,
        rate: float,
        kinds: Iterable[FaultLike] = tuple(FaultKind),
        *,
        methods: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Fault a fraction *rate* of requests (of *methods*) with kinds drawn from *kinds*.

        Draws come from a generator seeded with *seed* (default: the emulator's seed), so the
        same requests in the same order meet the same faults.
        """
        self._faults.add_rate(
            rate, kinds, methods=methods, seed=self._seed if seed is None else seed
        )

    def allow_client_side(self, *hosts: str, campaign_id: int | None = None) -> frozenset[str]:
        """Accept calls without ``api_key`` from pages on *hosts* (the guide's client-side mode).

        As the guide says of jQuery calls, such a call is verified by its host name: it is
        answered only when its ``Origin`` (else ``Referer``) host is one of *hosts*
        (``"shop.example"`` matches any port, ``"127.0.0.1:8000"`` that port only), and the
        answer carries CORS headers for that origin; any other call without ``api_key`` gets
        the guide's error. Replaces the campaign's list (default campaign unless
        *campaign_id*); no hosts turns the mode off. Kept across `reset`. Returns the list.
        Headers reach the emulator through its ASGI app and `serve` (a browser's calls); the
        in-process `transport` passes none, so its calls without an api key are refused.
        """
        campaign = self._campaign(campaign_id).spec.id
        allowed = frozenset(host.lower() for host in hosts)
        if allowed:
            self._client_hosts[campaign] = allowed
        else:
            self._client_hosts.pop(campaign, None)
        return allowed

    def _client_side(self, campaign_id: int, page: str | None) -> bool:
        """Whether a page at *page* (``host:port`` or ``host``) may call without an api_key."""
        allowed = self._client_hosts.get(campaign_id)
        if not allowed or not page:
            return False
        return page in allowed or page.rpartition(":")[0] in allowed

    def _cors(self, request: EmulatorRequest, outcome: Outcome) -> Outcome:
        """Add CORS headers to an answer to a page on a host the campaign allows."""
        origin = _header(request.headers, b"origin")
        if origin is None:
            return outcome
        raw = _parse_query(request.query).get("campaign_id", "")
        page = _page_host(origin)
        if raw.isdigit() and self._client_side(int(raw), page):
            outcome.headers = [
                *outcome.headers,
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
            ]
        return outcome

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Back to the seeded campaigns with no participants, no journal and no faults.

        Campaigns added with `seed_campaign` are kept (empty); codes restart from the seed.
        """
        self._faults.clear()
        self._journal.clear()
        self._reset_state()
        self._row_skew = 0.0

    def snapshot(self) -> dict[str, Any]:
        """Return the whole state as plain JSON-ready data (as ``/_control/snapshot`` does)."""
        campaigns = []
        for campaign in self._state.campaigns.values():
            spec = campaign.spec
            campaigns.append(
                {
                    "id": spec.id,
                    "name": spec.name,
                    "total_views": campaign.total_views,
                    "participants": [
                        {
                            "id": p.id,
                            "email": p.email,
                            "code": p.code,
                            "referral_link": p.referral_link,
                            "referrer": p.referrer.email if p.referrer else None,
                            "referrals_made": p.referrals_made,
                            "source_network": p.source_network,
                            "confirmed": p.confirmed,
                            "rewards_earned": [e.reward.heading for e in p.rewards_earned],
                        }
                        for p in campaign.participants
                    ],
                    "rewards": [
                        {
                            "id": t.id,
                            "recipient": t.recipient.email,
                            "reward": t.reward.heading,
                            "referrals_made": t.referrals_made,
                        }
                        for t in campaign.triggered
                    ],
                    "actions": [
                        {
                            "id": a.id,
                            "referrer": a.referrer.email,
                            "referred_person": a.referred_person,
                            "action": a.action,
                        }
                        for a in campaign.actions
                    ],
                }
            )
        return {"campaigns": campaigns, "requests": self._requests}

    # -- the public entry for fronts -----------------------------------------------------------

    async def handle(self, request: EmulatorRequest) -> Outcome:
        """Answer one HTTP request: the single entry every front (ASGI, server, transport) uses.

        API paths (``/v1.0/<license_key>.js/<method>``) are journalled, meet any scripted fault
        and are applied to the state; ``/_control/...`` goes to the control plane; anything
        else is a 404. The returned `Outcome` says what to send and whether to drop,
        stall or trickle it; delivering that is the front's job. It may wait (a ``latency``
        fault) only when `may_delay` is true.

        >>> import asyncio
        >>> outcome = asyncio.run(Emulator().handle(EmulatorRequest("GET", "/nowhere")))
        >>> outcome.status
        404
        """
        path = request.path
        match = _API_PATH.match(path)
        if match is None:
            if path.startswith("/_control/"):
                from ._control import handle_control  # rarely used  # noqa: PLC0415

                return handle_control(self, request.method, path[len("/_control/") :], request.body)
            return Outcome(404, _TEXT, b"not found")
        outcome = await self._api(request, match.group(1), match.group(2))
        return self._cors(request, outcome) if self._client_hosts else outcome

    @property
    def may_delay(self) -> bool:
        """Whether `handle()` may hold an answer back (any fault scripted).

        When false, every answer comes at once and undisturbed, so a front can skip its
        read-timeout bookkeeping (the in-process transport's fast path).
        """
        # Anything added later that can hold an answer (a profile's latency...) belongs here too.
        return bool(self._faults)

    # -- the funnel -------------------------------------------------------------------------

    async def _api(self, request: EmulatorRequest, license_key: str, method: str) -> Outcome:
        # The whole request travels on, so a fault or profile can use any of it (the path...).
        ip = request.client_ip
        params = _parse_query(request.query)
        api_key = params.pop("api_key", None)
        page = _calling_page(request.headers) if api_key is None and self._client_hosts else None
        self._requests += 1
        call = self._calls[method] = self._calls.get(method, 0) + 1
        entry = JournalEntry(
            seq=self._requests,
            at=asyncio.get_running_loop().time(),
            method=method,
            call=call,
            params=params,
            api_key=api_key,
            license_key=license_key,
        )
        self._journal.append(entry)
        if method in self.profile.gone:
            entry.status = 404
            return Outcome(404, _HTML, _wire.html_page(404))
        fault: Fault | None = None
        if self._faults:
            key = params.get("email") or params.get("external_id")
            fault = self._faults.pick(method, call, self._requests, key)
        if fault is None:
            body = self._process(
                license_key, method, params, api_key=api_key, ip=ip, entry=entry, page=page
            )
            if self._row_skew and entry.effect is WriteEffect.PARTICIPANT_CREATED:
                self._skew_row(params)
            entry.status = 200
            if isinstance(body, StreamedBody):
                # Dated too: write safety dates the rows of a big list by the server's clock.
                return Outcome(200, self._dated(), b"", stream=body)
            return Outcome(200, self._dated(), body)
        entry.fault = kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(_DEFAULT_LATENCY if fault.delay is None else fault.delay)
        elif kind in (FaultKind.HELD, FaultKind.HELD_DROP):
            # The server keeps working although its client may have given up long ago.
            await asyncio.sleep(DEFAULT_HOLD if fault.delay is None else fault.delay)
        elif kind in (FaultKind.HTML_PATH_PAGE, FaultKind.ECHO_STATUS_LINE):
            return _echoing(fault, request, license_key, method, entry)
        if not kind.applies_write:
            return self._fault_before(fault, method, entry)
        body = self._process(
            license_key, method, params, api_key=api_key, ip=ip, entry=entry, page=page
        )
        if kind is FaultKind.SERVER_CLOCK:
            self._row_skew = DEFAULT_ROW_SKEW if fault.delay is None else fault.delay
        if self._row_skew and entry.effect is WriteEffect.PARTICIPANT_CREATED:
            self._skew_row(params)
        return self._fault_after(fault, body, entry)

    def _skew_row(self, params: dict[str, str]) -> None:
        """Shift the signup's row by `_row_skew` seconds (the row clock is off)."""
        campaign = self._state.campaigns.get(int(params["campaign_id"]))
        found = None if campaign is None else campaign.find(params.get("email", ""))
        if found is not None:
            found.created_at += dt.timedelta(seconds=self._row_skew)

    def _dated(self) -> list[tuple[bytes, bytes]]:
        """JSON headers with ``Date`` from the emulator's clock (as a real server sends it)."""
        second = int(self.clock.now().timestamp())
        if second != self._date_second:
            self._date_second = second
            self._date_headers = [
                *_JSON,
                (b"date", formatdate(second, usegmt=True).encode("ascii")),
            ]
        return self._date_headers

    def _fault_before(self, fault: Fault, method: str, entry: JournalEntry) -> Outcome:
        kind = fault.kind
        status = fault.http_status
        if kind is FaultKind.HTTP_5XX_BEFORE:
            entry.status = status
            return Outcome(status, _TEXT, _wire.status_page(status))
        if kind is FaultKind.HTTP_429:
            entry.status = 429
            headers = list(_TEXT)
            if fault.retry_after is not None:
                headers.append((b"retry-after", fault.retry_after.encode("ascii")))
            return Outcome(429, headers, _wire.status_page(429))
        if kind is FaultKind.NULL_BODY:
            entry.status = 200
            return Outcome(200, _JSON, _wire.null_body())
        if kind is FaultKind.HTML_PAGE:
            entry.status = status
            return Outcome(status, _HTML, _wire.html_page(status))
        if kind is FaultKind.ERROR_BODY:
            entry.status = 200
            entry.error_code = _error_code(method)
            return Outcome(200, _JSON, _wire.error_body(method))
        disruption = {
            FaultKind.DROP_BEFORE: Disruption.DROP,
            FaultKind.TIMEOUT_BEFORE: Disruption.STALL,
            FaultKind.CONNECT_REFUSED: Disruption.REFUSE,
            FaultKind.CONNECT_TIMEOUT: Disruption.CONNECT_TIMEOUT,
        }[kind]
        return Outcome(
            0, [], b"", disruption, _DEFAULT_STALL if fault.delay is None else fault.delay
        )

    def _fault_after(  # noqa: PLR0911 - one answer per fault kind
        self, fault: Fault, answer: bytes | StreamedBody, entry: JournalEntry
    ) -> Outcome:
        kind = fault.kind
        if kind is FaultKind.SLOW_LIST:  # made as it is sent, never whole in memory
            entry.status = 200
            delay = fault.delay or 0.0
            return Outcome(200, self._dated(), b"", delay=delay, stream=_in_small_chunks(answer))
        body = bytes(answer)
        if kind is FaultKind.HTTP_5XX_AFTER:
            entry.status = status = fault.http_status
            return Outcome(status, _TEXT, _wire.status_page(status))
        if kind in (FaultKind.DROP_AFTER, FaultKind.HELD_DROP, FaultKind.SERVER_CLOCK):
            return Outcome(0, [], b"", Disruption.DROP)
        if kind is FaultKind.TIMEOUT_AFTER:
            delay = _DEFAULT_STALL if fault.delay is None else fault.delay
            return Outcome(0, [], b"", Disruption.STALL, delay)
        entry.status = 200
        if kind is FaultKind.TRUNCATED_JSON:
            return Outcome(200, _JSON, body[: len(body) // 2])
        if kind is FaultKind.TRICKLE_FOREVER:
            gap = _DEFAULT_TRICKLE_GAP if fault.delay is None else fault.delay
            return Outcome(200, _JSON, body[:1], Disruption.ENDLESS, gap)
        if kind is FaultKind.SLOW_TRICKLE:
            gap = _DEFAULT_TRICKLE_GAP if fault.delay is None else fault.delay
            return Outcome(200, _JSON, body, Disruption.TRICKLE, gap)
        return Outcome(200, self._dated(), body)  # latency, held: already waited

    def _process(
        self,
        license_key: str,
        method: str,
        params: dict[str, str],
        *,
        api_key: str | None,
        ip: str,
        entry: JournalEntry,
        page: str | None = None,
    ) -> bytes | StreamedBody:
        handler = _HANDLERS.get(method)
        if handler is not None and method not in self.profile.refused:
            campaign = self._authorise(license_key, params, api_key, page)
            if campaign is not None:
                try:
                    return self.profile.rewrite(method, handler(self, campaign, params, ip, entry))
                except RejectedError as exc:
                    if exc.duplicate:
                        entry.effect = WriteEffect.DUPLICATE_REJECTED
        entry.error_code = _error_code(method)
        return _wire.error_body(method if _SAFE_METHOD.match(method) else "unknown")

    def _authorise(
        self, license_key: str, params: dict[str, str], api_key: str | None, page: str | None
    ) -> CampaignState | None:
        raw = params.get("campaign_id", "")
        if not raw.isdigit():
            return None
        campaign = self._state.campaigns.get(int(raw))
        if campaign is None:
            return None
        spec = campaign.spec
        if spec.license_key != license_key:
            return None
        if api_key is None:  # client-side mode: verified by the calling page's host
            return campaign if self._client_side(spec.id, page) else None
        return campaign if spec.api_key == api_key else None

    # -- the seven methods ------------------------------------------------------------------

    def _referrer_stats(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes:
        participant = campaign.find(params.get("email", ""))
        if participant is None:
            raise RejectedError("unknown email")
        return _wire.referrer_stats(campaign, participant)

    def _campaign_stats(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes:
        return _wire.campaign_stats(campaign, self.clock.now().date())

    def _new_signup(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes:
        get = params.get
        participant = self._state.signup(
            campaign,
            get("email", ""),
            now=self.clock.now(),
            ip=ip,
            name=get("name") or None,
            phone=get("phone") or None,
            info=[get(name) or None for name in _INFOS],
            source=get("source") or None,
            referrer_code=get("referrer_code") or None,
        )
        entry.effect = WriteEffect.PARTICIPANT_CREATED
        return _wire.new_signup(campaign, participant)

    def _new_specific_action(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes:
        external_id = params.get("external_id", "")
        self._state.specific_action(
            campaign,
            external_id,
            params.get("action", ""),
            params.get("referrer_code", ""),
            now=self.clock.now(),
            ip=ip,
        )
        entry.effect = WriteEffect.ACTION_RECORDED
        return _wire.new_specific_action(campaign, external_id)

    def _referrers(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes | StreamedBody:
        return _wire.referrers(campaign)

    def _rewards(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes | StreamedBody:
        return _wire.rewards(campaign)

    def _specific_action_signups(
        self, campaign: CampaignState, params: dict[str, str], ip: str, entry: JournalEntry
    ) -> bytes | StreamedBody:
        return _wire.specific_action_signups(campaign)


def _parse_query(query: bytes) -> dict[str, str]:
    """Parse a query string as ``dict(parse_qsl(...))`` does, decoding only what needs it."""
    params: dict[str, str] = {}
    if not query:
        return params
    for pair in query.decode("ascii", "replace").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        params[name] = value
    return params


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _page_host(url: str) -> str | None:
    """Return ``host[:port]`` of a page URL (an ``Origin`` or ``Referer``), lower-case."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2].lower() or None
    except ValueError:
        return None


def _calling_page(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Return the host of the page making a call: its ``Origin``, else its ``Referer``."""
    url = _header(headers, b"origin") or _header(headers, b"referer")
    return None if url is None else _page_host(url)


def _error_code(method: str) -> str:
    return f"irefer_api_{method if _SAFE_METHOD.match(method) else 'unknown'}_err_401"


_HANDLERS: dict[str, _Handler] = {
    "referrerStats": Emulator._referrer_stats,
    "campaignStats": Emulator._campaign_stats,
    "newSignup": Emulator._new_signup,
    "newSpecificAction": Emulator._new_specific_action,
    "referrers": Emulator._referrers,
    "rewards": Emulator._rewards,
    "specificActionSignups": Emulator._specific_action_signups,
}


def _in_small_chunks(body: bytes | StreamedBody) -> StreamedBody:
    """*body* as a chunked body of `SLOW_LIST_CHUNK`-byte pieces (a ``slow_list`` answer)."""

    def chunks() -> Iterator[bytes]:
        for chunk in body.chunks() if isinstance(body, StreamedBody) else (body,):
            for start in range(0, len(chunk), SLOW_LIST_CHUNK):
                yield chunk[start : start + SLOW_LIST_CHUNK]

    return StreamedBody(chunks)


def _echoing(
    fault: Fault, request: EmulatorRequest, license_key: str, method: str, entry: JournalEntry
) -> Outcome:
    """Answer a fault that quotes the request target back, keys included (as proxies do)."""
    query = request.query.decode("ascii", "replace")
    target = f"/v1.0/{license_key}.js/{method}?{query}"
    if fault.kind is FaultKind.ECHO_STATUS_LINE:
        return Outcome(0, [], echoed_status_line(target), Disruption.GARBLED)
    entry.status = status = fault.http_status
    return Outcome(status, _HTML, _wire.html_path_page(status, target))
