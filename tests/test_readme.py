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
    assert marked_blocks(DOCS / "quickstart.md")["config"] == readme["config"]
    assert (
        marked_blocks(DOCS / "quickstart.md", "text")["errors"]
        == marked_blocks(README, "text")["errors"]
    )


@pytest.mark.parametrize("page", ["index.md", "quickstart.md"])
def test_code_blocks_of_the_first_pages_fit_at_1280_px(page: str) -> None:
    """At 1280 px the docs theme shows about 80 characters of code before a scroll bar."""
    text = (DOCS / page).read_text(encoding="utf-8")
    long = [
        line
        for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if len(line) > 80
    ]
    assert long == []


def test_the_docs_toolchain_command_installs_the_docs_group() -> None:
    """README and the docs' home page give the command that installs what `nox -s docs` uses."""
    tomllib = pytest.importorskip("tomllib")
    group = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "dependency-groups"
    ]["docs"]
    names = [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in group]  # type: ignore[union-attr]
    for text in (README.read_text(encoding="utf-8"), (DOCS / "index.md").read_text("utf-8")):
        (command,) = [
            line for line in text.splitlines() if line.startswith("pip install -e . mkdocs")
        ]
        assert command.split("#")[0].split()[4:] == names


def test_quickstart_comes_first() -> None:
    """A newcomer meets the quickstart before anything else (install, doctor...)."""
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), flags=re.M)
    assert headings[0] == "Quickstart"


def test_readme_configuration_lists_every_parameter_with_its_default() -> None:
    """The config block is `IReferClient(...)` with every parameter, in order, at its default."""
    import ast
    import inspect

    import httpx

    from irefer_async import IReferClient, RateLimit, RetryConfig

    (call,) = ast.parse(marked_blocks()["config"]).body
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    shown = {kw.arg: kw.value for kw in call.value.keywords}
    parameters = inspect.signature(IReferClient.__init__).parameters
    assert list(shown) == [name for name in parameters if name != "self"]
    namespace = {"httpx": httpx, "RetryConfig": RetryConfig, "RateLimit": RateLimit}
    for name, node in shown.items():
        value = eval(compile(ast.Expression(node), "README.md", "eval"), namespace)
        assert value == parameters[name].default, name


def _tree(text: str) -> dict[str, str | None]:
    """The error tree block as {name: parent name}, from the drawing's indentation."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^((?:[│ ]   )*)(?:[├└]── )?(\w+)", line)
        assert match, line
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        del stack[depth:]
        parents[match.group(2)] = stack[-1] if stack else None
        stack.append(match.group(2))
    return parents


def test_readme_error_tree_is_the_sdks() -> None:
    """Every exported error (core and feed) is in the tree, under its parent (and nothing else)."""
    import irefer_async
    import irefer_async.feed

    exported = {
        name: obj
        for module in (irefer_async, irefer_async.feed)
        for name in module.__all__
        if isinstance(obj := getattr(module, name), type)
        and issubclass(obj, irefer_async.IReferError)
    }
    expected = {
        name: next(
            (b.__name__ for b in cls.__bases__ if issubclass(b, irefer_async.IReferError)), None
        )
        for name, cls in exported.items()
    }
    assert _tree(marked_blocks(README, "text")["errors"]) == expected


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
    """`nox -s matrix` cannot report success with versions skipped; the README shows the setup."""
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
    assert "nox -s matrix" in development


def test_ci_runs_the_readmes_test_command_as_written() -> None:
    """.ci/run runs README line 2 unchanged, and then the matrix."""
    ci = ROOT / ".ci" / "run"
    if not ci.is_file():
        pytest.skip("not a git checkout (an sdist ships no .ci/)")
    line = README.read_text(encoding="utf-8").split("```bash\n", 1)[1].splitlines()[1]
    command = line.split("  #", 1)[0].strip()
    assert command == (
        "python3 -m venv .venv && .venv/bin/pip install nox uv && .venv/bin/nox -s tests"
    )
    script = ci.read_text(encoding="utf-8")
    assert command in script
    assert ".venv/bin/nox -s matrix" in script


def test_readme_coverage_floor_is_pyprojects() -> None:
    tomllib = pytest.importorskip("tomllib")
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "coverage"
    ]["report"]["fail_under"]
    development = README.read_text(encoding="utf-8").split("## Development", 1)[1]
    assert re.findall(r"(\d+)%", development) == [str(floor)] * len(
        re.findall(r"\d+%", development)
    )
    assert f"{floor}%" in development


def test_readme_and_testing_page_agree_on_the_loop_scope_option() -> None:
    """Both say which pytest-asyncio versions know `asyncio_default_fixture_loop_scope`."""
    for text in (README.read_text(encoding="utf-8"), (DOCS / "testing.md").read_text("utf-8")):
        assert 'asyncio_default_fixture_loop_scope = "function"' in text
        assert "pytest-asyncio 0.24 and later" in text
        assert "0.23.8" in text


def test_readme_command_lines_paste_one_command_each() -> None:
    """`irefer stats campaign | irefer stats referrer ...` piped one into the other when pasted."""
    text = README.read_text(encoding="utf-8")
    lines = [
        line.split("#")[0]
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
    ]
    assert [line for line in lines if re.search(r"\|\s*irefer\b", line)] == []


@pytest.mark.parametrize("page", [README, DOCS / "quickstart.md"], ids=lambda p: p.name)
def test_errors_outside_irefer_async_name_their_module(page: Path) -> None:
    """The feed's errors are not importable from `irefer_async`: the tree says where they are."""
    import irefer_async
    import irefer_async.feed

    tree = marked_blocks(page, "text")["errors"]
    for name in irefer_async.feed.__all__:
        if name in tree and not hasattr(irefer_async, name):
            line = next(line for line in tree.splitlines() if f" {name} " in line)
            assert "irefer_async.feed" in line, line
    text = page.read_text(encoding="utf-8")
    assert "from `irefer_async.feed`" in text
