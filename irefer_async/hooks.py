"""Event hooks and correlation ids: what a metrics or tracing integration uses. Part of the core.

``IReferClient(event_hooks={"request": [...], "response": [...], "retry": [...]})`` calls each
hook with a `CallEvent` for every attempt: ``request`` just before it is sent (after its
rate-limit slot), ``response`` when it is over (status, headers, elapsed time, error) and
``retry`` before an attempt that retries a failed one. Hooks may be functions or coroutine
functions; an exception a hook raises is logged and swallowed, so metrics code never changes
a call's outcome.

Every logical call has one correlation id, on its events, log lines and error; bind your own
with `correlation_scope` (also at the package's top level). Examples: the Observability guide.
"""

from __future__ import annotations

from ._observability import CallEvent, EventHook, EventHooks, correlation_scope

__all__ = ["CallEvent", "EventHook", "EventHooks", "correlation_scope"]
