"""Shared helpers of the reliability suites: secret-looking keys, leak detection, an emulator
with those keys (in-process or in its own process), the CLI's environment.

Imported by name (`from _support import ...`), never through `conftest`: with several test
directories collected together, `conftest` names another directory's module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/helpers.py

from helpers import API_KEY, LICENSE_KEY

from irefer_async import RetryConfig
from irefer_async.testing import (
    DEFAULT_API_KEY,
    DEFAULT_CAMPAIGN,
    DEFAULT_LICENSE_KEY,
    CampaignSpec,
    Clock,
    Emulator,
)

__all__ = [
    "NO_WAIT",
    "SECRETS",
    "SECRET_API_KEY",
    "SECRET_LICENSE_KEY",
    "SECRET_SPEC",
    "EmulatorProcess",
    "cli_env",
    "leaks",
    "make_emulator",
    "secret_forms",
]

#: A license key and an api key that look like real secrets (the api key needs URL-encoding).
SECRET_LICENSE_KEY = "W4qLx9Rk2PzQ7mVt4Ln8Hc3Jd6Fs1Gb5"
SECRET_API_KEY = "sk_live+Zq8/v=&w%3Bpy;77#ok"
SECRET_SPEC: CampaignSpec = attrs.evolve(
    DEFAULT_CAMPAIGN, license_key=SECRET_LICENSE_KEY, api_key=SECRET_API_KEY
)

#: Every secret any reliability suite hands to a client.
SECRETS: tuple[str, ...] = (
    SECRET_LICENSE_KEY,
    SECRET_API_KEY,
    LICENSE_KEY,
    API_KEY,
    DEFAULT_LICENSE_KEY,
    DEFAULT_API_KEY,
)

#: Retries with no waiting: a cell or a chaos run never really sleeps.
#: The settle window is short: the in-process emulator has finished a write when it answers,
#: and the ``held`` faults of these suites hold a write at most 0.05 s past the read timeout.
NO_WAIT = RetryConfig(wait_initial=0, wait_max=0, wait_jitter=0, settle=0.1)


def secret_forms(secret: str) -> set[str]:
    """The raw and URL-encoded forms a secret can take."""
    from urllib.parse import quote, quote_plus

    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}


#: The random-looking secrets, searched for fragments too (the demo keys are made of words
#: such as "emulator" that any text may hold).
FRAGMENTED: tuple[str, ...] = (SECRET_LICENSE_KEY, SECRET_API_KEY, LICENSE_KEY)
#: No piece of a key this long may appear anywhere (a key cut before it was redacted).
FRAGMENT = 6


def _fragments() -> dict[str, str]:
    """Every ``FRAGMENT``-character piece of each form of the random-looking secrets."""
    pieces: dict[str, str] = {}
    for secret in FRAGMENTED:
        for form in secret_forms(secret):
            for i in range(len(form) - FRAGMENT + 1):
                pieces.setdefault(form[i : i + FRAGMENT], secret)
    return pieces


_PIECES = _fragments()


#: An object's address in a repr (``<AnyIOStream object at 0x7f3b846fd490>``): httpcore's
#: DEBUG lines hold one per connection. Its hex digits are not a key's, even when six of them
#: happen to be a piece of the hex-looking `LICENSE_KEY` (``0x7f0520530bed``): about one
#: address in 10^5 does, which failed a reliability test now and then (issue 22).
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,16}\b")


def leaks(text: str) -> list[str]:
    """Return the secrets found in ``text``: whole (any form) or any 6-character fragment.

    Fragments are not searched inside object addresses (`_ADDRESS`).
    """
    found = {s for s in SECRETS for form in secret_forms(s) if form and form in text}
    if len(text) >= FRAGMENT:
        text = _ADDRESS.sub("0x?", text) if "0x" in text else text
        found.update(secret for piece, secret in _PIECES.items() if piece in text)
    return sorted(found)


def make_emulator(*, secret: bool = True, seed: int = 0, clock: Clock | None = None) -> Emulator:
    """An emulator whose campaign 2605 has secret-looking keys (or the demo keys)."""
    return Emulator(seed=seed, campaigns=[SECRET_SPEC if secret else DEFAULT_CAMPAIGN], clock=clock)


# -- an emulator in its own process ---------------------------------------------------------


class EmulatorProcess:
    """``python -m irefer_async.testing --port 0`` in a subprocess, with the secret keys.

    A real separate process, so a CLI under test can be SIGKILLed without touching it.
    """

    def __init__(self) -> None:
        import os
        import subprocess

        env = dict(os.environ)
        env.update(IREFER_LICENSE_KEY=SECRET_LICENSE_KEY, IREFER_API_KEY=SECRET_API_KEY)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "irefer_async.testing", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.close()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()
        self.banner = line

    def control(self, route: str, data: Any = None) -> Any:
        """Call the control plane (GET without *data*, POST with it)."""
        import httpx

        url = self.url.removesuffix("v1.0/") + "_control/" + route
        response = (
            httpx.get(url, timeout=30) if data is None else httpx.post(url, json=data, timeout=30)
        )
        response.raise_for_status()
        return response.json()

    def close(self) -> str:
        """Stop the emulator; return what it printed (for the secrets check)."""
        import subprocess

        self.process.terminate()
        try:
            out, err = self.process.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:  # a stalled request holds uvicorn's graceful shutdown
            self.process.kill()
            out, err = self.process.communicate()
        return self.banner + (out or "") + (err or "")


def cli_env() -> dict[str, str]:
    """The environment a CLI subprocess gets: the secret keys, campaign 2605, no colour."""
    import os

    env = dict(os.environ)
    env.update(
        IREFER_LICENSE_KEY=SECRET_LICENSE_KEY,
        IREFER_API_KEY=SECRET_API_KEY,
        IREFER_CAMPAIGN_ID="2605",
        NO_COLOR="1",
        TERM="dumb",
    )
    return env
