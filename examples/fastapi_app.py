"""A FastAPI service that calls iRefer through ONE client, opened in the lifespan.

Why one client: an :class:`IReferClient` owns the connection pool, the rate limiter and the
concurrency cap. A client per request would open a new connection every time, and every
request would get its own rate limit, so the service as a whole would not be limited at all.

Run it (credentials from the environment, never from code)::

    export IREFER_LICENSE_KEY=W4qL... IREFER_API_KEY=... IREFER_CAMPAIGN_ID=2605
    pip install 'irefer-async' fastapi uvicorn
    uvicorn examples.fastapi_app:app

Every SDK call made while handling a request uses the request's ``X-Request-ID`` as its
correlation id, so the SDK's log lines and errors can be matched with your access log.

The stats page is built for a busy service (see ``docs/concepts/limits.md``): the client's
deadline is the page's budget, so a view that cannot get an answer in time (the rate limit
is busy) fails fast and the page answers "degraded" instead of hanging; identical reads in
flight share one request (on by default); a 5-second cache answers repeated views of the
same participant, and ``as_of`` tells how old the answer is.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from irefer_async import (
    APIError,
    CacheConfig,
    DeadlineExceededError,
    InvalidRequestError,
    IReferClient,
    IReferError,
    QueueFullError,
    RetryConfig,
    correlation_scope,
)

#: Seconds a page may take; the SDK's deadline covers its queue, retries and the request.
PAGE_BUDGET = 1.0
#: The recommended client for pages that read stats.
STATS_PAGE_OPTIONS: dict[str, Any] = {
    "retry": RetryConfig(deadline=PAGE_BUDGET, attempts=2, wait_initial=0.1, wait_max=0.3),
    "share_reads": True,  # the default: identical reads in flight share one request
    "cache": CacheConfig(ttl=5.0),  # an answer up to 5 s old is fine on this page
}

router = APIRouter()


def get_irefer(request: Request) -> IReferClient:
    """Return the application's one client (the dependency; opened by the lifespan)."""
    client: IReferClient = request.app.state.irefer
    return client


Irefer = Annotated[IReferClient, Depends(get_irefer)]


class SignupIn(BaseModel):
    """The body of ``POST /signups``."""

    email: str
    name: str | None = None
    referrer_code: str | None = None


def _http_error(exc: IReferError) -> HTTPException:
    # Map SDK errors to HTTP answers; never echo the SDK message to clients verbatim.
    if isinstance(exc, InvalidRequestError):
        return HTTPException(422, detail=exc.message)
    if isinstance(exc, APIError):  # iRefer refused the input (unknown email, duplicate...)
        return HTTPException(409, detail={"error_code": exc.error_code})
    # Network trouble, 5xx, rate limit, outcome unknown: a gateway problem for our caller.
    return HTTPException(
        502, detail={"error": type(exc).__name__, "correlation_id": exc.correlation_id}
    )


@router.post("/signups", status_code=201)
async def create_signup(body: SignupIn, irefer: Irefer) -> dict[str, Any]:
    """Register a participant and return their referral link."""
    try:
        signup = await irefer.new_signup(
            body.email, name=body.name, referrer_code=body.referrer_code
        )
    except IReferError as exc:
        raise _http_error(exc) from None
    return {"email": signup.email, "referral_link": signup.referral_link}


@router.get("/referrers/{email}/stats")
async def referrer_stats(email: str, irefer: Irefer) -> dict[str, Any]:
    """Return a participant's referral count and next reward."""
    try:
        stats = await irefer.referrer_stats(email)
    except APIError:
        raise HTTPException(404, detail="no such participant") from None
    except (DeadlineExceededError, QueueFullError):
        # Too busy to answer within the page's budget: degrade instead of hanging.
        return {"email": email, "referrals_made": None, "reward_next": None, "degraded": True}
    except IReferError as exc:
        raise _http_error(exc) from None
    return {
        "email": stats.email,
        "referrals_made": stats.referrals_made,
        "reward_next": stats.reward_next,
        "as_of": stats.fetched_at.isoformat() if stats.fetched_at else None,
    }


def create_app(**client_options: Any) -> FastAPI:
    """Build the app; ``client_options`` go to :class:`IReferClient` (tests pass a transport)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opened once at startup, closed once at shutdown; shared by every request.
        options = {
            "campaign_id": os.environ.get("IREFER_CAMPAIGN_ID"),
            **STATS_PAGE_OPTIONS,
            **client_options,
        }
        async with IReferClient(**options) as client:
            app.state.irefer = client
            yield

    app = FastAPI(title="referrals", lifespan=lifespan)
    app.include_router(router)

    @app.middleware("http")
    async def bind_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        with correlation_scope(request.headers.get("x-request-id")) as cid:
            response = await call_next(request)
        response.headers["x-request-id"] = cid
        return response

    return app


app = create_app()
