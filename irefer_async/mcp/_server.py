"""The MCP server: six read tools, and two write tools behind ``allow_writes``.

Built on the official MCP Python SDK's `MCPServer`. Tool errors carry the SDK's messages (which
never hold a key); participant data never goes into a log line of this package, and the tool
errors (which the MCP SDK logs at INFO) never quote it.
"""

# No `from __future__ import annotations`: the MCP SDK reads the tools' annotations at
# runtime, and the write tools' resolvers are local names.
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import attrs
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from irefer_async import APIError, IReferClient, IReferError, __version__
from irefer_async.endpoints import DEFAULT_BASE_URL

from . import _summaries as s
from ._results import (
    ActionSignupsResult,
    CampaignStatsResult,
    FindParticipantsResult,
    NewSignupResult,
    NewSpecificActionResult,
    RecentRewardsResult,
    ReferrerStatsResult,
    SentRequest,
    TopReferrersResult,
)
from ._writes import DryRun, OutcomeStillUnknownError, WriteRecord

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "Confirm", "build_server"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("irefer_async.mcp")

#: The read tools' names, in the order they are listed.
READ_TOOLS = (
    "referrer_stats",
    "campaign_stats",
    "top_referrers",
    "find_participants",
    "recent_rewards",
    "action_signups",
)
#: The write tools' names (listed only with ``allow_writes=True``).
WRITE_TOOLS = ("new_signup", "new_specific_action")

_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

#: Seconds a repeat of a write whose outcome was unknown is refused while it is not found in
#: the campaign (a server may still be processing the first); then it is sent again.
UNKNOWN_HOLD = 60.0

_INSTRUCTIONS = (
    "Tools to read one iRefer referral campaign (stats, top referrers, participants, rewards, "
    "specific actions); answers are compact and say when they were cut and how to ask for "
    "more. Write tools, when enabled, take dry_run=true to show exactly what would be sent, "
    "and a real write asks the user to confirm."
)

Limit = Annotated[int, Field(ge=1, le=100, description="Most rows to return (1-100).")]


class Confirm(BaseModel):
    """The form a real write asks the user to fill in."""

    confirm: bool = Field(description="Send this write to iRefer now?")


@attrs.frozen
class _Skip:
    """A write that needs no question: a dry run, a replay, ``--no-confirm``, or none possible."""

    reason: Literal["dry_run", "replay", "no_confirm", "cannot_ask"]


