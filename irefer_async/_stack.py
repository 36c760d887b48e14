"""The HTTP stacks the SDK runs on (httpx, httpx2), and which transports it trusts.

httpx is the default; httpx2 (``irefer-async[httpx2]``: ``http_stack="httpx2"`` or an injected
``httpx2.AsyncClient``) has the same API, so one `Stack` is all the send step needs.

A transport's "never sent" verdict (connect error, connect/pool timeout) lets a write be
resent; it is trusted only from transports whose error mapping the tests pin (`trusts`),
judged on what the SDK built its client with, never on an injected client's privates.
Any other transport's such error on a write is reconciled as ambiguous.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Final, Literal

__all__ = ["HTTP_STACKS", "HttpStack", "Stack", "load", "stack_of", "trusts"]

#: The value of ``IReferClient(http_stack=...)``.
HttpStack = Literal["httpx", "httpx2"]
#: Every stack, the default first.
HTTP_STACKS: Final[tuple[HttpStack, ...]] = ("httpx", "httpx2")


class Stack:
    """One HTTP stack: its module and the classes the send step needs from it."""

    __slots__ = ("async_client", "http_error", "invalid_url", "module", "name", "request")

    def __init__(self, name: HttpStack, module: ModuleType) -> None:
        #: ``"httpx"`` or ``"httpx2"``.
        self.name: HttpStack = name
        #: The imported module.
        self.module = module
        self.async_client: type[Any] = module.AsyncClient
        self.request: type[Any] = module.Request
        self.http_error: type[Exception] = module.HTTPError
        self.invalid_url: type[Exception] = module.InvalidURL

    def __repr__(self) -> str:
        return f"<Stack {self.name}>"


_LOADED: dict[str, Stack] = {}


def load(name: HttpStack) -> Stack:
    """Import a stack (ImportError with the missing module's name if it is not installed)."""
    stack = _LOADED.get(name)
    if stack is None:
        stack = _LOADED[name] = Stack(name, importlib.import_module(name))
    return stack


def stack_of(client: object) -> Stack | None:
    """Return the stack an ``AsyncClient`` belongs to (None: neither httpx's nor httpx2's)."""
    for name in HTTP_STACKS:
        # An httpx2 client exists only if httpx2 was imported: never import it to find out.
        module = sys.modules.get(name)
        if module is not None and isinstance(client, module.AsyncClient):
            return load(name)
    return None


def _trusted_types() -> set[type[Any]]:
    found: set[type[Any]] = set()
    for name in HTTP_STACKS:
        module = sys.modules.get(name)
        if module is not None:
            found.update((module.AsyncHTTPTransport, module.MockTransport))
    for module_name, attribute in _TRUSTED_ELSEWHERE:
        module = sys.modules.get(module_name)
        cls = getattr(module, attribute, None) if module is not None else None
        if isinstance(cls, type):
            found.add(cls)
    return found


# Transports defined elsewhere, trusted when their module is loaded (never imported here).
_TRUSTED_ELSEWHERE: Final = (
    ("irefer_async._aiohttp", "AiohttpSender"),
    ("irefer_async.testing._transport", "EmulatorTransport"),
    ("irefer_async.testing._transport2", "Httpx2EmulatorTransport"),
    ("respx.transports", "MockTransport"),
    ("respx.transports", "TryTransport"),
)


def trusts(transport: object) -> bool:
    """Whether the SDK has tested how ``transport`` maps its errors to phases.

    ``transport`` is what the SDK built its client with: None for the stack's own
    ``AsyncHTTPTransport`` (proxies from the environment are mounted as such), an
    ``httpx.AsyncBaseTransport`` passed as ``transport=``, or the aiohttp sender. An injected
    ``http_client`` is not judged: httpx has no public way to see its transports, so its
    "never sent" verdicts are not trusted (a write is reconciled, never resent blindly).
    """
    return transport is None or type(transport) in _trusted_types()
