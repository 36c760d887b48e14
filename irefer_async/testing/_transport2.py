"""The in-process front on the httpx2 stack: ``Emulator.transport(http_stack="httpx2")``.

The same logic as `_transport.EmulatorTransport`, on httpx2's classes (its
``AsyncBaseTransport``, ``Response``, ``AsyncByteStream`` and exceptions). Imported only when
httpx2 is installed and asked for.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

import httpx2

from ._transport import _Chunked, _Endless, _InProcess, _Trickle

__all__ = ["Httpx2EmulatorTransport"]


class _Httpx2TrickleStream(_Trickle, httpx2.AsyncByteStream):
    _http: ClassVar[ModuleType] = httpx2


class _Httpx2EndlessStream(_Endless, httpx2.AsyncByteStream):
    _http: ClassVar[ModuleType] = httpx2


class _Httpx2ChunkedStream(_Chunked, httpx2.AsyncByteStream):
    pass


class Httpx2EmulatorTransport(_InProcess, httpx2.AsyncBaseTransport):
    """An ``httpx2.AsyncBaseTransport`` answering from an `Emulator` in-process."""

    _http: ClassVar[ModuleType] = httpx2
    _trickle: ClassVar[type[_Trickle]] = _Httpx2TrickleStream
    _endless: ClassVar[type[_Endless]] = _Httpx2EndlessStream
    _chunked: ClassVar[type[_Chunked]] = _Httpx2ChunkedStream
