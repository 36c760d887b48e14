"""Exercise `irefer_async.sync` and `irefer_async.web` for type checkers; never run by pytest.

Each ``assert_type`` pins what a user's editor infers from the sync client (the async
client's result types, plain iterators) and from the attribution helpers.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from irefer_async import (
    BulkOutcome,
    BulkSummary,
    CampaignStats,
    NewSignup,
    NewSignupRequest,
    NewSpecificAction,
    NewSpecificActionRequest,
    Referrer,
    ReferrerStats,
    SpecificActionSignup,
    TriggeredReward,
)
from irefer_async.sync import IReferClient, SyncBulkRun, SyncListStream
from irefer_async.web import (
    Attribution,
    ReferralMiddleware,
    WSGIReferralMiddleware,
    aiohttp_referral_middleware,
    referral_code,
)


def sync_client() -> None:
    with IReferClient("W4qL...", "key", campaign_id=2605) as client:
        assert_type(client, IReferClient)
        assert_type(client.referrer_stats("a@example.com"), ReferrerStats)
        assert_type(client.campaign_stats(campaign_id="2605"), CampaignStats)
        assert_type(client.new_signup("a@example.com", referrer_code="7XYu.oRD"), NewSignup)
        assert_type(
            client.new_specific_action("x", action="/dashboard", referrer_code="7XYu.oRD"),
            NewSpecificAction,
        )
        assert_type(client.referrers(), tuple[Referrer, ...])
        assert_type(client.rewards(), tuple[TriggeredReward, ...])
        assert_type(client.specific_action_signups(), tuple[SpecificActionSignup, ...])
        with client.iter_referrers() as referrers:
            assert_type(referrers, SyncListStream[Referrer])
            for referrer in referrers:
                assert_type(referrer, Referrer)
        with client.bulk_new_signups(
            [NewSignupRequest("a@example.com"), {"email": "b@example.com"}]
        ) as run:
            assert_type(run, SyncBulkRun[NewSignupRequest, NewSignup])
            for outcome in run:
                assert_type(outcome, BulkOutcome[NewSignupRequest, NewSignup])
        assert_type(run.summary, BulkSummary)
        actions = client.bulk_new_specific_actions([NewSpecificActionRequest("x", "/d", "c")])
        assert_type(actions, SyncBulkRun[NewSpecificActionRequest, NewSpecificAction])
    assert_type(client.is_closed, bool)


def web(app: Any, request: Any) -> None:
    assert_type(ReferralMiddleware(app, last_touch=True).attribution, Attribution)
    assert_type(WSGIReferralMiddleware(app, attribution=Attribution()).attribution, Attribution)
    aiohttp_referral_middleware(cookie="ref")
    assert_type(referral_code(request), str | None)
    assert_type(referral_code("vsu_referrer_hash=7XYu.oRD"), str | None)
