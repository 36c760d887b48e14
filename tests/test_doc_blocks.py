"""The Python blocks of the guide pages run as pasted: no top-level ``await``/``async with``,
no undefined name (``lifespan``, ``IREFER``, ``rows``...). A block that is only a fragment says
so on its first line (``# A fragment: ...``) and is skipped. Self-contained blocks that need
nothing but the emulator are run (the sync page's first block on a served emulator)."""

from __future__ import annotations

import builtins
import re
import symtable
from pathlib import Path

import pytest
from test_readme import running_emulator  # noqa: F401 - the fixture

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["attribution.md", "sync.md", "taskiq.md", "mcp.md", "feed.md"]


def python_blocks(page: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every Python block of ``page`` (line: the fence's, 1-based)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    ]


def undefined_names(code: str, where: str) -> set[str]:
    """Names a block reads that nothing defines (module level, functions, comprehensions)."""
    top = symtable.symtable(code, where, "exec")
    defined = {
        s.get_name()
        for s in top.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    } | set(dir(builtins))
    missing: set[str] = set()

    def walk(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            name = symbol.get_name()
            free_global = table is top or symbol.is_global()
            if symbol.is_referenced() and free_global and name not in defined:
                missing.add(name)
        for child in table.get_children():
            walk(child)

    walk(top)
    return missing


CASES = [
    pytest.param(page, line, code, id=f"{page}:{line}")
    for page in PAGES
    for line, code in python_blocks(page)
    if not code.startswith("# A fragment")
]


@pytest.mark.parametrize(("page", "line", "code"), CASES)
def test_a_block_compiles_as_pasted_and_defines_what_it_uses(
    page: str, line: int, code: str
) -> None:
    where = f"docs/{page}:{line}"
    compile(code, where, "exec")  # top-level await / async with are a SyntaxError here
    assert undefined_names(code, where) == set(), where


def test_the_check_finds_what_the_newcomer_found() -> None:
    """The blocks as they were: `lifespan` and `rows` undefined, a top-level `async with`."""
    assert undefined_names(
        "app = FastAPI(lifespan=lifespan)\nfrom fastapi import FastAPI\n", "x"
    ) == {"lifespan"}
    assert undefined_names("def f():\n    return rows\n", "x") == {"rows"}
    with pytest.raises(SyntaxError):
        compile("async with x() as y:\n    pass\n", "x", "exec")


def test_fragments_say_so() -> None:
    fragments = [
        code for page in PAGES for _, code in python_blocks(page) if code.startswith("# A fragment")
    ]
    assert all("`" in code.splitlines()[0] for code in fragments)  # it names what it assumes


def test_the_taskiq_app_block_has_the_tables_defaults() -> None:
    """`os.environ["TASKIQ_BROKER_URL"]` was a KeyError where the table gives a default."""
    (code,) = [code for _, code in python_blocks("taskiq.md") if code.startswith("# app.py")]
    text = (DOCS / "taskiq.md").read_text(encoding="utf-8")
    default = re.search(r"\| `TASKIQ_BROKER_URL` \| `([^`]+)` \|", text)
    assert default is not None
    assert "os.environ[" not in code
    assert f'os.environ.get("TASKIQ_BROKER_URL", "{default.group(1)}")' in code


@pytest.mark.system
def test_the_sync_page_first_block_runs_on_a_fresh_emulator(
    running_emulator: tuple[dict[str, str], str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """Pasted into a file, run with the exports `irefer emulator` printed."""
    import os
    import subprocess
    import sys

    exports, _ = running_emulator
    script = tmp_path / "sync_example.py"
    script.write_text(python_blocks("sync.md")[0][1], encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IREFER_")}, **exports}
    run = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "1"  # Ann's referrals: Bob
    assert {"ann@example.com", "bob@example.com"} <= set(lines)
    assert "ok=3" in run.stdout, run.stdout
