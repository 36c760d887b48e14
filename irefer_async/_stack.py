"""The HTTP stacks (httpx, httpx2: one API, distinct classes), and the transports trusted.

A transport's "never sent" verdict (connect error, connect/pool timeout) lets a write be
resent; it is trusted only from transports whose error mapping the tests pin (`trusts`).
Any other transport's such error on a write is reconciled as ambiguous.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Final, Literal

__all__ = ["HTTP_STACKS", "HttpStack", "stack_of", "trusts"]

#: The value of ``IReferClient(http_stack=...)``.
HttpStack = Literal["httpx", "httpx2"]
#: Every stack, the default first.
HTTP_STACKS: Final[tuple[HttpStack, ...]] = ("httpx", "httpx2")


def stack_of(client: object) -> ModuleType | None:
    """Return the stack an ``AsyncClient`` belongs to (None: neither httpx's nor httpx2's)."""
    for name in HTTP_STACKS:
        # An httpx2 client exists only if httpx2 was imported: never import it to find out.
        module = sys.modules.get(name)
        if module is not None and isinstance(client, module.AsyncClient):
            return module
    return None


# The transports whose error mapping the tests pin, trusted when their module is loaded
# (never imported here).
_TRUSTED: Final = (
    ("httpx", "AsyncHTTPTransport"),
    ("httpx", "MockTransport"),
    ("httpx2", "AsyncHTTPTransport"),
    ("httpx2", "MockTransport"),
    ("irefer_async._aiohttp", "AiohttpSender"),
    ("irefer_async.testing._transport", "EmulatorTransport"),
    ("irefer_async.testing._transport2", "Httpx2EmulatorTransport"),
    ("respx.transports", "MockTransport"),
    ("respx.transports", "TryTransport"),
)


def _trusted_types() -> set[type[Any]]:
    found = (getattr(sys.modules.get(module), name, None) for module, name in _TRUSTED)
    return {cls for cls in found if isinstance(cls, type)}


def trusts(transport: object) -> bool:
    """Whether the SDK has tested how ``transport`` maps its errors to phases.

    ``transport`` is what the SDK built its client with: None for the stack's own
    ``AsyncHTTPTransport``, an ``httpx.AsyncBaseTransport`` passed as ``transport=``, or the
    aiohttp sender. An injected ``http_client`` is not judged (httpx has no public way to see
    its transports): its "never sent" verdicts are not trusted.
    """
    return transport is None or type(transport) in _trusted_types()
