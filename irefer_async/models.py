"""Every result model of the API (frozen attrs classes, JSON kept in ``raw``) and their enums.

The results are at the package's top level too; the enums of a `Reward`'s fields live here
only (``from irefer_async.models import RewardTo``). Enums are open: an unknown value is kept.
"""

from __future__ import annotations

from ._models import (
    CampaignStats,
    LeadSource,
    NewSignup,
    NewSpecificAction,
    Referrer,
    ReferrerStats,
    Reward,
    RewardDelivery,
    RewardGoalType,
    RewardQuantity,
    RewardTo,
    SpecificActionSignup,
    TriggeredReward,
)

__all__ = [
    "CampaignStats",
    "LeadSource",
    "NewSignup",
    "NewSpecificAction",
    "Referrer",
    "ReferrerStats",
    "Reward",
    "RewardDelivery",
    "RewardGoalType",
    "RewardQuantity",
    "RewardTo",
    "SpecificActionSignup",
    "TriggeredReward",
]
