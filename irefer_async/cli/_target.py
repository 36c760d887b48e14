"""Where a command sends its requests: the embedded emulator or the real API.

Credentials come only from the environment (``IREFER_LICENSE_KEY``, ``IREFER_API_KEY``):
a command-line flag would show in ``ps`` and in shell history. They are never printed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from irefer_async import ConfigurationError, IReferClient, RetryConfig

if TYPE_CHECKING:
    from ..testing import Emulator

__all__ = ["Target", "build_client", "default_emulator", "emulator_factory", "is_loopback"]


def default_emulator() -> Emulator:
    """Build the in-process emulator ``--emulator`` starts: the guide's campaign 2605, seed 0."""
    from ..testing import Emulator  # noqa: PLC0415 - only when --emulator is used

    return Emulator(seed=0)


#: Builds the emulator for ``--emulator`` (tests replace it to inspect the emulator).
emulator_factory: Callable[[], Emulator] = default_emulator


def is_loopback(base_url: str | None) -> bool:
    """Return True for a base URL on this machine (a running ``irefer emulator``, not iRefer).

    ``import`` lifts its default rate limit there: the limit protects the real API.
    """
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


@attrs.frozen
class Target:
    """The target options shared by every command that talks to iRefer."""

    emulator: bool = False
    base_url: str | None = None
    campaign_id: str | None = None
    #: Seconds per HTTP request (``--timeout``); None keeps the client's default.
    timeout: float | None = None
    #: Settle window of write safety (``--settle``); None keeps the client's default.
    settle: float | None = None


def build_client(
    target: Target,
    *,
    rate: float | str | None = "default",
    concurrency: int | None = None,
) -> tuple[IReferClient, Emulator | None]:
    """Build the client for ``target``; ``rate="default"`` keeps the client's default rate.

    Raises `ConfigurationError` (never showing a secret) when the credentials or options
    are missing or invalid; the message names the environment variable to set, since the
    command line takes no key.
    """
    options: dict[str, Any] = {}
    if rate != "default":
        options["rate_limit"] = rate
    if concurrency is not None:
        options["max_concurrency"] = concurrency
    if target.timeout is not None:
        options["timeout"] = target.timeout
    if target.settle is not None and not target.emulator:
        # The embedded emulator's client already settles in 0.1 s (it answers once processed).
        options["retry"] = RetryConfig(settle=target.settle)
    if target.campaign_id is not None:
        options["campaign_id"] = target.campaign_id
    if target.emulator:
        emulator = emulator_factory()
        return emulator.client(**options), emulator
    if target.campaign_id is None:
        raise ConfigurationError(
            "campaign id is missing: pass --campaign-id or set IREFER_CAMPAIGN_ID "
            "(or use --emulator)"
        )
    for env, what in (("IREFER_LICENSE_KEY", "license key"), ("IREFER_API_KEY", "API key")):
        if not os.environ.get(env):
            raise ConfigurationError(
                f"{env} is not set: export your campaign's {what} (the command line takes "
                "no key: flags show in `ps`), or try --emulator, or run `irefer emulator` "
                "and paste the lines it prints"
            )
    return IReferClient(base_url=target.base_url, **options), None
