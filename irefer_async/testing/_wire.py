r"""The one serialiser: turns emulator state into the bytes the real iRefer API sends.

Nothing else in the emulator knows the wire format. The quirks reproduced here, all taken from
the samples in the iRefer developer guide (v1.0):

* Numbers are strings in some places and integers in others, exactly as sampled:
  ``"confirmed": "1"``, ``"total_views": "126"``, ``"signups_count": "1"`` and every ``id``,
  ``campaign_id``, ``referrals_count`` and ``referrals_made`` of the list endpoints are strings;
  ``referrals_made``, ``reward_next_referrals_remaining``, ``reward_next_referrals_required``,
  ``signups_total``, ``signups_today`` and the ``*_referrals`` totals are integers.
* ``conversion`` is ``signups_total / total_views`` as a percentage with one decimal (``"21.4%"``),
  ``"0.0%"`` when there were no views.
* A missing last/next reward is the string ``"None"`` with an empty ``""`` description; with no
  next reward ``reward_next_referrals_remaining`` is ``0``.
* ``referral_link`` is the full landing URL (``http://getirefer.com/?iref=CODE``) in
  ``referrerStats`` and ``newSignup`` but the bare code in ``referrers`` rows.
* Absent optional participant fields (``name``, ``phone``, ``info_N``, ``referrer_email``)
  are ``null``; ``source_network`` is ``""`` when absent. ``newSignup``'s ``referrer`` is
  ``null`` when the signup had no referrer.
* Timestamps are ISO-8601 UTC with a ``Z`` (``2018-06-15T16:11:45Z``), no fractions.
* ``reward_to`` is ``"REFFERER"`` (sic).
* List endpoints return newest rows first. Rows are append-only, so each is encoded once and
  cached on the campaign; a list call only joins the cached fragments. Past
  `STREAM_ROWS` rows the body is a `StreamedBody`, joined chunk by
  chunk as it is sent (chunked transfer, no content-length), as a big real answer arrives.
* Bodies are compact JSON with ``/`` escaped as ``\/`` and non-ASCII as ``\uXXXX``, as PHP's
  ``json_encode`` writes them (the guide's ``"\/thanks\/"``).
* Errors are HTTP 200 with ``{"error": "input missing or incorrect",
  "error_code": "irefer_api_<method>_err_401"}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

from ._outcome import StreamedBody
from ._specs import RewardSpec
from ._state import NETWORKS, CampaignState, Participant

__all__ = [
    "JSON_CONTENT_TYPE",
    "STREAM_ROWS",
    "campaign_stats",
    "dump",
    "error_body",
    "html_page",
    "iso",
    "new_signup",
    "new_specific_action",
    "null_body",
    "referrer_stats",
    "referrers",
    "rewards",
    "specific_action_signups",
    "status_page",
]

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"
#: Lists longer than this are sent as streamed (chunked) bodies, made as they are sent.
STREAM_ROWS = 2000
_CHUNK_ROWS = 256
_NONE = "None"
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _text(obj: Any) -> str:
    # "/" can only occur inside JSON strings, so a blind replace is exact.
    return _dumps(obj).replace("/", "\\/")


def _dump(obj: Any) -> bytes:
    return _text(obj).encode("ascii")


def dump(obj: Any) -> bytes:
    """Encode *obj* as the API does (compact; "/" and non-ASCII escaped, as PHP does)."""
    return _dump(obj)


def _newest_first(fragments: list[str]) -> bytes:
    return ("[" + ",".join(reversed(fragments)) + "]").encode("ascii")


def _streamed(count: int, row: Callable[[int], str]) -> StreamedBody:
    """Return the body ``[row(count-1),...,row(0)]``, made `_CHUNK_ROWS` rows at a time."""

    def chunks() -> Iterator[bytes]:
        yield b"["
        for end in range(count, 0, -_CHUNK_ROWS):
            text = ",".join([row(i) for i in range(end - 1, max(0, end - _CHUNK_ROWS) - 1, -1)])
            yield (text if end == count else "," + text).encode("ascii")
        yield b"]"

    return StreamedBody(chunks)


def iso(when: dt.datetime) -> str:
    """Format *when* (aware, UTC) as the API does: ``2018-06-15T16:11:45Z``."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(method: str) -> bytes:
    """Return the error body the API answers for bad input to *method*."""
    return _dump(
        {"error": "input missing or incorrect", "error_code": f"irefer_api_{method}_err_401"}
    )


