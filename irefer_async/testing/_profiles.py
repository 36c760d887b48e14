"""Service profiles: how the emulated service differs from the 2018 guide it follows.

The SDK, and the emulator, were written from one guide (June 2018); the real service has moved
since. A :class:`ServiceProfile` says what to change in the emulator's answers so tests (and
``irefer doctor``) can meet a service that is not the guide's:

* ``"2018"`` (the default): the guide, unchanged;
* ``"2019"``: iRefer's May 2019 change (no sign-up form, no "specific action URL"):
  ``newSignup`` and ``newSpecificAction`` are gone (an HTML 404 page) and
  ``specificActionSignups`` answers its error body whatever the credentials;
* ``"drifted"``: the wire format moved: ``campaignStats`` has an extra
  ``instagram_referrals``, ``referrers`` rows call ``referrals_count`` ``referral_count``,
  and ``referrerStats`` sends ``referrals_made`` as a string.

Select one with ``Emulator(profile="2019")``, ``@pytest.mark.irefer_emulator(profile="2019")``
or ``irefer emulator --profile 2019``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ._outcome import StreamedBody

__all__ = ["PROFILES", "ServiceProfile", "get_profile"]


@attrs.frozen
class ServiceProfile:
    """What the emulated service does differently from the 2018 guide."""

    #: The profile's name (``"2018"``, ``"2019"``, ``"drifted"``).
    name: str
    #: One line saying what differs.
    description: str
    #: API methods that are gone: answered with an HTML 404 page.
    gone: frozenset[str] = frozenset()
    #: API methods that answer their error body (``..._err_401``) to every request.
    refused: frozenset[str] = frozenset()
    #: Per API method: fields added to every object answered, with their value.
    extra_fields: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    #: Per API method: fields sent under another name (old name -> new name).
    renamed_fields: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    #: Per API method: number fields sent as strings.
    stringified: Mapping[str, frozenset[str]] = attrs.field(factory=dict)

    def rewrite(self, method: str, body: bytes | StreamedBody) -> bytes | StreamedBody:
        """Apply this profile's wire changes to a successful answer of ``method``.

        A streamed list body is returned as is when nothing changes, else rewritten whole.
        """
        extra = self.extra_fields.get(method, {})
        renamed = self.renamed_fields.get(method, {})
        stringified = self.stringified.get(method, frozenset())
        if not (extra or renamed or stringified):
            return body
        data = json.loads(bytes(body))
        for obj in data if isinstance(data, list) else [data]:
            if not isinstance(obj, dict) or "error" in obj:
                continue
            for old, new in renamed.items():
                if old in obj:
                    obj[new] = obj.pop(old)
            for name in stringified:
                if isinstance(obj.get(name), int):
                    obj[name] = str(obj[name])
            obj.update(extra)
        from ._wire import dump  # noqa: PLC0415 - the one serialiser's escaping

        return dump(data)


GUIDE_2018 = ServiceProfile("2018", "the June 2018 guide, unchanged")
CHANGE_2019 = ServiceProfile(
    "2019",
    "May 2019: sign-up and specific-action endpoints removed",
    gone=frozenset({"newSignup", "newSpecificAction"}),
    refused=frozenset({"specificActionSignups"}),
)
DRIFTED = ServiceProfile(
    "drifted",
    "wire format drift: an extra field, a renamed field, a number sent as a string",
    extra_fields={"campaignStats": {"instagram_referrals": 0}},
    renamed_fields={"referrers": {"referrals_count": "referral_count"}},
    stringified={"referrerStats": frozenset({"referrals_made"})},
)

#: Every built-in profile by name.
PROFILES: Mapping[str, ServiceProfile] = {p.name: p for p in (GUIDE_2018, CHANGE_2019, DRIFTED)}


def get_profile(profile: str | ServiceProfile) -> ServiceProfile:
    """Return ``profile`` itself, or the built-in profile of that name (ValueError if none)."""
    if isinstance(profile, ServiceProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        names = ", ".join(PROFILES)
        raise ValueError(f"unknown service profile {profile!r}; expected one of {names}") from None
