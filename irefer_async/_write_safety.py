"""Write safety: never resend a write that may have landed (docs/reliability.md).

After an ambiguous failure only a read *started* ``settle`` seconds later may prove "not
landed" (then a resend); cannot tell is `WriteOutcomeUnknownError`, never a resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs

from . import _endpoints as ep
from ._deadline import Deadline, current_deadline, deadline_scope
from ._errors import (
    APIError,
    DuplicateSignupError,
    IReferError,
    WriteOutcomeUnknownError,
)
from ._match import RowMatcher
from ._models import NewSignup, NewSpecificAction, referral_code_of
from ._settle import Board, Key, Scan, Sighting, parse_row_time

if TYPE_CHECKING:
    from ._observability import CallTrace
    from ._retry import Retries

#: Send a read of write safety (the client's): ``(endpoint, campaign, values, scan)``.
Read = Callable[["ep.Endpoint[Any]", str | None, Mapping[str, object], Scan | None], Awaitable[Any]]

#: A found participant created at most this many seconds before the write's first attempt
#: (by the learned row clock) still counts as created by it ("created now").
CREATED_NOW_SLACK = 5.0
#: Answered signups remembered to date the row clock by.
CLOCK_WITNESSES = 32
#: Signups answered after a write whose rows ride along in its settle scan.
CLOCK_PROBES = 2
#: The kinds of key of a board: the write's own row; on ``referrers`` also a referrer by code.
_WRITE, _BY_CODE = 0, 1
_REFERRER_BY_CODE = partial(
    RowMatcher, ("referral_link",), convert={"referral_link": referral_code_of}
)


@attrs.define(eq=False, repr=False)  # no participant data in its text
class WriteState:
    """One write call: its query, deadline and trace, and what its attempts left uncertain."""

    endpoint: ep.Endpoint[Any]
    campaign: str | None
    params: dict[str, str]
    deadline: Deadline
    trace: CallTrace | None
    #: Raise `HeldWrite` on an ambiguous failure (a bulk run reconciles in rounds).
    hold: bool = attrs.field(kw_only=True)
    #: An earlier attempt failed ambiguously, so this write may already have landed.
    maybe_landed: bool = attrs.field(init=False, default=False)
    #: The loop time at which the call started (its first attempt, not a resend).
    first_sent: float = attrs.field(init=False, factory=lambda: asyncio.get_running_loop().time())
    #: The loop time at which the latest failed attempt ended (set by `Reconciliation.judge`).
    last_ended: float = attrs.field(init=False, default=0.0)
    #: The latest signup answered before this call started (dates the row clock).
    prior: _Witness | None = attrs.field(init=False, default=None)
    #: Where a signup answered unambiguously is remembered (it dates the row clock).
    witnessed: deque[_Witness] | None = attrs.field(init=False, default=None)

    def answered(self, started: float, ended: float) -> None:
        """Note an attempt answered; unambiguous (no earlier doubt): a witness of the row clock."""
        if self.witnessed is not None and not self.maybe_landed:
            key = _key(self.endpoint, self.params)
            self.witnessed.append((self.campaign, key, started, ended))


class HeldWrite(Exception):
    """A write whose attempt failed ambiguously, held for a verdict by its caller (a bulk run).

    Raised when the call's `WriteState.hold` is set: the call (``state``) and, set by the bulk
    run, the row it came from. The run keeps the first one per row; a resend failing again
    gives it the new ``failure`` and ``not_before``. Shown as its failure only.
    """

    def __init__(self, failure: IReferError, not_before: float, state: WriteState) -> None:
        super().__init__(failure)
        #: The ambiguous failure (final as a verdict if the write cannot be resent).
        self.failure = failure
        #: The loop time from which a scan proves "not landed".
        self.not_before = not_before
        #: The write call, kept across its resends.
        self.state = state
        #: The retry decisions across the held call's verdicts (made at its first).
        self.retries: Retries | None = None
        # The row (set by the bulk run); ``released``: it gave its credit back.
        self.index = -1
        self.row: Any = None
        self.request: Any = None
        self.released = False


class Reconciliation:
    """One client's reconciling reads: a `Board` per (list, campaign) and their verdicts.

    A signup found is landed or "existed before" (`DuplicateSignupError`, by the row clock
    and the referrer it is credited to); an action found is landed.
    """

    def __init__(self, read: Read, *, deadline: float, settle: float) -> None:
        self._read = read
        self._deadline = deadline
        self._settle = settle
        #: The boards, by (list endpoint's name, campaign).
        self.boards: dict[tuple[str, str | None], Board] = {}
        # Recent answered signups: (campaign, key, started, ended), looked for in later scans.
        self._witnessed: deque[_Witness] = deque(maxlen=CLOCK_WITNESSES)

    async def aclose(self) -> None:
        """Stop every board's scans (pending lookups fail as of unknown outcome)."""
        for board in self.boards.values():
            await board.aclose()

    def begin(self, state: WriteState) -> None:
        """Watch a new write call (a signup's answer dates the row clock; `judge` its failures)."""
        if state.endpoint is ep.NEW_SIGNUP:
            witnessed = state.witnessed = self._witnessed
            state.prior = next((w for w in reversed(witnessed) if w[0] == state.campaign), None)

    async def judge(self, failure: IReferError, state: WriteState) -> Any:
        """Judge a write attempt's failure: the landed result, or None (the failure stands).

        Raises `DuplicateSignupError` (a refused signup is looked up for it),
        `WriteOutcomeUnknownError`, or `HeldWrite` when the state holds.
        """
        ended = state.last_ended = asyncio.get_running_loop().time()
        refused = isinstance(failure, APIError)
        if refused and not state.maybe_landed:
            if state.endpoint is ep.NEW_SIGNUP:
                try:
                    await self.landed(state, ended, refused=True)
                except DuplicateSignupError:
                    raise
                except IReferError:
                    pass  # could not look: the API's own answer stands
            return None
        if not (refused or failure.maybe_processed):
            return None  # never reached the server
        state.maybe_landed = True
        # A refusal after an ambiguous attempt is the server's answer now: no need to settle.
        not_before = ended if refused else ended + self._settle
        if state.hold:  # the caller (a bulk run) reconciles it, in its rounds
            raise HeldWrite(failure, not_before, state)
        return await self.decide(state, failure, not_before)

    async def decide(self, state: WriteState, failure: IReferError, not_before: float) -> Any:
        """Judge an ambiguous failure by a settled read: the landed result, or None (resend).

        Raises `DuplicateSignupError` (the row existed before), or `WriteOutcomeUnknownError`
        when the read cannot tell (never a resend then).
        """
        try:
            return await self.landed(state, not_before)
        except DuplicateSignupError:
            raise
        except IReferError as exc:
            reconcile_error = exc
        # Raised outside the except block: no __context__ chain (it may carry a URL).
        raise WriteOutcomeUnknownError(
            method=state.endpoint.name,
            params=state.params,
            last_error=failure,
            reconcile_error=reconcile_error,
        )

    def board(self, write: ep.Endpoint[Any], campaign: str | None) -> Board:
        """Return the shared settle scans of the list the table says a write is found in."""
        spec = write.reconcile
        assert spec is not None, write.name
        scan = spec.scan
        board = self.boards.get((scan.name, campaign))
        if board is None:
            kinds = [partial(RowMatcher, spec.fields, casefold=spec.casefold)]
            if write is ep.NEW_SIGNUP:
                kinds.append(_REFERRER_BY_CODE)
            board = Board(partial(self._read, scan, campaign, {}), tuple(kinds))
            self.boards[scan.name, campaign] = board
        return board

    async def settled(
        self,
        endpoint: ep.Endpoint[Any],
        campaign: str | None,
        params: dict[str, str],
        sent_at: float,
    ) -> Any:
        """Whether a write an earlier run sent at wall time ``sent_at`` landed: its result, or None.

        A row found is landed (undated), unless credited to another referrer than the one
        sent: None, so a resumed run sends it for the API's own answer.
        """
        loop = asyncio.get_running_loop()
        not_before = loop.time() + max(0.0, sent_at + self._settle - time.time())
        deadline = Deadline.after(self._deadline)
        write = WriteState(endpoint, campaign, params, deadline, None, hold=False)
        with deadline_scope(deadline), contextlib.suppress(DuplicateSignupError):
            return await self.landed(write, not_before, dated=False)
        return None

    async def landed(
        self, state: WriteState, not_before: float, *, dated: bool = True, refused: bool = False
    ) -> NewSignup | NewSpecificAction | None:
        """Look a write up: its reconciled result, None (not landed), or a duplicate (raised).

        ``dated`` False: a write of an earlier run, whose row found is not dated.
        """
        write, campaign, params = state.endpoint, state.campaign, state.params
        if write is not ep.NEW_SIGNUP:  # an action found is landed
            found = await self.board(write, campaign).lookup(_key(write, params), not_before)
            if found is None:
                return None
            return NewSpecificAction(
                campaign_name=None,
                external_id=params["external_id"],
                reconciled=True,
                raw=found.row,
            )
        code = params.get("referrer_code")
        key = _key(ep.NEW_SIGNUP, params)
        # The same scan looks for the code's referrer and for answered signups (the row clock).
        by_code = (_BY_CODE, (code,)) if code else None
        probes = self._probes(key, state) if dated else []
        also = [by_code] if by_code else []
        board = self.board(ep.NEW_SIGNUP, campaign)
        sighting = await board.lookup(key, not_before, [*also, *(w[1] for w in probes)])
        if sighting is None:
            return None
        created = parse_row_time(sighting.row.get("created_at"))
        # Evidence without clocks first: the refusal; a row credited to another referrer.
        existed = refused
        if not existed and by_code is not None:
            referrer = sighting.related.get(by_code)
            named = None if referrer is None else referrer.get("email")
            existed = not _same_email(sighting.row.get("referrer_email"), named)
        before: bool | None = None
        if not existed and created is not None and dated:
            samples = _clock_samples(probes, sighting)
            if state.prior is not None and not any(s[2] >= state.last_ended for s in samples):
                samples = await self._later_samples(key, board, state, not_before)
            before = _existed_before(samples, created, state.first_sent, state.last_ended)
            existed = before is True
        if existed:
            referrer = sighting.row.get("referrer_email")
            raise DuplicateSignupError(
                email=params["email"],
                existed_since=None
                if created is None
                else dt.datetime.fromtimestamp(created, dt.timezone.utc),
                referrer_email=referrer if isinstance(referrer, str) and referrer else None,
                referrer_code=code,
            )
        landed = await self._landed_signup(campaign, params["email"], sighting)
        if before is None and dated:
            return attrs.evolve(landed, age_unknown=True)
        return landed

    async def _later_samples(
        self, key: Key, board: Board, state: WriteState, not_before: float
    ) -> list[tuple[float, ...]]:
        """Wait out the window (within the deadline); the clock's samples from after the write."""
        loop = asyncio.get_running_loop()
        wait = not_before - loop.time()
        deadline = current_deadline()
        if deadline is not None:
            wait = min(wait, deadline.remaining() / 2)
        if wait > 0:
            await asyncio.sleep(wait)
        probes = self._probes(key, state)
        if not any(w[2] >= state.last_ended for w in probes):
            return []
        try:
            again = await board.lookup(key, loop.time(), [w[1] for w in probes])
        except IReferError:
            return []  # found already: landed, its age unknown
        return [] if again is None else _clock_samples(probes, again)

    def _probes(self, key: Key, state: WriteState) -> list[_Witness]:
        """Answered signups to date the clock by: the one before the write, those after it."""
        campaign, prior, last_ended = state.campaign, state.prior, state.last_ended
        after = [
            w for w in self._witnessed if w[0] == campaign and w[1] != key and w[2] >= last_ended
        ][-CLOCK_PROBES:]
        return after if prior is None or prior[1] == key else [prior, *after]

    async def _landed_signup(
        self, campaign: str | None, email: str, sighting: Sighting
    ) -> NewSignup:
        """Build the reconciled result: ``referrerStats`` fills what a ``referrers`` row lacks."""
        row = sighting.row
        try:
            stats = await self._read(ep.REFERRER_STATS, campaign, {"email": email}, None)
        except IReferError:
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
        return ep.signup_from_stats(stats, row.get("referrer_email") or None)


