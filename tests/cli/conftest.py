"""Fixtures for the command line: a CliRunner and the emulator that ``--emulator`` starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from irefer_async.cli import _target
from irefer_async.testing import Emulator


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator every ``--emulator`` command of the test talks to (one, shared)."""
    emulator = Emulator(seed=0)
    monkeypatch.setattr(_target, "emulator_factory", lambda: emulator)
    return emulator


@pytest.fixture
def runner() -> CliRunner:
    """A click runner (stdout and stderr kept apart; not a TTY)."""
    return CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current directory with no iRefer environment variables."""
    monkeypatch.chdir(tmp_path)
    for name in ("IREFER_LICENSE_KEY", "IREFER_API_KEY", "IREFER_BASE_URL", "IREFER_CAMPAIGN_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path
