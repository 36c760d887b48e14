"""Griffe extension for the API reference (``mkdocs.yml``: mkdocstrings' ``extensions``).

Two things the docstrings and signatures need to read well, done here so that the source stays
as it is:

* a doctest (``>>>`` lines and their output, up to a blank line) outside a fenced block
  becomes a ``pycon`` code block, without its ``# doctest: ...`` flags (Markdown would
  otherwise render ``>>>`` as nested blockquotes, the lines run together);
* a parameter whose default is a module constant (``timeout=DEFAULT_TIMEOUT``) shows the
  constant's value as written in the source (``timeout=httpx.Timeout(10.0, connect=5.0)``);
* a type imported under another name (``from httpx2 import AsyncClient as Httpx2AsyncClient``)
  shows the library it is from (``httpx2.AsyncClient``), with ``annotations_path: source``
  (which keeps ``httpx.AsyncClient`` as written and the SDK's own ``RetryConfig`` short).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_FLAGS = re.compile(r"\s*#\s*doctest:.*$")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")


def fence_doctests(text: str) -> str:
    """Return *text* with each doctest outside a fence wrapped in a ``pycon`` fence."""
    lines = text.splitlines()
    out: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            fenced = not fenced
        elif not fenced and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            if out and out[-1].strip():
                out.append("")
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(_FLAGS.sub("", lines[i]).rstrip())
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _constant_value(func: griffe.Function, name: str) -> Any:
    member = func.module.members.get(name)
    try:
        target = member.final_target if member is not None and member.is_alias else member
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    if isinstance(target, griffe.Attribute):
        return target.value
    return None


class IReferDocs(griffe.Extension):
    """Fence doctests; show the values of constant defaults."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Fence the doctests of every docstring as it is read."""
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Replace constant defaults by their values, once every module is loaded."""
        self._walk(pkg)

    def _walk(self, obj: griffe.Object) -> None:
        for member in list(obj.members.values()):
            if member.is_alias:
                continue
            if isinstance(member, griffe.Function):
                for parameter in member.parameters:
                    _name_the_library(parameter.annotation)
                    default = parameter.default
                    if default is not None and _CONSTANT.fullmatch(str(default)):
                        value = _constant_value(member, str(default))
                        if value is not None:
                            parameter.default = value
                _name_the_library(member.returns)
            elif isinstance(member, griffe.Attribute):
                _name_the_library(member.annotation)
            elif isinstance(member, griffe.Class | griffe.Module):
                self._walk(member)


def _name_the_library(annotation: object) -> None:
    """Show an aliased import from another library by its own path (``httpx2.AsyncClient``)."""
    if not isinstance(annotation, griffe.Expr):
        return
    for name in annotation.iterate(flat=True):
        if not isinstance(name, griffe.ExprName):
            continue
        path = name.canonical_path  # the name as written when it cannot be resolved
        if not path.startswith("irefer_async") and path.rsplit(".", 1)[-1] != name.name:
            name.name = path
