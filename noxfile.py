"""Development sessions: tests (3.10-3.13), tests_httpx2, core, lint, typecheck, long, bench, docs,
build."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nox

# `tests` runs on every supported Python; one that is not installed is a failed session in
# nox's summary, not a silent skip that ends in "success" (README, Development, shows how
# to install them; `nox -s tests-3.11` runs one, `--no-error-on-missing-interpreters` skips).
nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "core", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Supported versions come from the classifiers, so there is one list to maintain.
PYTHONS = [
    m.group(1)
    for c in PYPROJECT["project"]["classifiers"]
    if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
]
TEST_DEPS = PYPROJECT["dependency-groups"]["test"]
DOCS_DEPS = PYPROJECT["dependency-groups"]["docs"]
TYPECHECK_DEPS = PYPROJECT["dependency-groups"]["typecheck"]
BUILD_DEPS = PYPROJECT["dependency-groups"]["build"]
# The test tools alone (no extra's package): what the `core` session installs.
CORE_TEST_DEPS = [
    d
    for d in TEST_DEPS
    if re.match(r"[A-Za-z0-9_.-]+", d).group(0)
    in {"pytest", "pytest-asyncio", "respx", "hypothesis"}
]
# The import test, the public-API tests and the in-process emulator, none of which needs an extra.
CORE_TESTS = [
    "tests/test_optional_extras.py",
    "tests/test_exported_members.py",
    "tests/test_models.py",
    "tests/test_endpoints.py",
    "tests/test_errors.py",
    "tests/test_client_lifecycle.py",
    "tests/testing/test_emulator_client.py",
]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite under coverage, print the figure, fail under pyproject's `fail_under`.

    The long variants are in the `long` session. The `system` tests (subprocesses, signals,
    a redis-server) are part of this default suite. With arguments (a subset of the tests),
    the figure is printed but not enforced.
    """
    session.install("-e", ".", *TEST_DEPS)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-m", "not slow", *session.posargs)
    session.run("coverage", "report", *(["--fail-under=0"] if session.posargs else []))


@nox.session(python="3.11")
def tests_httpx2(session: nox.Session) -> None:
    """The suite with every emulator client on the httpx2 stack (``--irefer-http-stack``)."""
    session.install("-e", ".[httpx2]", *TEST_DEPS)
    session.run(
        "pytest",
        "-m",
        "not slow",
        "-p",
        "no:cacheprovider",
        "--irefer-http-stack=httpx2",
        *session.posargs,
    )


@nox.session(python="3.11")
def core(session: nox.Session) -> None:
    """The core install alone (no redis, orjson, aiohttp, click, rich, uvicorn): import + API."""
    session.install("-e", ".", *CORE_TEST_DEPS)
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        *CORE_TESTS,
        *session.posargs,
        env={"IREFER_CORE_ONLY": "1"},
    )


@nox.session(python="3.11")
def long(session: nox.Session) -> None:
    """Run only the long variants (marked `slow`): big imports, chaos, crash-resume, bench smoke."""
    session.install("-e", ".", *TEST_DEPS, *PYPROJECT["dependency-groups"]["bench"])
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks against same-run baselines (~5 min); `nox -s bench -- --quick` for a smoke run."""
    # cli: the big_lists benchmark measures `irefer export` too.
    session.install(
        "-e", ".[aiohttp,speedups,emulator,redis,cli]", *PYPROJECT["dependency-groups"]["bench"]
    )
    session.run("python", "-m", "benchmarks", *session.posargs)
    quick = "--quick" in session.posargs
    # One reward-feed poll over a big campaign: peak RSS (store-held snapshot, streamed lists).
    session.run("python", "benchmarks/bench_feed_memory.py", *(["--quick"] if quick else []))
    # 4 processes sharing one Redis-backed limit (needs redis-server, as .ci/run installs).
    if not quick:
        session.run("python", "benchmarks/bench_redis_limiter.py")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff (lint rules, formatting) and import-linter (the core/satellite boundary, no cycles).

    The contracts are in pyproject.toml (`[tool.importlinter]`); lint-imports reads the
    package's source, so the package is installed without its dependencies.
    """
    session.install("ruff", "import-linter>=2.1")
    session.install("--no-deps", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports", "--no-cache")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the typed-API file; pyright on the typed-API file."""
    session.install("-e", ".[redis]", *TYPECHECK_DEPS, *TEST_DEPS)
    session.run("mypy", "--strict", "irefer_async", "tests/typing/api.py")
    session.run("pyright", "tests/typing/api.py")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs, warnings are errors)."""
    session.install("-e", ".", *DOCS_DEPS)
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))
    session.log(f"docs built in {site} (open {site / 'index.html'})")


SMOKE = """
import asyncio, importlib.metadata, pathlib, sys
import irefer_async
from irefer_async.testing import Emulator
assert pathlib.Path(irefer_async.__file__).is_relative_to(sys.prefix), irefer_async.__file__
assert irefer_async.__version__ == importlib.metadata.version("irefer-async")
assert (pathlib.Path(irefer_async.__file__).parent / "py.typed").is_file()
async def main() -> None:
    async with Emulator().client() as client:
        signup = await client.new_signup("ann@example.com", name="Ann")
        stats = await client.referrer_stats("ann@example.com")
    assert signup.referral_link and stats.email == "ann@example.com"
asyncio.run(main())
print("wheel OK:", irefer_async.__version__, irefer_async.__file__)
"""


@nox.session(python="3.11")
def build(session: nox.Session) -> None:
    """Build sdist and wheel, twine-check them, install the wheel in a fresh venv and use it."""
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.install(*BUILD_DEPS)
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *(str(p) for p in sorted(dist.iterdir())))
    venv = tmp / "wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    (wheel,) = dist.glob("*.whl")
    session.run(str(python), "-m", "pip", "install", "--quiet", str(wheel), external=True)
    session.chdir(tmp)  # away from the checkout: only the installed wheel is importable
    session.run(str(python), "-c", SMOKE, external=True)
