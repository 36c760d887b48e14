"""The seven iRefer endpoints, declared once (`Endpoint[T]`): name, result, parameters.

A write also declares where it is reconciled (`Reconcile`) and its row key (`RowKey`).
`build_params` validates a call's arguments before anything is sent. Everything else that
lists an endpoint's parameters is pinned to this table by ``tests/test_endpoint_table.py``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, get_args

import attrs

from ._errors import InvalidRequestError

if TYPE_CHECKING:  # imported by `Endpoint.result`, with the first call that needs the models
    from . import _models as m

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(method: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{method}: {name} must be a string, not {type(value).__name__}", method=method
        )
    # Not UTF-8 encodable: later a URL-building "transport" error, ambiguous for a write.
    if not value.isascii() and _SURROGATE.search(value):
        raise InvalidRequestError(
            f"{method}: {name} is not valid text (it holds an unpaired surrogate)", method=method
        )
    return value


def _required_text(method: str, name: str, value: object) -> str:
    text = _text(method, name, value)
    if not text.strip():
        raise InvalidRequestError(f"{method}: {name} must not be empty", method=method)
    return text


def _email(method: str, name: str, value: object) -> str:
    text = _required_text(method, name, value)
    local, at, domain = text.partition("@")
    # The common case has no whitespace and no control character (none is printable).
    unusual = not (text.isascii() and text.isprintable() and " " not in text)
    if unusual and text != text.strip():
        problem = "has leading or trailing whitespace"
    elif unusual and any(ch.isspace() for ch in text):
        problem = "contains whitespace"
    elif unusual and any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        problem = "contains a control character"
    elif not at or not local or not domain:
        problem = "is not an email address (expected name@domain)"
    elif "@" in domain:
        problem = "contains more than one '@'"
    else:
        return text
    raise InvalidRequestError(f"{method}: {name} {problem}", method=method)


def _source(method: str, name: str, value: object) -> str:
    from ._models import LeadSource  # noqa: PLC0415 - with the first check, not the package

    key = str(_text(method, name, value))  # a LeadSource is its value
    for source in LeadSource:
        if key.lower() in (source.value, source.name.lower()):
            return source.value
    allowed = ", ".join(f"{s.value!r} ({s.name.lower()})" for s in LeadSource)
    raise InvalidRequestError(
        f"{method}: unknown lead source {key!r}; expected one of {allowed}", method=method
    )


@attrs.frozen
class Param:
    """One query parameter: its API name, whether it is required, and its check."""

    name: str
    required: bool = False
    check: Callable[[str, str, object], str] = _text


@attrs.frozen
class RowKey:
    """What identifies one write in a campaign: ``fields`` joined by ``"|"`` (``fold``: lowered)."""

    #: The parameters the key is made of, in order.
    fields: tuple[str, ...]
    #: The fields compared case-insensitively.
    fold: frozenset[str] = frozenset()

    def __call__(self, values: Mapping[str, object]) -> str | None:
        """Return the key of a mapping, or None when a key field is missing or not text."""
        parts = []
        for name in self.fields:
            value = values.get(name)
            if not isinstance(value, str):
                return None
            parts.append(value.strip().lower() if name in self.fold else value)
        return "|".join(parts)

    def of(self, request: object) -> str | None:
        """Return the key of a request object (its attributes named as the parameters)."""
        return self({name: getattr(request, name, None) for name in self.fields})


@attrs.frozen
class Reconcile:
    """Where an ambiguous write is found: a row of ``scan`` whose ``fields`` equal ``params``."""

    #: The list endpoint whose rows show that a write landed.
    scan: Endpoint[Any]
    #: The row fields (wire names) compared.
    fields: tuple[str, ...]
    #: The write's query parameters they are compared with, in the same order.
    params: tuple[str, ...]
    #: Fields compared case-insensitively (emails).
    casefold: frozenset[str] = frozenset()

    def target(self, params: Mapping[str, str]) -> tuple[str, ...]:
        """Return what a row's ``fields`` hold for the write with these parameters."""
        return tuple(
            params[name].casefold() if field in self.casefold else params[name]
            for field, name in zip(self.fields, self.params, strict=True)
        )


@attrs.frozen
class Endpoint(Generic[T]):
    """One API method: its name, result type ``T``, parameters and, for a write, its reconcile."""

    #: The API method name, as it appears in the URL (``"referrerStats"``).
    name: str
    #: The type its JSON decodes into (a model, or ``tuple[Model, ...]``), given as a function
    #: called on first use (the models load with the first call that needs them).
    result_of: Callable[[], type[T]] = attrs.field(repr=False)
    #: Its parameters besides ``campaign_id`` and ``api_key``, in the guide's order.
    params: tuple[Param, ...] = ()
    #: For a write: where an ambiguous attempt is looked for. None for a read.
    reconcile: Reconcile | None = None
    #: For a write: what identifies one write in a campaign. None for a read.
    key: RowKey | None = None

    @cached_property
    def result(self) -> type[T]:
        """The type its JSON decodes into (the models are imported on the first use)."""
        global m  # noqa: PLW0603 - the result types' lambdas below read it
        from . import _models as m  # noqa: PLC0415

        return self.result_of()

    @cached_property
    def item(self) -> Any:
        """A list endpoint's row type (``M`` of ``tuple[M, ...]``); None for the others."""
        args = get_args(self.result)
        return args[0] if args else None

    @property
    def write(self) -> bool:
        """Whether the call changes state (and so must never be resent blindly)."""
        return self.reconcile is not None

    def row_key(self, values: Mapping[str, object]) -> str | None:
        """Return the row key of a write's parameters or raw row (None for a read, or no key)."""
        return None if self.key is None else self.key(values)

    @property
    def param_names(self) -> tuple[str, ...]:
        """The names of its parameters, in order (``campaign_id`` excluded)."""
        return tuple(param.name for param in self.params)


