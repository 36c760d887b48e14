"""The object the ``irefer_emulator`` pytest fixture yields: an emulator plus an open client.

It lives outside `.plugin` so it can be typed and documented like the rest of the
package, and used without pytest (``async with EmulatorFixture.open() as env``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._emulator import Emulator
from ._faults import FaultLike, FaultRule
from ._journal import Journal
from ._specs import CampaignSpec
from ._state import Participant

if TYPE_CHECKING:
    from irefer_async import IReferClient

__all__ = ["EmulatorFixture"]


class EmulatorFixture:
    """A fresh `Emulator` and an ``IReferClient`` wired to it in-process.

    The client is created lazily on first use of `client` and closed by `aclose`,
    so a test that never touches it never imports the client.
    """

    def __init__(self, emulator: Emulator, **client_options: Any) -> None:
        """Wrap *emulator*; *client_options* go to `Emulator.client`."""
        self.emulator = emulator
        self._client_options = client_options
        self._client: IReferClient | None = None

    def __repr__(self) -> str:
        return f"<EmulatorFixture campaign_id={self.campaign_id} {self.emulator!r}>"

    @property
    def client(self) -> IReferClient:
        """An open ``IReferClient`` for the default campaign (no rate limit, instant retries)."""
        if self._client is None:
            self._client = self.emulator.client(**self._client_options)
        return self._client

    def new_client(self, **kwargs: Any) -> IReferClient:
        """Another client wired to the same emulator; the caller closes it."""
        return self.emulator.client(**kwargs)

    @property
    def campaign_id(self) -> int:
        """The default campaign's id (2605 unless seeded otherwise)."""
        return self.emulator.default_campaign.id

    @property
    def license_key(self) -> str:
        """The default campaign's license key."""
        return self.emulator.default_campaign.license_key

    @property
    def api_key(self) -> str:
        """The default campaign's api key."""
        return self.emulator.default_campaign.api_key

    @property
    def journal(self) -> Journal:
        """The emulator's request journal."""
        return self.emulator.journal

    def serve(
        self, *, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """See `Emulator.serve`: the same emulator on a loopback port."""
        return self.emulator.serve(host=host, port=port)

    def seed_campaign(self, spec: CampaignSpec) -> CampaignSpec:
        """See `Emulator.seed_campaign`."""
        return self.emulator.seed_campaign(spec)

    def add_participant(self, email: str, **kwargs: Any) -> Participant:
        """See `Emulator.add_participant`."""
        return self.emulator.add_participant(email, **kwargs)

    def record_views(self, count: int, *, campaign_id: int | None = None) -> int:
        """See `Emulator.record_views`."""
        return self.emulator.record_views(count, campaign_id=campaign_id)

    def inject_fault(self, fault: FaultLike, **kwargs: Any) -> FaultRule:
        """See `Emulator.inject_fault`."""
        return self.emulator.inject_fault(fault, **kwargs)

    def inject_faults(
        self, faults: Iterable[FaultLike | None], *, method: str | None = None
    ) -> None:
        """See `Emulator.inject_faults`."""
        self.emulator.inject_faults(faults, method=method)

    def inject_fault_rate(self, rate: float, kinds: Iterable[FaultLike], **kwargs: Any) -> None:
        """See `Emulator.inject_fault_rate`."""
        self.emulator.inject_fault_rate(rate, kinds, **kwargs)

    def clear_faults(self) -> None:
        """See `Emulator.clear_faults`."""
        self.emulator.clear_faults()

    def snapshot(self) -> dict[str, Any]:
        """See `Emulator.snapshot`."""
        return self.emulator.snapshot()

    def reset(self) -> None:
        """See `Emulator.reset`."""
        self.emulator.reset()

    async def aclose(self) -> None:
        """Close the client, if one was opened."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
