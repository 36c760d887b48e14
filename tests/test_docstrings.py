"""The API reference renders Markdown: no reST roles or literal blocks in public docstrings."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import irefer_async
import irefer_async.testing

REST = re.compile(r":(?:py:)?(?:meth|class|func|data|attr|mod|exc|obj|const):`|::\s*$", re.M)


def _public_docstrings() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for package in (irefer_async, irefer_async.testing):
        found.append((package.__name__, package.__doc__ or ""))
        for name in package.__all__:
            obj = getattr(package, name)
            found.append((f"{package.__name__}.{name}", inspect.getdoc(obj) or ""))
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if member.startswith("_") and member != "__init__":
                        continue
                    doc = (
                        inspect.getdoc(value)
                        if callable(value) or isinstance(value, property)
                        else None
                    )
                    if doc:
                        found.append((f"{package.__name__}.{name}.{member}", doc))
    return found


DOCSTRINGS = _public_docstrings()


@pytest.mark.parametrize("name", [name for name, _ in DOCSTRINGS])
def test_public_docstrings_use_markdown(name: str) -> None:
    """mkdocstrings shows reST roles (`:meth:`) and `Example::` blocks as raw text."""
    doc = dict(DOCSTRINGS)[name]
    assert not REST.search(doc), f"{name}: {REST.search(doc)}"


def test_the_reference_leads_with_the_client() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "client.md").read_text()
    first = re.search(r"^::: (\S+)", page, re.M)
    assert first is not None and first.group(1) == "irefer_async.IReferClient"


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for package in (irefer_async, irefer_async.testing):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj):
                found.append((f"{name}.__init__", obj.__init__))
                found += [
                    (f"{name}.{member}", value)
                    for member, value in vars(obj).items()
                    if not member.startswith("_") and inspect.isfunction(value)
                ]
            elif inspect.isfunction(obj):
                found.append((name, obj))
    return found


CALLABLES = _public_callables()
PRIVATE = re.compile(r"(?<![\w.])_[A-Za-z]\w*")


@pytest.mark.parametrize(("name", "func"), CALLABLES, ids=[name for name, _ in CALLABLES])
def test_public_signatures_show_no_private_name(name: str, func: object) -> None:
    """The reference prints signatures: no private alias as a type, no private default."""
    try:
        signature = inspect.signature(func)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    for param in signature.parameters.values():
        annotation = param.annotation if isinstance(param.annotation, str) else ""
        assert not PRIVATE.search(annotation), f"{name}({param.name}: {annotation})"
        if param.default is not inspect.Parameter.empty and callable(param.default):
            default = getattr(param.default, "__name__", "")
            assert not default.startswith("_"), f"{name}({param.name}={default})"
    returns = signature.return_annotation if isinstance(signature.return_annotation, str) else ""
    assert not PRIVATE.search(returns), f"{name} -> {returns}"
