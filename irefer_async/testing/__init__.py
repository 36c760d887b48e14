"""A stateful iRefer API emulator for tests, benchmarks and local development.

The real iRefer service has no test server, so ``irefer_async.testing`` ships one: campaigns,
participants, referral credit, rewards and specific actions that behave like the API, answered
in the API's exact wire format, with scriptable faults and a journal of every request.
A front of your own (another server, another client library's transport) needs only
`Emulator.handle`: hand it an `EmulatorRequest`, deliver the `Outcome`.

>>> from irefer_async.testing import Emulator
>>> emulator = Emulator(seed=0)
>>> client = emulator.client()            # an IReferClient wired in-process   # doctest: +SKIP
>>> emulator.inject_fault("http_5xx_after", method="newSignup", call=1)        # doctest: +ELLIPSIS
FaultRule(...)

A signup for an email already registered in the campaign creates no second participant; it is
answered with the ``newSignup`` error body (``irefer_api_newSignup_err_401``) and journalled as
`WriteEffect.DUPLICATE_REJECTED`. The pytest fixture ``irefer_emulator`` (see
`irefer_async.testing.plugin`) gives each test a fresh emulator and an open client.
"""

from __future__ import annotations

from ._clock import DEFAULT_FROZEN_TIME, Clock, FrozenClock, LoopClock, SystemClock
from ._emulator import DEFAULT_BASE_URL, Emulator
from ._faults import Fault, FaultKind, FaultRule
from ._fixture import EmulatorFixture
from ._journal import Journal, JournalEntry, WriteEffect
from ._outcome import Disruption, EmulatorRequest, Outcome
from ._profiles import PROFILES, ServiceProfile
from ._specs import (
    DEFAULT_API_KEY,
    DEFAULT_CAMPAIGN,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_LICENSE_KEY,
    ActionMatch,
    ActionRule,
    CampaignSpec,
    RewardDelivery,
    RewardQuantity,
    RewardSpec,
)
from ._state import Participant
from ._transport import EmulatorTransport

__all__ = [
    "ActionMatch",
    "ActionRule",
    "CampaignSpec",
    "Clock",
    "DEFAULT_API_KEY",
    "DEFAULT_BASE_URL",
    "DEFAULT_CAMPAIGN",
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_FROZEN_TIME",
    "DEFAULT_LICENSE_KEY",
    "Disruption",
    "Emulator",
    "EmulatorFixture",
    "EmulatorRequest",
    "EmulatorTransport",
    "Fault",
    "FaultKind",
    "FaultRule",
    "FrozenClock",
    "Journal",
    "JournalEntry",
    "LoopClock",
    "Outcome",
    "PROFILES",
    "Participant",
    "RewardDelivery",
    "RewardQuantity",
    "RewardSpec",
    "ServiceProfile",
    "SystemClock",
    "WriteEffect",
]
