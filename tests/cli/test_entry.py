"""The console script explains a missing `cli` extra instead of crashing."""

from __future__ import annotations

import importlib.util

import pytest

from irefer_async import _cli_entry


def test_missing_cli_extra_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "click" else real(name, *a)
    )
    with pytest.raises(SystemExit) as info:
        _cli_entry.main(["--help"])
    assert info.value.code == 2
    assert "pip install 'irefer-async[cli]'" in capsys.readouterr().err


def test_entry_runs_the_cli_when_installed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _cli_entry.main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out
