"""The public surface: a sorted __all__, every name importable and documented."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import types

import pytest

import irefer_async

#: The core's public modules besides the package itself.
CORE_MODULES = ("decoding", "endpoints", "hooks", "models")
#: Subpackages built on the core's public names, each imported only when used.
SATELLITES = ("cli", "doctor", "feed", "mcp", "redis", "sync", "taskiq", "testing", "web")


def test_all_is_sorted_and_complete() -> None:
    names = irefer_async.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(irefer_async, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in irefer_async.__all__:
        obj = getattr(irefer_async, name)
        if isinstance(obj, types.GenericAlias):
            continue  # a type alias (e.g. EventHook); on 3.10 inspect.isclass says True
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_private_modules_stay_private() -> None:
    public_modules = {
        n
        for n in dir(irefer_async)
        if inspect.ismodule(getattr(irefer_async, n))
        and not n.startswith(("_", "@"))  # "@py_builtins": pytest rewrites plugin packages
    }
    assert public_modules <= {*CORE_MODULES, *SATELLITES}


def test_the_core_surface_stays_small() -> None:
    assert len(irefer_async.__all__) <= 45


@pytest.mark.parametrize("name", ["doctor", "feed", "redis", "testing", *CORE_MODULES])
def test_each_public_module_documents_its_names(name: str) -> None:
    module = importlib.import_module(f"irefer_async.{name}")
    assert inspect.getdoc(module)
    for attr in module.__all__:
        obj = getattr(module, attr)
        if isinstance(obj, types.GenericAlias):
            continue  # a type alias (e.g. EventHook); on 3.10 inspect.isclass says True
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"irefer_async.{name}.{attr} has no docstring"


@pytest.mark.system
def test_importing_the_package_loads_the_core_only() -> None:
    code = (
        "import sys, irefer_async\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('irefer_async.')"
        " or m in ('sqlite3', 'redis', 'aiohttp'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [m for m in loaded if not m.startswith("irefer_async._")] == []


def test_version_comes_from_package_metadata() -> None:
    from importlib.metadata import version

    assert irefer_async.__version__ == version("irefer-async")


def test_the_import_contracts_name_every_module_of_the_package() -> None:
    """A new module lands in the core's list or the satellites' (pyproject's importlinter)."""
    import pkgutil
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the lint session runs 3.11

    config = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    core, satellites = config["tool"]["importlinter"]["contracts"][:2]
    named = {*core["source_modules"], *satellites["source_modules"]}
    launcher = {"irefer_async._cli_entry"}  # the `irefer` script's launcher, the CLI's own
    modules = {f"irefer_async.{m.name}" for m in pkgutil.iter_modules(irefer_async.__path__)}
    # A satellite still to come is named by its submodules (`.**`); once it exists, by itself.
    missing = modules - launcher - named
    assert not missing, f"name {sorted(missing)} in [tool.importlinter] in pyproject.toml"
    assert {f"irefer_async.{name}" for name in SATELLITES} <= {m.removesuffix(".**") for m in named}
