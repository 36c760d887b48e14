"""Referral attribution for web apps: keep ``?iref=CODE`` and credit the referrer at signup.

The guide (``newSignup``, "Note"): a signup made from server-side code credits its referrer
only if you pass the code of the referral link the visitor came with. These middlewares read
it from the landing page's query string (``iref``), keep it in a first-party cookie
(``vsu_referrer_hash``, the one iRefer's own script uses) and `referral_code` reads it back:

* ASGI (FastAPI, Starlette): `ReferralMiddleware`
* WSGI (Django, Flask): `WSGIReferralMiddleware`
* aiohttp: `aiohttp_referral_middleware`

```python
client.new_signup(email, referrer_code=referral_code(request))
```

The ASGI and WSGI parts import no framework; the aiohttp one imports aiohttp when built.
"""

from __future__ import annotations

from ._aiohttp import aiohttp_referral_middleware
from ._asgi import ReferralMiddleware
from ._core import (
    CODE_PATTERN,
    DEFAULT_COOKIE,
    DEFAULT_MAX_AGE,
    DEFAULT_PARAM,
    SCOPE_KEY,
    Attribution,
    is_referral_code,
)
from ._request import referral_code
from ._wsgi import WSGIReferralMiddleware

__all__ = [
    "CODE_PATTERN",
    "DEFAULT_COOKIE",
    "DEFAULT_MAX_AGE",
    "DEFAULT_PARAM",
    "SCOPE_KEY",
    "Attribution",
    "ReferralMiddleware",
    "WSGIReferralMiddleware",
    "aiohttp_referral_middleware",
    "is_referral_code",
    "referral_code",
]
