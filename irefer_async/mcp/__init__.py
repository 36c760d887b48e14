"""An MCP server for agents: read a referral campaign safely, write only with consent.

Needs the ``mcp`` extra (``pip install 'irefer-async[mcp]'``). Run it with
``irefer mcp`` (stdio; ``--http [HOST:]PORT`` for streamable HTTP on 127.0.0.1), or build one
around your own client:

```python
from irefer_async import IReferClient
from irefer_async.mcp import build_server

async with IReferClient() as client:
    await build_server(client).run_stdio_async()
```

Six read tools (`READ_TOOLS`: read-only, idempotent, compact structured answers computed by
streaming the lists); two write tools (`WRITE_TOOLS`) only with ``allow_writes=True``, each with
a ``dry_run`` that sends nothing, a confirmation asked of the user (MCP elicitation), and a
record that answers a repeated call without writing twice. See ``docs/mcp.md``.
"""

from ._results import MAX_RESULT_BYTES
from ._run import parse_http, run_server
from ._server import READ_TOOLS, WRITE_TOOLS, Confirm, build_server

__all__ = [
    "Confirm",
    "MAX_RESULT_BYTES",
    "READ_TOOLS",
    "WRITE_TOOLS",
    "build_server",
    "parse_http",
    "run_server",
]
