"""A FastAPI webhook receiver for ``irefer watch --forward``: verify, dedup, act once.

``irefer watch`` delivers at least once, so the same event (same ``id``) can arrive twice:
after a receiver's answer was lost, or after the watcher restarted mid-delivery. This
receiver makes that harmless: it verifies the signature (and the replay window), then records
the event id and its effect in ONE SQLite transaction, so a repeat is answered 200 and ignored.

Run it next to the watcher (the same secret in both environments)::

    export IREFER_WEBHOOK_SECRET=$(python -c "import secrets; print(secrets.token_hex(32))")
    uvicorn examples.feed_receiver:app --port 8000
    irefer watch --forward http://127.0.0.1:8000/irefer/events --type reward.triggered
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from irefer_async.feed import SignatureError, event_from_json, verify_signature


def send_coupon(email: str, reward: str) -> str:
    """Your side effect (here: a coupon code, stored with the event in one transaction)."""
    return f"COUPON-{abs(hash((email, reward))) % 10**8:08d}"


def create_app(*, secret: str | None = None, db_path: str = "receiver.sqlite") -> FastAPI:
    """Build the receiver; *secret* defaults to ``IREFER_WEBHOOK_SECRET``."""
    key = secret or os.environ.get("IREFER_WEBHOOK_SECRET", "")
    if not key:
        raise RuntimeError("set IREFER_WEBHOOK_SECRET (the secret irefer watch signs with)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        db.execute(
            "CREATE TABLE IF NOT EXISTS handled (id TEXT PRIMARY KEY, type TEXT, result TEXT)"
        )
        app.state.db = db
        yield
        db.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/irefer/events")
    async def receive(request: Request) -> dict[str, Any]:
        body = await request.body()  # the raw bytes: the signature covers them exactly
        try:
            verify_signature(body, request.headers.get("x-irefer-signature"), key)
        except SignatureError as exc:
            raise HTTPException(status_code=401, detail=str(exc)) from None
        event = event_from_json(body)
        db: sqlite3.Connection = request.app.state.db
        db.execute("BEGIN IMMEDIATE")
        try:
            seen = db.execute("SELECT result FROM handled WHERE id = ?", (event.id,)).fetchone()
            if seen is not None:
                db.execute("COMMIT")
                return {"id": event.id, "duplicate": True, "result": seen[0]}
            result = None
            if event.type == "reward.triggered":
                reward = event.row
                result = send_coupon(reward.recipient_email, reward.reward_heading)
            db.execute("INSERT INTO handled VALUES (?, ?, ?)", (event.id, event.type, result))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return {"id": event.id, "duplicate": False, "result": result}

    return app


if os.environ.get("IREFER_WEBHOOK_SECRET"):
    app = create_app()
