"""Run the emulator standalone: ``python -m irefer_async.testing --port 8765 [--seed-demo]``.

The campaign's keys come from ``IREFER_LICENSE_KEY`` / ``IREFER_API_KEY`` when set, otherwise
from the documented demo keys (:data:`DEFAULT_LICENSE_KEY`, :data:`DEFAULT_API_KEY`). Keys are
never printed in full: the license key is masked and the api key's source is named instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

import attrs

from ._emulator import Emulator
from ._profiles import PROFILES
from ._specs import DEFAULT_API_KEY, DEFAULT_CAMPAIGN, DEFAULT_LICENSE_KEY

__all__ = ["main", "mask"]

_LICENSE_ENV = "IREFER_LICENSE_KEY"
_API_ENV = "IREFER_API_KEY"


def mask(key: str) -> str:
    """Show a license key as ``W4qL…`` plus its last four characters."""
    return f"{key[:4]}…{key[-4:]}" if len(key) > 8 else "…"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m irefer_async.testing",
        description="Run the iRefer API emulator on a local port (needs irefer-async[emulator]).",
        epilog=f"Keys: ${_LICENSE_ENV} and ${_API_ENV} if set, else the documented demo keys.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to bind (default 8765; 0 = any)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for referral codes (default 0)")
    parser.add_argument(
        "--seed-demo", action="store_true", help="add demo participants, referrals and views"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="2018",
        help="how the service differs from the 2018 guide (default 2018: not at all)",
    )
    return parser


def seed_demo(emulator: Emulator) -> None:
    """Fill the default campaign with a few participants, referrals, an action and views."""
    ann = emulator.add_participant("ann@example.com", name="Ann")
    for n, source in enumerate(("t", "f", "e", "w", "l", None), start=1):
        emulator.add_participant(f"friend{n}@example.com", referrer_code=ann.code, source=source)
    emulator.add_participant("bob@example.com", name="Bob")
    emulator.record_views(42)


def _campaign_from_env(seed: int, profile: str = "2018") -> tuple[Emulator, str]:
    license_key = os.environ.get(_LICENSE_ENV) or DEFAULT_LICENSE_KEY
    api_key = os.environ.get(_API_ENV)
    source = f"${_API_ENV}" if api_key else "the demo key irefer_async.testing.DEFAULT_API_KEY"
    spec = attrs.evolve(
        DEFAULT_CAMPAIGN, license_key=license_key, api_key=api_key or DEFAULT_API_KEY
    )
    return Emulator(seed=seed, campaigns=[spec], profile=profile), source


async def _run(args: argparse.Namespace) -> None:
    emulator, api_key_source = _campaign_from_env(args.seed, args.profile)
    if args.seed_demo:
        seed_demo(emulator)
    spec = emulator.default_campaign
    async with emulator.serve(host=args.host, port=args.port) as url:
        print(f"iRefer emulator listening on {url}", flush=True)
        print(f"  campaign_id: {spec.id}  license key: {mask(spec.license_key)}")
        print(f"  api key: {api_key_source}")
        if emulator.profile.name != "2018":
            print(f"  profile: {emulator.profile.name} ({emulator.profile.description})")
        print(f"  control plane: {url.removesuffix('v1.0/')}_control/snapshot  (Ctrl-C to stop)")
        sys.stdout.flush()
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse *argv* and serve until interrupted."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
