"""The public surface: a sorted __all__, every name importable and documented."""

from __future__ import annotations

import inspect
import types

import irefer_async


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
    satellites = {"cli", "doctor", "feed", "mcp", "redis", "sync", "taskiq", "testing", "web"}
    assert public_modules <= satellites


def test_version_comes_from_package_metadata() -> None:
    from importlib.metadata import version

    assert irefer_async.__version__ == version("irefer-async")
