"""Helpers for the emulator's tests (a module name no other conftest can shadow)."""

from __future__ import annotations

from typing import Any

import httpx

from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, DEFAULT_LICENSE_KEY

BASE = f"http://irefer.test/v1.0/{DEFAULT_LICENSE_KEY}.js/"


class Raw:
    """Calls the emulator over httpx with the default campaign's credentials."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, method: str, **params: Any) -> httpx.Response:
        query = {"campaign_id": DEFAULT_CAMPAIGN_ID, "api_key": DEFAULT_API_KEY, **params}
        query = {k: v for k, v in query.items() if v is not None}
        return await self.http.get(method, params=query)

    async def json(self, method: str, **params: Any) -> Any:
        response = await self.get(method, **params)
        assert response.status_code == 200
        return response.json()
