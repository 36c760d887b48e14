"""The worker of a distributed signups import: `irefer_async.taskiq` wired from the environment.

Run one or more workers (on any host that reaches Redis and the API), then enqueue::

    taskiq worker app:broker --max-async-tasks 4      # in this directory, once per process
    python enqueue.py signups.csv 25                  # one job per 25 rows

Everything is in the library (docs/taskiq.md): `ImportBroker` (Redis Streams, acknowledged,
a dead worker's jobs taken over after ``IREFER_IDLE_TIMEOUT`` seconds), one
`RedisRateLimiter` shared by every process (``IREFER_RATE`` requests/s), and the `Ledger`
(one outcome per row, one sender per row at a time).
"""

from __future__ import annotations

import os

from irefer_async.taskiq import ImportBroker, ImportSettings, install_signup_import

broker = ImportBroker(
    os.environ.get("TASKIQ_BROKER_URL", "redis://127.0.0.1:6379/1"),
    idle_timeout=float(os.environ.get("IREFER_IDLE_TIMEOUT", "60")),
)
submit_signups = install_signup_import(broker, ImportSettings.from_env())
