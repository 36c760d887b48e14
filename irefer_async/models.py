"""Every result model of the API, and the enums of their fields. Part of the core.

The results the client returns are at the package's top level too (`irefer_async.Referrer`...);
the enums of a `Reward`'s fields live here only:

```python
from irefer_async.models import RewardTo

if reward.reward_to is RewardTo.REFERRER:
    ...
```

Models are frozen attrs classes named and typed as the API names them; each keeps its JSON
object in ``raw``. Enums are open: a value the SDK does not know is kept, not refused.
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