def null_body() -> bytes:
    """Return the ``null`` body the guide warns about ("you might receive null response")."""
    return b"null"


def html_page(status: int) -> bytes:
    """Return an HTML error page such as a proxy in front of the API would send."""
    return (
        f"<!DOCTYPE html><html><head><title>{status} Error</title></head>"
        f"<body><h1>{status} Error</h1><p>The server is temporarily unable to service your "
        "request. Please try again later.</p></body></html>"
    ).encode("ascii")


def html_path_page(status: int, target: str) -> bytes:
    """Return a proxy's HTML error page that quotes the request target (path and query)."""
    return (
        f"<html><body><h1>{status} Bad Gateway</h1><p>GET {target} failed</p></body></html>"
    ).encode("utf-8", "replace")


def status_page(status: int) -> bytes:
    """Return a short plain-text body for an HTTP error status."""
    return f"{status} error".encode("ascii")


def _offered(rewards: tuple[RewardSpec, ...]) -> list[dict[str, str]]:
    return [
        {
            "signups_count": str(r.signups_count),
            "reward_heading": r.heading,
            "reward_description": r.description,
        }
        for r in rewards
    ]


def referrer_stats(campaign: CampaignState, participant: Participant) -> bytes:
    """``referrerStats`` for *participant*."""
    earned = participant.rewards_earned
    last = earned[-1].reward if earned else None
    nxt = campaign.next_reward(participant.referrals_made)
    return _dump(
        {
            "campaign_name": campaign.spec.name,
            "email": participant.email,
            "confirmed": "1" if participant.confirmed else "0",
            "referral_link": participant.referral_link,
            "referrals_made": participant.referrals_made,
            "reward_last": last.heading if last else _NONE,
            "reward_last_description": last.description if last else "",
            "reward_next": nxt[0].heading if nxt else _NONE,
            "reward_next_description": nxt[0].description if nxt else "",
            "reward_next_referrals_remaining": nxt[1] if nxt else 0,
            "rewards_earned": [
                {
                    "signups_count": str(e.signups_count),
                    "reward_heading": e.reward.heading,
                    "reward_description": e.reward.description,
                }
                for e in earned
            ],
            "rewards_offered": _offered(campaign.spec.rewards),
        }
    )


def campaign_stats(campaign: CampaignState, today: dt.date) -> bytes:
    """``campaignStats``; *today* is the UTC day counted by ``signups_today``."""
    total = len(campaign.participants)
    views = campaign.total_views
    body: dict[str, Any] = {
        "campaign_name": campaign.spec.name,
        "total_views": str(views),
        "signups_total": total,
        "signups_today": campaign.signups_by_day.get(today, 0),
        "conversion": "%.1f%%" % (100.0 * total / views if views else 0.0),
        "referrals": campaign.referrals,
    }
    counts = campaign.network_counts
    for letter in ("f", "w", "t", "l", "e"):  # the guide's field order
        body[NETWORKS[letter]] = counts[letter]
    body["rewards_offered"] = _offered(campaign.spec.rewards)
    return _dump(body)


def new_signup(campaign: CampaignState, participant: Participant) -> bytes:
    """``newSignup``'s answer for the participant just created."""
    nxt = campaign.next_reward(participant.referrals_made)
    referrer = participant.referrer
    return _dump(
        {
            "campaign_name": campaign.spec.name,
            "email": participant.email,
            "confirmed": "1" if participant.confirmed else "0",
            "referral_link": participant.referral_link,
            "referrer": referrer.email if referrer is not None else None,
            "reward_next": nxt[0].heading if nxt else _NONE,
            "reward_next_description": nxt[0].description if nxt else "",
            "reward_next_referrals_required": nxt[1] if nxt else 0,
            "rewards_offered": _offered(campaign.spec.rewards),
        }
    )


def new_specific_action(campaign: CampaignState, external_id: str) -> bytes:
    """``newSpecificAction``'s answer."""
    return _dump({"campaign_name": campaign.spec.name, "external_id": external_id})