def _tool_errors(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn the SDK's errors (and our own bad-input ones) into tool errors, data-free."""

    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except ToolError:
            raise
        except OutcomeStillUnknownError as exc:
            raise ToolError(f"{func.__name__}: {exc}") from None
        except IReferError as exc:
            raise ToolError(str(exc)) from None  # the SDK's message: redacted, no key
        except ValidationError as exc:
            # A model we built refused its data: its text quotes that data (participants).
            logger.debug("tool %s built an invalid result", func.__name__, exc_info=True)
            raise ToolError(f"internal error ({type(exc).__name__})") from None
        except ValueError as exc:  # our own bad-input messages (e.g. `since`)
            raise ToolError(str(exc)) from None
        except Exception as exc:
            # Unexpected: its text may quote data, so only its type leaves the server.
            logger.debug("tool %s failed", func.__name__, exc_info=True)
            raise ToolError(f"internal error ({type(exc).__name__})") from None

    return call


def _progress(ctx: Context[Any, Any]) -> s.Progress:
    async def report(rows: int) -> None:
        await ctx.report_progress(rows, None, f"{rows:,} rows read")

    return report


def _can_ask(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    ask = None if caps is None else caps.elicitation
    return ask is not None and (ask.form is not None or ask.url is None)


def _refusal(tool: str, consent: ElicitationResult[Confirm]) -> str | None:
    """Why a real write may not go ahead, or None when it may."""
    if isinstance(consent, AcceptedElicitation):
        data: object = consent.data
        if isinstance(data, _Skip):
            if data.reason != "cannot_ask":
                return None
            return (
                f"{tool}: not sent: this MCP client cannot ask you to confirm a write (it "
                "declared no elicitation support). Call it with dry_run=true to see what would "
                "be sent, or restart the server with `irefer mcp --allow-writes --no-confirm` "
                "to write without asking."
            )
        if isinstance(data, Confirm) and data.confirm:
            return None
        return f"{tool}: not sent: the user did not confirm it"
    return f"{tool}: not sent: the user {consent.action}d the confirmation"


def _describe(request: SentRequest) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in request.params.items() if k != "api_key")
    method = request.url.split("?")[0].rsplit("/", 1)[-1]
    return f"Send {method} to iRefer with {shown}?"


def build_server(
    client: IReferClient,
    *,
    allow_writes: bool = False,
    confirm: bool = True,
    base_url: str | None = None,
    name: str = "irefer",
) -> MCPServer:
    """Return an MCP server whose tools read (and, with ``allow_writes``, write) one campaign.

    ``client`` is an open `IReferClient` aimed at the campaign (its default ``campaign_id``);
    the caller owns it and closes it after the server stops. ``base_url`` is the client's
    API root, shown by dry runs (default ``$IREFER_BASE_URL`` or the real API's).

    The six read tools are always listed. The write tools (`WRITE_TOOLS`) only with
    ``allow_writes=True``; a real write then asks the user to confirm through the client
    (MCP elicitation) and is refused where the client cannot ask, unless ``confirm=False``.
    A call repeating one this server already made is answered from its record, not resent.
    """
    server: MCPServer = MCPServer(
        name, instructions=_INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @server.tool(annotations=_READ, title="Referrer stats")
    @_tool_errors
    async def referrer_stats(
        email: Annotated[str, Field(description="The participant's email address.")],
    ) -> ReferrerStatsResult:
        """One participant's referrals, referral link and rewards (earned, next, offered)."""
        return await s.referrer_stats(client, email)

    @server.tool(annotations=_READ, title="Campaign stats")
    @_tool_errors
    async def campaign_stats() -> CampaignStatsResult:
        """Get the campaign's views, signups (total, today), conversion and referrals by network."""
        return await s.campaign_stats(client)

    @server.tool(annotations=_READ, title="Top referrers")
    @_tool_errors
    async def top_referrers(
        ctx: Context[Any, Any],
        limit: Limit = 10,
        by: Annotated[
            s.RankBy,
            Field(description="'referrals': most referrals first; 'newest': latest signups."),
        ] = "referrals",
    ) -> TopReferrersResult:
        """List the participants with the most referrals (or the newest), best first.

        Reads the whole participant list as a stream (bounded memory) to answer.
        """
        return await s.top_referrers(client, limit, by, _progress(ctx))

    @server.tool(annotations=_READ, title="Find participants")
    @_tool_errors
    async def find_participants(
        ctx: Context[Any, Any],
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="Text to find in the email or name, any case.",
            ),
        ],
        limit: Limit = 20,
    ) -> FindParticipantsResult:
        """Participants whose email or name contains `query` (case-insensitive), in list order."""
        return await s.find_participants(client, query, limit, _progress(ctx))

    @server.tool(annotations=_READ, title="Recent rewards")
    @_tool_errors
    async def recent_rewards(
        ctx: Context[Any, Any],
        limit: Limit = 20,
        since: Annotated[
            str | None,
            Field(
                description="Only rewards triggered at or after this ISO 8601 date or time "
                "(UTC unless an offset is given)."
            ),
        ] = None,
    ) -> RecentRewardsResult:
        """List the most recently triggered rewards, newest first, and count them all."""
        return await s.recent_rewards(client, limit, s.parse_since(since), _progress(ctx))

    @server.tool(annotations=_READ, title="Specific-action signups")
    @_tool_errors
    async def action_signups(
        ctx: Context[Any, Any],
        action: Annotated[
            str | None,
            Field(description="Only this specific action (e.g. '/dashboard'); all when null."),
        ] = None,
        limit: Limit = 20,
    ) -> ActionSignupsResult:
        """List the newest specific actions credited to referrers, with counts per action."""
        return await s.action_signups(client, action, limit, _progress(ctx))

    if allow_writes:
        _add_writes(server, client, confirm, base_url or os.environ.get("IREFER_BASE_URL")
                    or DEFAULT_BASE_URL)  # fmt: skip
    return server


