"""The ``irefer`` script, outside `irefer_async.cli` (it imports click): names a missing extra."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``irefer`` command line, or explain how to install it."""
    missing = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]
    if missing:
        sys.stderr.write(
            f"irefer: the command line needs {', '.join(missing)}: "
            "pip install 'irefer-async[cli]'\n"
        )
        raise SystemExit(2)
    from .cli import main as cli_main  # noqa: PLC0415 - only once its dependencies exist

    cli_main(argv)
