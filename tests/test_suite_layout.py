"""The test suite's own layout: helpers are modules imported by name, never `conftest`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def test_no_test_imports_conftest() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.split(".")[-1] == "conftest" for name in names):
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offenders == []


@pytest.mark.system
def test_directories_with_their_own_conftest_collect_together() -> None:
    """Each directory's helpers still resolve when several conftest.py are loaded in one run."""
    dirs = ["tests/reliability", "tests/testing", "tests/cli", "tests/redis"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *dirs],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " error" not in result.stdout.splitlines()[-1]


def _nox_session_calls(name: str) -> list[list[str]]:
    """The string arguments of each `session.run(...)` in the nox session *name*."""
    tree = ast.parse((TESTS.parent / "noxfile.py").read_text(encoding="utf-8"))
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return [
        [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
    ]


def test_coverage_is_measured_and_enforced() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((TESTS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(d.startswith("coverage") for d in pyproject["dependency-groups"]["test"])
    assert pyproject["tool"]["coverage"]["report"]["fail_under"] >= 90
    calls = _nox_session_calls("tests")
    assert ["coverage", "run", "-m", "pytest", "-m", "not slow"] in calls
    assert ["coverage", "report"] in calls


def test_ci_runs_the_core_only_session() -> None:
    ci = TESTS.parent / ".ci" / "run"
    if not ci.is_file():
        pytest.skip("not a git checkout (an sdist ships no .ci/)")
    calls = [
        line.split()
        for line in ci.read_text(encoding="utf-8").splitlines()
        if line.startswith(".venv/bin/nox -s ")
    ]
    assert any("core" in call[: call.index("2>&1") if "2>&1" in call else None] for call in calls)
    assert any("pytest" in call for call in _nox_session_calls("core"))
