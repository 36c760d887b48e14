"""The API's contract as data: the endpoint table and the checks the client applies.

Every API method the SDK calls is one `Endpoint` in `ENDPOINTS` (by API method name): its
result type, its parameters (each with its check) and, for a write, how an ambiguous attempt
is reconciled. The client, the bulk engine, the CLI, the doctor and the emulator all read
this one table. The checks raise the errors the client raises, before any request:

```python
from irefer_async.endpoints import ENDPOINTS, build_params

build_params(ENDPOINTS["referrerStats"], "2605", {"email": "ann@example.com"})
# {'campaign_id': '2605', 'email': 'ann@example.com'}
```

Nothing here holds or returns a secret: ``api_key`` is never part of the parameters.
"""

from __future__ import annotations

from ._config import DEFAULT_BASE_URL
from ._config import api_key as check_api_key
from ._config import base_url as check_base_url
from ._config import license_key as check_license_key
from ._endpoints import (
    CAMPAIGN_STATS,
    ENDPOINTS,
    NEW_SIGNUP,
    NEW_SPECIFIC_ACTION,
    REFERRER_STATS,
    REFERRERS,
    REWARDS,
    SPECIFIC_ACTION_SIGNUPS,
    WRITES,
    Endpoint,
    Param,
    build_params,
    check_campaign_id,
    check_params,
)
from ._models import referral_code_of

__all__ = [
    "CAMPAIGN_STATS",
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "NEW_SIGNUP",
    "NEW_SPECIFIC_ACTION",
    "REFERRERS",
    "REFERRER_STATS",
    "REWARDS",
    "SPECIFIC_ACTION_SIGNUPS",
    "WRITES",
    "Endpoint",
    "Param",
    "build_params",
    "check_api_key",
    "check_base_url",
    "check_campaign_id",
    "check_license_key",
    "check_params",
    "referral_code_of",
]