def _add_writes(server: MCPServer, client: IReferClient, confirm: bool, base_url: str) -> None:
    dry = DryRun(base_url, client.campaign_id)
    signups: WriteRecord[NewSignupResult] = WriteRecord(hold=UNKNOWN_HOLD)
    actions: WriteRecord[NewSpecificActionResult] = WriteRecord(hold=UNKNOWN_HOLD)

    def signup_key(email: str, name: str | None, referrer_code: str | None) -> tuple[str, ...]:
        return (email.casefold(), name or "", referrer_code or "")

    async def ask(
        ctx: Context[Any, Any],
        dry_run: bool,
        replayed: bool,
        method: str,
        values: dict[str, Any],
    ) -> _Skip | Elicit[Confirm]:
        """Decide what to ask before a write: nothing (and why), or the exact request."""
        if dry_run:
            return _Skip("dry_run")
        if replayed:
            return _Skip("replay")
        if not confirm:
            return _Skip("no_confirm")
        if not _can_ask(ctx):
            return _Skip("cannot_ask")
        try:
            request = await dry.request(method, **values)
        except IReferError as exc:  # bad input: reported by the tool, nothing asked
            raise ToolError(str(exc)) from None
        return Elicit(_describe(request), Confirm)

    async def ask_signup(
        ctx: Context[Any, Any],
        email: str,
        name: str | None,
        referrer_code: str | None,
        dry_run: bool,
    ) -> _Skip | Elicit[Confirm]:
        return await ask(
            ctx,
            dry_run,
            signups.landed(signup_key(email, name, referrer_code)),
            "newSignup",
            {"email": email, "name": name, "referrer_code": referrer_code},
        )

    @server.tool(
        title="New signup",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True,
            open_world_hint=False,
        ),
    )  # fmt: skip
    @_tool_errors
    async def new_signup(
        email: Annotated[str, Field(description="The new participant's email address.")],
        consent: Annotated[ElicitationResult[Confirm], Resolve(ask_signup)],
        name: Annotated[str | None, Field(description="Their name.")] = None,
        referrer_code: Annotated[
            str | None, Field(description="The referral code of who referred them.")
        ] = None,
        dry_run: Annotated[
            bool, Field(description="Only validate and show what would be sent; send nothing.")
        ] = False,
    ) -> NewSignupResult:
        """Add a participant to the campaign (newSignup), crediting `referrer_code` if given.

        With dry_run=true nothing is sent: the answer shows the exact request. A real signup
        asks the user to confirm. Calling again with the same arguments never signs up twice;
        an email that is already a participant is an error.
        """
        if dry_run:
            request = await dry.request(
                "newSignup", email=email, name=name, referrer_code=referrer_code
            )
            return NewSignupResult(dry_run=True, sent=False, would_send=request)
        refused = _refusal("new_signup", consent)
        if refused:
            raise ToolError(refused)

        async def write() -> NewSignupResult:
            made = await client.new_signup(email, name=name, referrer_code=referrer_code)
            return NewSignupResult(
                dry_run=False,
                sent=True,
                email=made.email,
                referral_code=made.referral_code or None,
                referral_link=made.referral_link,
                referrer=made.referrer,
                reconciled=made.reconciled,
            )

        async def lookup() -> NewSignupResult | None:
            try:
                found = await client.referrer_stats(email)
            except APIError:  # not a participant (yet)
                return None
            return NewSignupResult(
                dry_run=False,
                sent=False,
                email=found.email,
                referral_code=found.referral_code or None,
                referral_link=found.referral_link,
                reconciled=True,
            )

        made, replayed = await signups.run(signup_key(email, name, referrer_code), write, lookup)
        return made.model_copy(update={"sent": False, "replayed": True}) if replayed else made

    def action_key(external_id: str, action: str, referrer_code: str) -> tuple[str, ...]:
        return (external_id, action, referrer_code)

    async def ask_action(
        ctx: Context[Any, Any],
        external_id: str,
        action: str,
        referrer_code: str,
        dry_run: bool,
    ) -> _Skip | Elicit[Confirm]:
        return await ask(
            ctx,
            dry_run,
            actions.landed(action_key(external_id, action, referrer_code)),
            "newSpecificAction",
            {"external_id": external_id, "action": action, "referrer_code": referrer_code},
        )

    @server.tool(
        title="New specific action",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False,
            open_world_hint=False,
        ),
    )  # fmt: skip
    @_tool_errors
    async def new_specific_action(
        external_id: Annotated[
            str, Field(description="Who completed the action (the referred person's id/email).")
        ],
        action: Annotated[
            str, Field(description="The campaign's specific-action page, e.g. '/dashboard'.")
        ],
        referrer_code: Annotated[str, Field(description="The referral code to credit.")],
        consent: Annotated[ElicitationResult[Confirm], Resolve(ask_action)],
        dry_run: Annotated[
            bool, Field(description="Only validate and show what would be sent; send nothing.")
        ] = False,
    ) -> NewSpecificActionResult:
        """Record that a referred person completed a specific action (newSpecificAction).

        With dry_run=true nothing is sent: the answer shows the exact request. A real write
        asks the user to confirm; calling again with the same arguments never records twice
        while this server runs.
        """
        if dry_run:
            request = await dry.request(
                "newSpecificAction", external_id=external_id, action=action,
                referrer_code=referrer_code,
            )  # fmt: skip
            return NewSpecificActionResult(dry_run=True, sent=False, would_send=request)
        refused = _refusal("new_specific_action", consent)
        if refused:
            raise ToolError(refused)

        async def write() -> NewSpecificActionResult:
            made = await client.new_specific_action(
                external_id, action=action, referrer_code=referrer_code
            )
            return NewSpecificActionResult(
                dry_run=False, sent=True, external_id=made.external_id, reconciled=made.reconciled
            )

        async def lookup() -> NewSpecificActionResult | None:
            async with client.iter_specific_action_signups() as rows:
                async for row in rows:
                    if row.referred_person == external_id and row.specific_action == action:
                        return NewSpecificActionResult(
                            dry_run=False, sent=False, external_id=external_id, reconciled=True
                        )
            return None

        made, replayed = await actions.run(
            action_key(external_id, action, referrer_code), write, lookup
        )
        return made.model_copy(update={"sent": False, "replayed": True}) if replayed else made
