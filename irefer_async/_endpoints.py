"""The seven iRefer endpoints, declared once, and the checks on their parameters.

Each :class:`Endpoint` names the API method (the path segment after ``{license_key}.js/``),
the type its JSON decodes into, whether it writes (writes get the write-safety rules of
:mod:`irefer_async._write_safety`), and its parameters in the order the guide lists them.
:func:`build_params` turns a call's keyword arguments into the query parameters, raising
:class:`~irefer_async.InvalidRequestError` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from . import _models as m
from ._errors import InvalidRequestError

__all__ = [
    "CAMPAIGN_STATS",
    "ENDPOINTS",
    "NEW_SIGNUP",
    "NEW_SPECIFIC_ACTION",
    "REFERRERS",
    "REFERRER_STATS",
    "REWARDS",
    "SPECIFIC_ACTION_SIGNUPS",
    "Endpoint",
    "Param",
    "build_params",
    "check_campaign_id",
]

_SOURCES = {source.value: source.value for source in m.LeadSource} | {
    source.name.lower(): source.value for source in m.LeadSource
}


def _text(method: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{method}: {name} must be a string, not {type(value).__name__}", method=method
        )
    if not value.isascii() and not _encodable(value):
        # Caught here, an unpaired surrogate would fail URL building as a "transport" error,
        # which a write must then treat as ambiguous.
        raise InvalidRequestError(
            f"{method}: {name} is not valid text (it holds an unpaired surrogate)", method=method
        )
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _required_text(method: str, name: str, value: object) -> str:
    text = _text(method, name, value)
    if not text.strip():
        raise InvalidRequestError(f"{method}: {name} must not be empty", method=method)
    return text


def _email(method: str, name: str, value: object) -> str:
    text = _required_text(method, name, value)
    local, at, domain = text.partition("@")
    if not at or not local.strip() or not domain.strip():
        raise InvalidRequestError(
            f"{method}: {name} is not an email address (expected name@domain)", method=method
        )
    return text


def _source(method: str, name: str, value: object) -> str:
    if isinstance(value, m.LeadSource) and value.known:
        return value.value
    key = _text(method, name, value)
    try:
        return _SOURCES[key.lower()]
    except KeyError:
        pass
    allowed = ", ".join(f"{s.value!r} ({s.name.lower()})" for s in m.LeadSource)
    raise InvalidRequestError(
        f"{method}: unknown lead source {key!r}; expected one of {allowed}", method=method
    )


Check = Callable[[str, str, object], str]


@attrs.frozen
class Param:
    """One query parameter: its API name, whether it is required, and its check."""

    name: str
    required: bool = False
    check: Check = _text


@attrs.frozen
class Endpoint:
    """One API method: its name, result type, read or write, and parameters."""

    #: The API method name, as it appears in the URL (``"referrerStats"``).
    name: str
    #: The type its JSON decodes into (a model, or ``tuple[Model, ...]``).
    result: Any
    #: Whether the call changes state (and so must never be resent blindly).
    write: bool
    #: Its parameters besides ``campaign_id`` and ``api_key``, in the guide's order.
    params: tuple[Param, ...] = ()


REFERRER_STATS = Endpoint(
    "referrerStats", m.ReferrerStats, write=False, params=(Param("email", True, _email),)
)
CAMPAIGN_STATS = Endpoint("campaignStats", m.CampaignStats, write=False)
NEW_SIGNUP = Endpoint(
    "newSignup",
    m.NewSignup,
    write=True,
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
)
NEW_SPECIFIC_ACTION = Endpoint(
    "newSpecificAction",
    m.NewSpecificAction,
    write=True,
    params=(
        Param("external_id", True, _required_text),
        Param("action", True, _required_text),
        Param("referrer_code", True, _required_text),
    ),
)
REFERRERS = Endpoint("referrers", tuple[m.Referrer, ...], write=False)
REWARDS = Endpoint("rewards", tuple[m.TriggeredReward, ...], write=False)
SPECIFIC_ACTION_SIGNUPS = Endpoint(
    "specificActionSignups", tuple[m.SpecificActionSignup, ...], write=False
)

#: Every endpoint by API method name.
ENDPOINTS: Mapping[str, Endpoint] = {
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
    endpoint: Endpoint, campaign_id: str | None, values: Mapping[str, object]
) -> dict[str, str]:
    """Validate a call's arguments and return its query parameters (secrets excluded).

    ``None`` means "not given": optional parameters that are None are not sent.
    """
    method = endpoint.name
    if campaign_id is None:
        raise InvalidRequestError(
            f"{method}: campaign_id is required: pass campaign_id= to the call or to IReferClient",
            method=method,
        )
    params = {"campaign_id": campaign_id}
    for param in endpoint.params:
        value = values.get(param.name)
        if value is None:
            if param.required:
                raise InvalidRequestError(f"{method}: {param.name} is required", method=method)
            continue
        params[param.name] = param.check(method, param.name, value)
    return params
