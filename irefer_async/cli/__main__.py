"""``python -m irefer_async.cli``: the same as the ``irefer`` command."""

from . import main

main()