#: An answered signup: (campaign, its row's key, its attempt's start and end, loop times).
_Witness = tuple[str | None, Key, float, float]


def _key(write: ep.Endpoint[Any], params: Mapping[str, str]) -> Key:
    spec = write.reconcile
    assert spec is not None
    return (_WRITE, spec.target(params))


def _clock_samples(witnesses: list[_Witness], sighting: Sighting) -> list[tuple[float, ...]]:
    """Per witness found: the bounds of ``created_at - loop time``, its attempt's start and end."""
    samples: list[tuple[float, ...]] = []
    for _, key, started, ended in witnesses:
        row = sighting.related.get(key)
        created = None if row is None else parse_row_time(row.get("created_at"))
        if created is not None:
            # created_at has a resolution of one second (truncated or rounded): +-1 s.
            samples.append((created - 1.0 - ended, created + 1.0 - started, started, ended))
    return samples


def _existed_before(
    samples: list[tuple[float, ...]], created: float, first_sent: float, last_ended: float
) -> bool | None:
    """Whether a row dated ``created`` existed before loop time ``first_sent``, by the row clock.

    True: provably (a duplicate); False: created at or after it (within `CREATED_NOW_SLACK`);
    None: the clocks cannot tell (the samples must overlap and come from both sides of the write).
    """
    if not any(s[3] <= first_sent for s in samples) or not any(s[2] >= last_ended for s in samples):
        return None
    low = max(sample[0] for sample in samples)
    high = min(sample[1] for sample in samples)
    if low > high:
        return None  # contradictory bounds: a stepped clock
    # The row's creation, on the loop's clock: from created - 1 - high to created + 1 - low.
    if created + 1.0 - low < first_sent:
        return True
    if created - 1.0 - high >= first_sent - CREATED_NOW_SLACK:
        return False
    return None


def _same_email(a: object, b: object) -> bool:
    """Whether two row values name the same participant (None or "" for nobody)."""
    a = a.casefold() if isinstance(a, str) and a else None
    b = b.casefold() if isinstance(b, str) and b else None
    return a == b
