"""What satellites read of the core, in public: the client's views and the decoding hook."""

from __future__ import annotations

from typing import Any

import pytest
import respx
import samples
from helpers import API_KEY, LICENSE_KEY

from irefer_async import (
    CampaignStats,
    HTTPStatusError,
    InvalidRequestError,
    IReferClient,
    MalformedResponseError,
    Redactor,
    Referrer,
)
from irefer_async.decoding import decode
from irefer_async.endpoints import CAMPAIGN_STATS, ENDPOINTS, NEW_SIGNUP, REFERRER_STATS


async def test_raw_read_returns_the_answer_as_is_and_read_json_judges_it(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    mock.get(path__regex=r"/campaignStats$").respond(json=samples.CAMPAIGN_STATS)
    response = await client.raw_read(CAMPAIGN_STATS, {})
    assert response.status_code == 200
    data = client.read_json("campaignStats", response)
    assert isinstance(decode(data, CampaignStats, method="campaignStats"), CampaignStats)


async def test_raw_read_does_not_judge_a_404_but_read_json_does(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.get(path__regex=r"/referrerStats$").respond(404, text="<html>nope</html>")
    response = await client.raw_read(REFERRER_STATS, {"email": "ann@example.com"})
    assert response.status_code == 404
    assert route.call_count == 1  # sent once: raw reads are never retried
    with pytest.raises(HTTPStatusError, match="base URL"):
        client.read_json("referrerStats", response)


async def test_raw_read_checks_parameters_and_refuses_a_write_before_any_request(
    client: IReferClient, mock: respx.MockRouter
) -> None:
    route = mock.route().respond(json={})
    with pytest.raises(InvalidRequestError, match="email is required"):
        await client.raw_read(REFERRER_STATS, {})
    with pytest.raises(InvalidRequestError, match="reads only"):
        await client.raw_read(NEW_SIGNUP, {"email": "ann@example.com"})
    assert route.call_count == 0


def test_redact_and_quote_mask_the_clients_keys_and_their_fragments() -> None:
    client = IReferClient(LICENSE_KEY, API_KEY, campaign_id=2605)
    text = f"{client.base_url}x.js?api_key={API_KEY}&frag={LICENSE_KEY[3:12]}"
    for shown in (client.redact(text), client.quote(text, 400), Redactor(API_KEY).redact(API_KEY)):
        assert API_KEY not in shown
    assert LICENSE_KEY[3:12] not in client.quote(text, 400)  # quoting masks fragments too
    assert client.base_url == "https://api.irefer.io/v1.0/"


def test_the_decode_observer_sees_the_json_before_it_is_decoded() -> None:
    seen: list[tuple[Any, Any]] = []

    class Observer:
        def observe(self, data: Any, tp: Any, /) -> None:
            seen.append((data, tp))

    rows = samples.REFERRERS
    decoded = decode(rows, tuple[Referrer, ...], method="referrers", observer=Observer())
    assert len(decoded) == len(rows)
    assert seen == [(rows, tuple[Referrer, ...])]
    with pytest.raises(MalformedResponseError):
        decode({"bad": 1}, tuple[Referrer, ...], method="referrers", observer=Observer())
    assert len(seen) == 2  # shown first, even what then fails to decode


def test_the_public_endpoint_table_is_the_clients() -> None:
    assert set(ENDPOINTS) == {
        "referrerStats", "campaignStats", "newSignup", "newSpecificAction",
        "referrers", "rewards", "specificActionSignups",
    }  # fmt: skip
    assert ENDPOINTS["campaignStats"] is CAMPAIGN_STATS
