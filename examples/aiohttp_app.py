"""An aiohttp web app that calls iRefer through ONE client, managed by ``cleanup_ctx``.

``cleanup_ctx`` runs the code before ``yield`` at startup and the code after it at cleanup,
so the client is opened once and closed once, even when startup fails half-way. Never build
a client per request: it would open a connection and a rate limiter per request.

Run it (credentials from the environment)::

    export IREFER_LICENSE_KEY=W4qL... IREFER_API_KEY=... IREFER_CAMPAIGN_ID=2605
    pip install irefer-async aiohttp
    python examples/aiohttp_app.py          # listens on 127.0.0.1:8080 only

Try it without credentials: run ``irefer emulator`` and paste the lines it prints first.
Then, from another shell, its two routes (``--json``: curl 7.82 or later)::

    curl --json '{"email": "ann@example.com", "name": "Ann"}' http://127.0.0.1:8080/signups
    # 201 {"email": "ann@example.com", "referral_link": "..."}; 409 when Ann is already in
    curl http://127.0.0.1:8080/referrers/ann@example.com/stats
    # 200 {"email": "ann@example.com", "referrals_made": 0}; 404 for an unknown email
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from irefer_async import APIError, InvalidRequestError, IReferClient, IReferError

#: Where the app keeps its client (a typed key: ``request.app[IREFER]`` is an IReferClient).
IREFER = web.AppKey("irefer", IReferClient)


async def create_signup(request: web.Request) -> web.Response:
    """``POST /signups`` with a JSON body ``{"email": ..., "name": ..., "referrer_code": ...}``."""
    try:
        body = await request.json()
    except ValueError:  # not JSON: the client's mistake, not a server error
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    irefer = request.app[IREFER]
    try:
        signup = await irefer.new_signup(
            body.get("email", ""), name=body.get("name"), referrer_code=body.get("referrer_code")
        )
    except InvalidRequestError as exc:
        return web.json_response({"error": exc.message}, status=422)
    except APIError as exc:
        return web.json_response({"error_code": exc.error_code}, status=409)
    except IReferError as exc:
        return web.json_response(
            {"error": type(exc).__name__, "correlation_id": exc.correlation_id}, status=502
        )
    return web.json_response(
        {"email": signup.email, "referral_link": signup.referral_link}, status=201
    )


async def referrer_stats(request: web.Request) -> web.Response:
    """``GET /referrers/{email}/stats``."""
    irefer = request.app[IREFER]
    try:
        stats = await irefer.referrer_stats(request.match_info["email"])
    except APIError:
        return web.json_response({"error": "no such participant"}, status=404)
    except IReferError as exc:
        return web.json_response(
            {"error": type(exc).__name__, "correlation_id": exc.correlation_id}, status=502
        )
    return web.json_response(
        {"email": stats.email, "referrals_made": stats.referrals_made}, status=200
    )


def create_app(**client_options: Any) -> web.Application:
    """Build the app; ``client_options`` go to :class:`IReferClient` (tests pass a transport)."""

    async def irefer_client(app: web.Application) -> AsyncIterator[None]:
        options = {"campaign_id": os.environ.get("IREFER_CAMPAIGN_ID"), **client_options}
        async with IReferClient(**options) as client:
            app[IREFER] = client
            yield

    app = web.Application()
    app.cleanup_ctx.append(irefer_client)
    app.router.add_post("/signups", create_signup)
    app.router.add_get("/referrers/{email}/stats", referrer_stats)
    return app


if __name__ == "__main__":
    # Loopback only: put a reverse proxy in front to serve other hosts.
    web.run_app(create_app(), host="127.0.0.1", port=8080)
