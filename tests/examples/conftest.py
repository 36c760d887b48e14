"""Load the examples by file path (``examples/`` is not a package on sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def _load(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    name = f"example_{path.stem}_{id(object())}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # taskiq and pydantic resolve names through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_example() -> Callable[[str], ModuleType]:
    """Import a fresh copy of ``examples/<relative>`` (fresh module state per test)."""
    return _load
