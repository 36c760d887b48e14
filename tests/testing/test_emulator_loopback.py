"""Over a real loopback socket (uvicorn): the API, real dropped and stalled connections, the
HTTP control plane, and the ASGI app under ``httpx.ASGITransport``. Kept few and fast."""

from __future__ import annotations

import httpx
import pytest

from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_LICENSE_KEY,
    Emulator,
    EmulatorFixture,
    Fault,
    WriteEffect,
)

pytest.importorskip("uvicorn")

PARAMS: dict[str, str | int] = {"campaign_id": 2605, "api_key": DEFAULT_API_KEY}


async def test_serve_faults_and_control_plane() -> None:
    emulator = Emulator(seed=0)
    async with (
        emulator.serve(port=0) as url,
        httpx.AsyncClient(
            base_url=f"{url}{DEFAULT_LICENSE_KEY}.js/", timeout=httpx.Timeout(5.0, read=0.2)
        ) as http,
    ):
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1.0/")
        response = await http.get("newSignup", params={**PARAMS, "email": "ann@example.com"})
        assert response.json()["email"] == "ann@example.com"

        emulator.inject_fault("drop_after", method="newSignup")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("newSignup", params={**PARAMS, "email": "bob@example.com"})
        assert emulator.participant("bob@example.com") is not None

        emulator.inject_fault("drop_before")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("campaignStats", params=PARAMS)

        emulator.inject_fault("timeout_before")
        with pytest.raises(httpx.ReadTimeout):
            await http.get("campaignStats", params=PARAMS)

        emulator.inject_fault(Fault("slow_trickle", delay=0.0))
        assert (await http.get("campaignStats", params=PARAMS)).json()["signups_total"] == 2

        emulator.inject_fault(Fault("http_429", retry_after="1"))
        response = await http.get("campaignStats", params=PARAMS)
        assert (response.status_code, response.headers["retry-after"]) == (429, "1")

        control = url.replace("/v1.0/", "/_control/")
        await http.post(
            control + "faults",
            json={"kind": "http_5xx_before", "status": 502, "method": "referrers"},
        )
        assert (await http.get("referrers", params=PARAMS)).status_code == 502
        await http.post(control + "views", json={"count": 4})
        snapshot = (await http.get(control + "snapshot")).json()
        assert snapshot["campaigns"][0]["total_views"] == 4
        journal = (await http.get(control + "journal")).json()
        assert journal[0]["effect"] == "participant_created"
        assert DEFAULT_API_KEY not in str(journal)
        assert (await http.post(control + "reset")).json() == {"ok": True}
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 0
    async with httpx.AsyncClient() as http:  # the server, and its connections, are gone
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_client_over_loopback() -> None:
    emulator = Emulator(seed=0)
    async with emulator.serve() as url:
        client = emulator.client(base_url=url, transport=httpx.AsyncHTTPTransport())
        async with client:
            emulator.inject_fault("drop_after", method="newSignup", call=1)
            signup = await client.new_signup("ann@example.com")
            assert signup.email == "ann@example.com"
            assert len(await client.referrers()) == 1


async def test_asgi_app_under_asgi_transport() -> None:
    emulator = Emulator(seed=0)
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://irefer.test") as http:
        response = await http.get(
            f"/v1.0/{DEFAULT_LICENSE_KEY}.js/newSignup", params={**PARAMS, "email": "a@x.io"}
        )
        assert response.json()["email"] == "a@x.io"
        response = await http.post("/_control/participants", json={"email": "b@x.io", "name": "B"})
        assert len(response.json()["code"]) == 8
        response = await http.post(
            "/_control/campaigns",
            json={
                "id": 77,
                "name": "Second",
                "license_key": "W4qL" + "7" * 28,
                "api_key": "k77",
                "rewards": [{"signups_count": 2, "heading": "Pair", "delivery": "EACHTIME"}],
                "actions": [{"page": "/done", "match": "contains"}],
            },
        )
        assert response.json() == {"id": 77}
        response = await http.post(
            "/_control/faults", json={"rate": 1.0, "kinds": ["null_body"], "methods": ["rewards"]}
        )
        assert response.status_code == 200
        assert (await http.post("/_control/participants", json={})).status_code == 400
        assert (await http.post("/_control/nope", json={})).status_code == 404
        assert (await http.delete("/_control/faults")).status_code == 200
    spec = emulator._specs[77]
    assert spec.rewards[0].heading == "Pair"
    assert spec.actions[0].page == "/done"


@pytest.mark.parametrize(
    ("kind", "exc"),
    [("drop_after", httpx.RemoteProtocolError), ("timeout_before", httpx.ReadTimeout)],
)
async def test_asgi_transport_connection_faults(kind: str, exc: type[Exception]) -> None:
    emulator = Emulator(seed=0)
    emulator.inject_fault(kind, method="newSignup")
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://irefer.test") as http:
        with pytest.raises(exc):
            await http.get(
                f"/v1.0/{DEFAULT_LICENSE_KEY}.js/newSignup", params={**PARAMS, "email": "a@x.io"}
            )
    assert (emulator.participant("a@x.io") is not None) is (kind == "drop_after")


async def test_fixture_serves_over_loopback(irefer_emulator: EmulatorFixture) -> None:
    async with irefer_emulator.serve() as url, httpx.AsyncClient() as http:
        control = url.replace("/v1.0/", "/_control/")
        assert (await http.get(control + "snapshot")).json()["requests"] == 0
