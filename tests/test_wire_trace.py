"""The wire (httpcore's ``trace`` extension) is followed only until the request starts to leave.

After ``send_request_headers.started`` there is nothing more to learn, so the extension is
dropped from the request and httpcore stops tracing its later steps (each traced step costs
the client CPU on every call).
"""

from __future__ import annotations

from typing import Any

import httpx
import samples
from misbehaving_server import misbehaving

from irefer_async._transport import Wire


class _Seen(Wire):
    __slots__ = ("names",)

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    async def __call__(self, name: str, info: Any) -> None:
        self.names.append(name)
        await super().__call__(name, info)


async def test_the_wire_stops_being_traced_once_the_request_leaves() -> None:
    async with misbehaving("hold", samples.REFERRER_STATS) as server, httpx.AsyncClient() as http:
        wire = _Seen()
        request = http.build_request("GET", server.url + "x", extensions={"trace": wire})
        response = await http.send(request)
    assert response.status_code == 200
    assert wire.sent and wire.connecting and not wire.never_sent
    assert wire.names[-2:] == [
        "http11.send_request_headers.started",
        "http11.send_request_headers.complete",
    ], wire.names
    assert any(name.startswith("connection.connect_tcp") for name in wire.names)
