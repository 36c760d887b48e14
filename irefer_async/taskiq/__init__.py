"""Distributed signups import on taskiq: Redis Streams, a shared rate limit, a ledger.

Several worker processes (on one host or many) share one import: jobs of a few dozen rows go
through a Redis stream with acknowledgements (`ImportBroker`); every request of every
worker draws from one `irefer_async.redis.RedisRateLimiter`; a `Ledger` in Redis records one
outcome per row and lets one worker at a time handle a row, so a job delivered twice (its
worker was killed, it was taken over) sends no row twice. ``docs/taskiq.md`` has the recipe.

```python
# worker.py: run with  taskiq worker worker:broker --max-async-tasks 4
from irefer_async.taskiq import ImportBroker, ImportSettings, install_signup_import

broker = ImportBroker("redis://redis:6379/1")
submit_signups = install_signup_import(broker, ImportSettings.from_env())
```

Needs the `taskiq` extra (``pip install 'irefer-async[taskiq]'``). A satellite of the core:
it uses only `irefer_async`'s public names, and is never imported by ``irefer_async`` itself.
"""

from __future__ import annotations

from ._broker import DEFAULT_IDLE_TIMEOUT, ImportBroker
from ._import import (
    EnqueueError,
    ImportSettings,
    RowsInFlight,
    enqueue_rows,
    install_signup_import,
    read_csv_chunks,
    submit_chunk,
    submit_row,
)
from ._ledger import DEFAULT_LEASE_SECONDS, Ledger

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_LEASE_SECONDS",
    "EnqueueError",
    "ImportBroker",
    "ImportSettings",
    "Ledger",
    "RowsInFlight",
    "enqueue_rows",
    "install_signup_import",
    "read_csv_chunks",
    "submit_chunk",
    "submit_row",
]