def signup_from_stats(stats: m.ReferrerStats, referrer: str | None = None) -> m.NewSignup:
    """Return what a newSignup answer would have said, from a landed signup's referrerStats."""
    from ._models import NewSignup  # noqa: PLC0415 - `stats` means the models are loaded

    return NewSignup(
        campaign_name=stats.campaign_name,
        email=stats.email,
        confirmed=stats.confirmed,
        referral_link=stats.referral_link,
        referrer=referrer,
        reward_next=stats.reward_next,
        reward_next_description=stats.reward_next_description,
        reward_next_referrals_required=stats.reward_next_referrals_remaining,
        rewards_offered=stats.rewards_offered,
        reconciled=True,
        raw=stats.raw,
    )


REFERRER_STATS: Final[Endpoint[m.ReferrerStats]] = Endpoint(
    "referrerStats", lambda: m.ReferrerStats, params=(Param("email", True, _email),)
)
CAMPAIGN_STATS: Final[Endpoint[m.CampaignStats]] = Endpoint(
    "campaignStats", lambda: m.CampaignStats
)
REFERRERS: Final[Endpoint[tuple[m.Referrer, ...]]] = Endpoint(
    "referrers", lambda: tuple[m.Referrer, ...]
)
REWARDS: Final[Endpoint[tuple[m.TriggeredReward, ...]]] = Endpoint(
    "rewards", lambda: tuple[m.TriggeredReward, ...]
)
SPECIFIC_ACTION_SIGNUPS: Final[Endpoint[tuple[m.SpecificActionSignup, ...]]] = Endpoint(
    "specificActionSignups", lambda: tuple[m.SpecificActionSignup, ...]
)
NEW_SIGNUP: Final[Endpoint[m.NewSignup]] = Endpoint(
    "newSignup",
    lambda: m.NewSignup,
    params=(
        Param("email", True, _email),
        Param("name"),
        Param("phone"),
        Param("info_1"),
        Param("info_2"),
        Param("info_3"),
        Param("info_4"),
        Param("info_5"),
        Param("source", False, _source),
        Param("referrer_code"),
    ),
    reconcile=Reconcile(
        REFERRERS, fields=("email",), params=("email",), casefold=frozenset({"email"})
    ),
    key=RowKey(("email",), fold=frozenset({"email"})),
)
NEW_SPECIFIC_ACTION: Final[Endpoint[m.NewSpecificAction]] = Endpoint(
    "newSpecificAction",
    lambda: m.NewSpecificAction,
    params=(
        Param("external_id", True, _required_text),
        Param("action", True, _required_text),
        Param("referrer_code", True, _required_text),
    ),
    reconcile=Reconcile(
        SPECIFIC_ACTION_SIGNUPS,
        fields=("referred_person", "specific_action"),
        params=("external_id", "action"),
    ),
    key=RowKey(("external_id", "action")),
)

#: Every endpoint by API method name.
ENDPOINTS: Mapping[str, Endpoint[Any]] = {
    ep.name: ep
    for ep in (
        REFERRER_STATS,
        CAMPAIGN_STATS,
        NEW_SIGNUP,
        NEW_SPECIFIC_ACTION,
        REFERRERS,
        REWARDS,
        SPECIFIC_ACTION_SIGNUPS,
    )
}

#: The write endpoints (each with its reconciling read and row key).
WRITES: tuple[Endpoint[Any], ...] = tuple(e for e in ENDPOINTS.values() if e.write)


def check_campaign_id(value: object, *, method: str | None = None) -> str:
    """Return a campaign id as its wire string, or raise if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequestError(
            f"campaign_id must be a positive integer, not {type(value).__name__}", method=method
        )
    text = str(value).strip()
    if not text.isdecimal() or int(text) <= 0:
        raise InvalidRequestError(
            f"campaign_id must be a positive integer, got {value!r}", method=method
        )
    return str(int(text))


def build_params(
    endpoint: Endpoint[Any], campaign_id: str | None, values: Mapping[str, object]
) -> dict[str, str]:
    """Validate a call's arguments and return its query parameters (None: not sent)."""
    method = endpoint.name
    if campaign_id is None:
        raise InvalidRequestError(
            f"{method}: campaign_id is required: pass campaign_id= to the call or to "
            "IReferClient, or set IREFER_CAMPAIGN_ID",
            method=method,
        )
    return {"campaign_id": campaign_id, **check_params(endpoint, values)}


def check_params(endpoint: Endpoint[Any], values: Mapping[str, object]) -> dict[str, str]:
    """Validate an endpoint's arguments (``campaign_id`` aside) and return them as sent."""
    method = endpoint.name
    params: dict[str, str] = {}
    for param in endpoint.params:
        value = values.get(param.name)
        if value is None:
            if param.required:
                raise InvalidRequestError(f"{method}: {param.name} is required", method=method)
            continue
        params[param.name] = param.check(method, param.name, value)
    return params
