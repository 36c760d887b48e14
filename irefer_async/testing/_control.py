"""The HTTP control plane under ``/_control/``, for tests that reach the emulator over loopback.

JSON in, JSON out; a small mirror of the `Emulator` control methods:

=======  ==================  ==========================================================
GET      ``snapshot``        `Emulator.snapshot`
GET      ``journal``         the journal as a list (keys redacted)
POST     ``reset``           `Emulator.reset`
POST     ``campaigns``       `Emulator.seed_campaign` (a ``CampaignSpec`` as JSON)
POST     ``participants``    `Emulator.add_participant` (``email`` plus keywords)
POST     ``views``           `Emulator.record_views` (``{"count": n}``)
POST     ``actions``         `Emulator.record_action` (``external_id``, ``action``,
                             ``referrer_code``)
POST     ``hidden``          `Emulator.hide_participants` (``{"emails": [...]}``,
                             ``"hidden": false`` to list them again)
POST     ``faults``          `Emulator.inject_fault` (``{"kind": ..., "method": ...}``),
                             or `Emulator.inject_fault_rate` when ``rate`` is given
DELETE   ``faults``          `Emulator.clear_faults`
=======  ==================  ==========================================================

Bad input answers 400 with ``{"error": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any

import cattrs

from ._faults import Fault
from ._outcome import Outcome
from ._specs import CampaignSpec

__all__ = ["handle_control"]

_JSON = [(b"content-type", b"application/json")]
_converter = cattrs.Converter()
#: The emulator these routes drive (an `Emulator`: its methods are called with JSON-given
#: keywords, so a type would check nothing more; not imported, so no import circle).
Emulator = Any


def _ok(data: Any) -> Outcome:
    return Outcome(200, _JSON, json.dumps(data).encode())


def _fault(data: dict[str, Any]) -> Fault:
    return Fault(
        data["kind"],
        status=data.get("status"),
        retry_after=data.get("retry_after"),
        delay=data.get("delay"),
    )


def _post(emulator: Emulator, route: str, data: dict[str, Any]) -> Any:  # noqa: PLR0911 - a route each
    if route == "reset":
        emulator.reset()
        return {"ok": True}
    if route == "campaigns":
        spec = emulator.seed_campaign(_converter.structure(data, CampaignSpec))
        return {"id": spec.id}
    if route == "participants":
        email = data.pop("email")
        participant = emulator.add_participant(email, **data)
        return {
            "id": participant.id,
            "code": participant.code,
            "referral_link": participant.referral_link,
        }
    if route == "views":
        return {
            "total_views": emulator.record_views(
                int(data["count"]), campaign_id=data.get("campaign_id")
            )
        }
    if route == "actions":
        row_id = emulator.record_action(
            data["external_id"], data["action"], data["referrer_code"],
            campaign_id=data.get("campaign_id"),
        )  # fmt: skip
        return {"id": row_id}
    if route == "hidden":
        count = emulator.hide_participants(
            list(data["emails"]), hidden=bool(data.get("hidden", True)),
            campaign_id=data.get("campaign_id"),
        )  # fmt: skip
        return {"hidden": count}
    if route == "faults":
        if "rate" in data:
            kinds = [_fault(k) if isinstance(k, dict) else k for k in data["kinds"]]
            emulator.inject_fault_rate(
                float(data["rate"]), kinds, methods=data.get("methods"), seed=data.get("seed")
            )
            return {"ok": True}
        emulator.inject_fault(
            _fault(data),
            method=data.get("method"),
            call=data.get("call"),
            email=data.get("email"),
            times=data.get("times", 1),
        )
        return {"ok": True}
    raise KeyError(route)


def handle_control(  # noqa: PLR0911  # one return per route
    emulator: Emulator, http_method: str, route: str, body: bytes
) -> Outcome:
    """Answer a control-plane request for *route* (the path after ``/_control/``)."""
    try:
        if http_method == "GET" and route == "snapshot":
            return _ok(emulator.snapshot())
        if http_method == "GET" and route == "journal":
            return _ok([entry.as_dict() for entry in emulator.journal])
        if http_method == "DELETE" and route == "faults":
            emulator.clear_faults()
            return _ok({"ok": True})
        if http_method == "POST":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise TypeError("expected a JSON object")
            return _ok(_post(emulator, route, data))
    except KeyError as exc:
        if exc.args == (route,):
            return Outcome(404, _JSON, json.dumps({"error": f"no route {route}"}).encode())
        return Outcome(400, _JSON, json.dumps({"error": f"missing {exc}"}).encode())
    except (ValueError, TypeError, LookupError, cattrs.BaseValidationError) as exc:
        return Outcome(400, _JSON, json.dumps({"error": str(exc)}).encode())
    return Outcome(404, _JSON, json.dumps({"error": f"no route {http_method} {route}"}).encode())
