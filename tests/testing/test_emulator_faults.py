"""Each fault kind through the in-process transport, and how faults are scripted."""

from __future__ import annotations

import json

import httpx
import pytest
from _emulator_helpers import Raw

from irefer_async.testing import Emulator, Fault, FaultKind, WriteEffect


def participants(emulator: Emulator) -> int:
    return len(emulator.snapshot()["campaigns"][0]["participants"])


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_before_does_not_write(raw: Raw, emulator: Emulator, status: int) -> None:
    emulator.inject_fault(Fault("http_5xx_before", status=status), method="newSignup")
    response = await raw.get("newSignup", email="a@x.io")
    assert response.status_code == status
    assert participants(emulator) == 0
    assert emulator.journal[0].fault is FaultKind.HTTP_5XX_BEFORE


async def test_5xx_after_writes(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("http_5xx_after", method="newSignup")
    response = await raw.get("newSignup", email="a@x.io")
    assert response.status_code == 503
    assert participants(emulator) == 1
    assert emulator.journal[0].effect is WriteEffect.PARTICIPANT_CREATED


def test_5xx_status_checked() -> None:
    with pytest.raises(ValueError, match="5xx"):
        Fault("http_5xx_before", status=418)


async def test_429_with_and_without_retry_after(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_faults([Fault("http_429", retry_after="3"), "http_429"])
    first, second = await raw.get("campaignStats"), await raw.get("campaignStats")
    assert (first.status_code, first.headers["retry-after"]) == (429, "3")
    assert second.status_code == 429
    assert "retry-after" not in second.headers
    assert (await raw.get("campaignStats")).status_code == 200


async def test_null_body(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("null_body", method="newSignup")
    response = await raw.get("newSignup", email="a@x.io")
    assert (response.status_code, response.content) == (200, b"null")
    assert participants(emulator) == 0


async def test_truncated_json_writes(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("truncated_json", method="newSignup")
    response = await raw.get("newSignup", email="a@x.io")
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert response.content.startswith(b'{"campaign_name"')
    assert participants(emulator) == 1


async def test_html_page(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_faults(["html_page", Fault("html_page", status=502)])
    first, second = await raw.get("campaignStats"), await raw.get("campaignStats")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert b"<html>" in first.content
    assert second.status_code == 502


async def test_error_body_for_valid_input(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("error_body", method="newSignup")
    body = await raw.json("newSignup", email="a@x.io")
    assert body["error_code"] == "irefer_api_newSignup_err_401"
    assert participants(emulator) == 0
    assert emulator.journal[0].error_code == "irefer_api_newSignup_err_401"


async def test_latency(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault(Fault("latency", delay=0.001), method="newSignup")
    assert (await raw.get("newSignup", email="a@x.io")).status_code == 200
    assert emulator.journal[0].fault is FaultKind.LATENCY
    assert participants(emulator) == 1


@pytest.mark.parametrize(
    ("kind", "exc", "written"),
    [
        ("drop_before", httpx.RemoteProtocolError, 0),
        ("drop_after", httpx.RemoteProtocolError, 1),
        ("timeout_before", httpx.ReadTimeout, 0),
        ("timeout_after", httpx.ReadTimeout, 1),
        ("connect_refused", httpx.ConnectError, 0),
        ("connect_timeout", httpx.ConnectTimeout, 0),
    ],
)
async def test_connection_faults_raise_httpx_errors(
    raw: Raw, emulator: Emulator, kind: str, exc: type[Exception], written: int
) -> None:
    emulator.inject_fault(kind, method="newSignup")
    with pytest.raises(exc) as info:
        await raw.get("newSignup", email="a@x.io")
    assert isinstance(info.value, httpx.RequestError)
    assert info.value.request.url.path.endswith("/newSignup")
    assert participants(emulator) == written
    assert emulator.journal[0].status is None


async def test_slow_trickle_streams_full_body(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault(Fault("slow_trickle", delay=0), method="campaignStats")
    async with raw.http.stream(
        "GET",
        "campaignStats",
        params={"campaign_id": 2605, "api_key": emulator.default_campaign.api_key},
    ) as response:
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert len(chunks) > 10
    assert max(map(len, chunks)) <= 8
    assert json.loads(b"".join(chunks))["campaign_name"] == "My referral campaign"


async def test_call_number_targets_nth_call_of_method(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("http_5xx_before", method="campaignStats", call=[2, 3])
    statuses = [(await raw.get("campaignStats")).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert [e.call for e in emulator.journal] == [1, 2, 3, 4]


async def test_email_targets_email_and_external_id(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("null_body", email="Target@x.io", times=None)
    assert (await raw.get("newSignup", email="other@x.io")).content != b"null"
    assert (await raw.get("newSignup", email="target@x.io")).content == b"null"
    ann = emulator.participant("other@x.io")
    assert ann is not None
    response = await raw.get(
        "newSpecificAction", external_id="target@x.io", action="/dashboard", referrer_code=ann.code
    )
    assert response.content == b"null"


async def test_times_limits_rule(raw: Raw, emulator: Emulator) -> None:
    rule = emulator.inject_fault("null_body", times=2)
    bodies = [(await raw.get("campaignStats")).content for _ in range(3)]
    assert bodies[:2] == [b"null", b"null"]
    assert bodies[2] != b"null"
    assert rule.remaining == 0


async def test_sequence_with_passes(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_faults(["null_body", None, "http_5xx_before"], method="campaignStats")
    await raw.get("referrers")  # other methods are not consumed
    statuses = [(await raw.get("campaignStats")).content[:4] for _ in range(4)]
    assert statuses[0] == b"null"
    assert statuses[1].startswith(b"{")
    assert statuses[2] == b"503 "
    assert statuses[3].startswith(b"{")


async def test_clear_faults(raw: Raw, emulator: Emulator) -> None:
    emulator.inject_fault("null_body", times=None)
    emulator.clear_faults()
    assert (await raw.get("campaignStats")).status_code == 200


async def _rate_run(seed: int) -> list[FaultKind | None]:
    emulator = Emulator(seed=seed)
    emulator.inject_fault_rate(0.5, ["http_5xx_before", "null_body"], methods=["campaignStats"])
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        url = f"http://x/v1.0/{emulator.default_campaign.license_key}.js/"
        params: dict[str, str | int] = {
            "campaign_id": 2605,
            "api_key": emulator.default_campaign.api_key,
        }
        for _ in range(40):
            await http.get(url + "campaignStats", params=params)
            await http.get(url + "referrers", params=params)
    assert all(e.fault is None for e in emulator.journal.entries("referrers"))
    return [e.fault for e in emulator.journal.entries("campaignStats")]


async def test_rate_is_seeded_and_deterministic() -> None:
    run = await _rate_run(1)
    assert run == await _rate_run(1)
    assert run != await _rate_run(2)
    hits = sum(1 for f in run if f is not None)
    assert 8 < hits < 32
    assert {f for f in run if f} == {FaultKind.HTTP_5XX_BEFORE, FaultKind.NULL_BODY}


def test_rate_validation() -> None:
    emulator = Emulator()
    with pytest.raises(ValueError, match="rate"):
        emulator.inject_fault_rate(1.5, ["null_body"])
    with pytest.raises(ValueError, match="kind"):
        emulator.inject_fault_rate(0.5, [])
    with pytest.raises(ValueError, match="no_such_kind"):
        emulator.inject_fault("no_such_kind")


def test_applies_write_table() -> None:
    applied = {k.value for k in FaultKind if k.applies_write}
    assert applied == {
        "http_5xx_after",
        "truncated_json",
        "latency",
        "drop_after",
        "timeout_after",
        "slow_trickle",
        "held",
        "held_drop",
        "trickle_forever",
        "server_clock",
        "slow_list",
    }


async def test_journal_times_use_the_loop_clock(raw: Raw, emulator: Emulator) -> None:
    import asyncio

    before = asyncio.get_running_loop().time()
    for _ in range(3):
        await raw.get("campaignStats")
    times = [e.at for e in emulator.journal]
    assert before <= times[0] <= times[1] <= times[2] <= asyncio.get_running_loop().time()
    assert [e.seq for e in emulator.journal] == [1, 2, 3]


async def test_latency_past_read_timeout_times_out_but_still_writes(emulator: Emulator) -> None:
    import asyncio

    from _emulator_helpers import BASE

    emulator.inject_fault(Fault("latency", delay=0.05), method="newSignup")
    timeout = httpx.Timeout(1.0, read=0.01)
    transport = emulator.transport()
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=timeout) as http:
        with pytest.raises(httpx.ReadTimeout):
            await Raw(http).get("newSignup", email="a@x.io")
        assert emulator.participant("a@x.io") is None  # still "on the server"
        await asyncio.gather(*transport._pending)  # type: ignore[attr-defined]
    assert emulator.participant("a@x.io") is not None
    assert emulator.journal[0].effect is WriteEffect.PARTICIPANT_CREATED


async def test_trickle_gap_past_read_timeout(emulator: Emulator) -> None:
    from _emulator_helpers import BASE

    emulator.inject_fault(Fault("slow_trickle", delay=5.0), method="campaignStats")
    timeout = httpx.Timeout(1.0, read=0.01)
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=BASE, timeout=timeout
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await Raw(http).get("campaignStats")


async def test_cancelled_request_leaves_no_task_behind(emulator: Emulator) -> None:
    import asyncio

    from _emulator_helpers import BASE

    emulator.inject_fault(Fault("latency", delay=10.0), method="newSignup")
    transport = emulator.transport()
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        task = asyncio.ensure_future(Raw(http).get("newSignup", email="a@x.io"))
        while not emulator.journal:  # noqa: ASYNC110 - waits for arrival, not for time
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
    assert not transport._pending  # type: ignore[attr-defined]
    assert emulator.participant("a@x.io") is None
