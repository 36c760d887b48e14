"""The README's and the docs' code blocks run as written (marked with a README-TEST comment).

A marked block is ``<!-- README-TEST: name -->`` followed by a fenced block; the same name in
README.md and in a docs page must hold the same code, so they cannot drift apart.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def marked_blocks(path: Path = README, lang: str = "python") -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    pattern = rf"<!-- README-TEST: (\w+) -->\n```{lang}\n(.*?)```"
    return {name: code for name, code in re.findall(pattern, text, flags=re.S)}


def test_readme_has_marked_blocks() -> None:
    assert {"emulator", "quickstart"} <= set(marked_blocks())


def test_docs_repeat_the_readme_blocks_exactly() -> None:
    """The quickstart page and the testing page show the code the README's tests run."""
    readme = marked_blocks()
    assert marked_blocks(DOCS / "quickstart.md")["quickstart"] == readme["quickstart"]
    assert (
        marked_blocks(DOCS / "quickstart.md", "bash")["exports"]
        == marked_blocks(README, "bash")["exports"]
    )
    assert marked_blocks(DOCS / "testing.md")["emulator"] == readme["emulator"]


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_readme_emulator_example_passes(pytester: pytest.Pytester, mode: str) -> None:
    """The fixture examples pass as pasted, in pytest-asyncio's default strict mode too."""
    if mode == "auto":
        pytester.makepyprojecttoml('[tool.pytest.ini_options]\nasyncio_mode = "auto"\n')
    pytester.makepyfile(test_readme_example=marked_blocks()["emulator"])
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_docs_testing_examples_pass_in_strict_mode(pytester: pytest.Pytester) -> None:
    """Every test in docs/testing.md runs under the default (strict) mode as pasted."""
    blocks = marked_blocks(DOCS / "testing.md")
    pytester.makepyfile(**{f"test_docs_{name}": code for name, code in blocks.items()})
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 3 and not outcomes.get("failed"), result.stdout.str()


@pytest.fixture
def running_emulator() -> Iterator[tuple[dict[str, str], str]]:
    """`irefer emulator` as a newcomer runs it; yields the exports it printed and its banner."""
    pytest.importorskip("uvicorn")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "irefer_async.cli", "emulator", "--port", "0"],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = "".join(server.stdout.readline() for _ in range(8))
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in banner.splitlines()
            if line.strip().startswith("export ")
        )
        yield exports, banner
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.system
def test_readme_exports_are_what_the_emulator_prints(
    running_emulator: tuple[dict[str, str], str],
) -> None:
    """The README's `export` lines are the banner's (but for the port the OS picked here)."""
    exports, _ = running_emulator
    documented = dict(
        line.removeprefix("export ").split("=", 1)
        for line in marked_blocks(README, "bash")["exports"].splitlines()
    )
    base = exports.pop("IREFER_BASE_URL")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1\.0/", base)
    assert documented.pop("IREFER_BASE_URL") == "http://127.0.0.1:8765/v1.0/"
    assert documented == exports


@pytest.mark.system
def test_readme_quickstart_runs_twice_against_the_emulator(
    running_emulator: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    """Pasted into a file and run with the banner's exports: it works, and works again."""
    exports, _ = running_emulator
    script = tmp_path / "quickstart.py"
    script.write_text(marked_blocks()["quickstart"], encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}, **exports}
    runs = [
        subprocess.run(
            [sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    assert "signed up Ann, referral code" in runs[0].stdout
    assert "not signed up:" in runs[1].stdout
    assert "already a participant" in runs[1].stdout
    assert "ann@example.com 0" in runs[1].stdout


def test_nox_fails_on_a_missing_interpreter_and_the_readme_says_how_to_get_them() -> None:
    """`nox -s tests` cannot report success with versions skipped; the README shows the setup."""
    import ast

    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    settings = {
        ast.unparse(node.targets[0]): ast.unparse(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and len(node.targets) == 1
    }
    assert settings.get("nox.options.error_on_missing_interpreters") == "True"
    development = README.read_text(encoding="utf-8").split("## Development", 1)[1]
    assert "export PYENV_VERSION=" in development
    assert "nox -s tests-3.11" in development
