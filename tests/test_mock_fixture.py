"""The `mock` fixture (tests/conftest.py) does what its docstring says."""

from __future__ import annotations

import httpx
import pytest
import respx
from helpers import BASE


async def test_a_request_no_route_matches_fails(mock: respx.MockRouter) -> None:
    mock.get("campaignStats").respond(json={})
    async with httpx.AsyncClient() as http:
        with pytest.raises(respx.models.AllMockedAssertionError):
            await http.get(BASE + "rewards")
        assert (await http.get(BASE + "campaignStats")).status_code == 200


async def test_a_route_never_hit_does_not_fail_the_test(mock: respx.MockRouter) -> None:
    # Were the fixture to assert every route called, its teardown would error this test.
    route = mock.get(path__regex=r".*").respond(json={})
    assert route.call_count == 0
