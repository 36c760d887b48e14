"""Run the emulator standalone: ``python -m irefer_async.testing --port 8765 [--seed-demo]``.

The campaign's keys come from ``IREFER_LICENSE_KEY`` / ``IREFER_API_KEY`` when set, otherwise
from the documented demo keys (`DEFAULT_LICENSE_KEY`, `DEFAULT_API_KEY`). The banner prints the
``export`` lines that aim the CLI or your own code at the emulator; the demo keys appear in them
(they are published, not secrets), a key taken from the environment never does.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
from collections.abc import Sequence

import attrs

from ._emulator import Emulator
from ._profiles import PROFILES
from ._specs import DEFAULT_API_KEY, DEFAULT_CAMPAIGN, DEFAULT_LICENSE_KEY

__all__ = ["banner", "main", "mask"]

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


def _campaign_from_env(seed: int, profile: str = "2018") -> Emulator:
    license_key = os.environ.get(_LICENSE_ENV) or DEFAULT_LICENSE_KEY
    api_key = os.environ.get(_API_ENV) or DEFAULT_API_KEY
    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=license_key, api_key=api_key)
    return Emulator(seed=seed, campaigns=[spec], profile=profile)


def banner(url: str, emulator: Emulator) -> list[str]:
    """Return the lines printed on start: where it listens and the ``export`` lines to paste.

    A key is shown only when it is the published demo key; a key taken from the environment
    is named by its variable instead.
    """
    spec = emulator.default_campaign
    lines = [
        f"iRefer emulator listening on {url}",  # the URL last: scripts read it from here
        "Aim the irefer CLI or your own IReferClient() at it by pasting:",
        f"  export IREFER_BASE_URL={url}",
        f"  export IREFER_CAMPAIGN_ID={spec.id}",
    ]
    kept = []
    for env, key, demo in (
        (_LICENSE_ENV, spec.license_key, DEFAULT_LICENSE_KEY),
        (_API_ENV, spec.api_key, DEFAULT_API_KEY),
    ):
        if key == demo:
            lines.append(f"  export {env}={demo}")
        else:
            kept.append(f"${env}")
    if kept:
        lines.append(f"  (keys: {' and '.join(kept)} as already set in this shell)")
    else:
        lines.append("  (demo keys: published in irefer_async.testing, not secrets)")
    if emulator.profile.name != "2018":
        lines.append(f"Profile: {emulator.profile.name} ({emulator.profile.description})")
    lines.append(f"State lives while this process runs (Ctrl-C to stop); control plane: "
                 f"{url.removesuffix('v1.0/')}_control/snapshot")  # fmt: skip
    return lines


async def _run(args: argparse.Namespace) -> None:
    emulator = _campaign_from_env(args.seed, args.profile)
    if args.seed_demo:
        seed_demo(emulator)
    async with emulator.serve(host=args.host, port=args.port) as url:
        print("\n".join(banner(url, emulator)), flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse *argv* and serve until interrupted; 2 when the address cannot be bound."""
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = " (is another emulator running? --port 0 picks a free port)"
        reason = exc.strerror or str(exc)
        print(f"error: cannot listen on {args.host}:{args.port}: {reason}{hint}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
