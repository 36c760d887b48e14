"""Development sessions: tests (every supported Python), lint, typecheck, long, bench, docs, build."""

from __future__ import annotations

import re

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Supported versions come from the classifiers, so there is one list to maintain.
PYTHONS = [
    m.group(1)
    for c in PYPROJECT["project"]["classifiers"]
    if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
]
TEST_DEPS = PYPROJECT["dependency-groups"]["test"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (the long variants are in the `long` session)."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session(python="3.11")
def long(session: nox.Session) -> None:
    """Run only the long variants (marked `slow`): big imports, chaos, crash-resume."""
    session.install("-e", ".", *TEST_DEPS)
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy", *TEST_DEPS)
    session.run("mypy", "--strict", "irefer_async")
