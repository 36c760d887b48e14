"""A blocking client for sync code: Django, Flask, Celery tasks, scripts and notebooks.

```python
from irefer_async.sync import IReferClient

client = IReferClient(license_key="W4qL...", api_key="...", campaign_id=2605)
stats = client.referrer_stats("ann@example.com")
```

`IReferClient` has the async client's methods, parameters, results and errors; list
streams and bulk runs are plain iterators (`SyncListStream`, `SyncBulkRun`). It runs the
async client on one private event loop in a background thread, safe from many threads, in
a thread that already runs a loop (Jupyter), and across a fork (the child starts afresh).
"""

from __future__ import annotations

from ._client import IReferClient, SyncRows
from ._streams import SyncBulkRun, SyncListStream

__all__ = ["IReferClient", "SyncBulkRun", "SyncListStream", "SyncRows"]
