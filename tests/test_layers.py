"""The layers import downwards only: bulk, config, write safety and the table know no client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import irefer_async

PACKAGE = Path(irefer_async.__file__).parent


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    "module", ["_bulk", "_config", "_endpoints", "_write_safety", "_observability", "_transport"]
)
def test_lower_layers_do_not_import_the_client(module: str) -> None:
    """The client builds on these modules; none of them imports it (not even for typing)."""
    assert "_client" not in _imports(module)