def _referrer_prefix(p: Participant, cid: str) -> str:
    """Return a ``referrers`` row up to its ``referrals_count`` value (all that never changes)."""
    referrer = p.referrer
    info = p.info
    row = _text(
        {
            "id": str(p.id),
            "campaign_id": cid,
            "referral_link": p.code,
            "referrer_email": referrer.email if referrer is not None else None,
            "name": p.name,
            "email": p.email,
            "phone": p.phone,
            "info_1": info[0],
            "info_2": info[1],
            "info_3": info[2],
            "info_4": info[3],
            "info_5": info[4],
            "created_at": iso(p.created_at),
            "ip": p.ip,
            "source_network": p.source_network,
            "referrals_count": "",
        }
    )
    return row[: -len('""}')]


def referrers(campaign: CampaignState) -> bytes | StreamedBody:
    """``referrers``: every participant, newest first (streamed past `STREAM_ROWS`).

    A row's text is built the first time it is sent and cached (None until then): a streamed
    body builds each chunk's rows as that chunk is made, so the first chunk of a big campaign
    goes out at once instead of after every row is encoded.
    """
    # Only referrals_count changes after a row is created: cache everything before it.
    prefixes: list[str | None] = campaign.wire_cache.setdefault("referrers", [])
    hidden = campaign.hidden
    participants = campaign.participants
    cid = str(campaign.spec.id)
    count = len(participants)
    prefixes.extend([None] * (count - len(prefixes)))

    def row(i: int) -> str:
        p = participants[i]
        prefix = prefixes[i]
        if prefix is None:
            prefix = prefixes[i] = _referrer_prefix(p, cid)
        return f'{prefix}"{p.referrals_made}"}}'

    if count > STREAM_ROWS:
        if not hidden:
            return _streamed(count, row)
        # Hidden rows (a plan limit) are left out of the streamed body too.
        shown = [i for i, p in enumerate(participants) if p.id not in hidden]
        return _streamed(len(shown), lambda j: row(shown[j]))
    return _newest_first([row(i) for i, p in enumerate(participants) if p.id not in hidden])


def rewards(campaign: CampaignState) -> bytes | StreamedBody:
    """``rewards``: every reward triggered, newest first (streamed past `STREAM_ROWS`)."""
    rows = campaign.wire_cache.setdefault("rewards", [])
    cid = str(campaign.spec.id)
    for t in campaign.triggered[len(rows) :]:
        rows.append(
            _text(
                {
                    "id": str(t.id),
                    "campaign_id": cid,
                    "triggered_at": iso(t.triggered_at),
                    "recipient_id": str(t.recipient.id),
                    "recipient_email": t.recipient.email,
                    "recipient_name": t.recipient.name,
                    "recipient_referral_code": t.recipient.code,
                    "referrals_made": str(t.referrals_made),
                    "reward_id": str(t.reward_id),
                    "reward_heading": t.reward.heading,
                    "reward_description": t.reward.description,
                    "reward_signups_count": str(t.reward.signups_count),
                    "reward_quantity": t.reward.quantity.value,
                    "reward_delivery": t.reward.delivery.value,
                    "reward_goal_type": t.reward.goal_type,
                    "reward_to": t.reward.reward_to,
                }
            )
        )
    return (
        _streamed(len(rows), rows.__getitem__) if len(rows) > STREAM_ROWS else _newest_first(rows)
    )


def specific_action_signups(campaign: CampaignState) -> bytes | StreamedBody:
    """``specificActionSignups``: every action, newest first (streamed past `STREAM_ROWS`)."""
    rows = campaign.wire_cache.setdefault("actions", [])
    cid = str(campaign.spec.id)
    for a in campaign.actions[len(rows) :]:
        rows.append(
            _text(
                {
                    "id": str(a.id),
                    "campaign_id": cid,
                    "referrer_email": a.referrer.email,
                    "referred_person": a.referred_person,
                    "specific_action": a.action,
                    "created_at": iso(a.created_at),
                    "ip": a.ip,
                }
            )
        )
    return (
        _streamed(len(rows), rows.__getitem__) if len(rows) > STREAM_ROWS else _newest_first(rows)
    )
