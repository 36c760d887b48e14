"""Test-only ways into the streaming reader (`irefer_async._stream`): chunks in, rows out.

The client reads list bodies through `ListReader`/`match_body`; these helpers drive the
same splitter, decoder and matchers from plain chunk iterators, for the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping
from typing import Any, TypeVar

from irefer_async._match import RowMatcher
from irefer_async._stream import ArraySplitter, item_decoder, json_items, match_body
from irefer_async._transport import Sender

T = TypeVar("T")


async def decode_items(
    chunks: AsyncGenerator[bytes, None], model: type[T], splitter: ArraySplitter
) -> AsyncGenerator[T, None]:
    """Yield ``model`` instances decoded from the JSON array arriving as ``chunks``."""
    decode = item_decoder(model, splitter.method)
    index = 0
    async with contextlib.aclosing(json_items(chunks, splitter)) as items:
        async for item in items:
            yield decode(item, index)
            index += 1


async def scan_rows(
    chunks: AsyncGenerator[bytes, None],
    matcher: RowMatcher,
    *,
    method: str,
    splitter: ArraySplitter | None = None,
    stop_when_found: bool = True,
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """Scan a streamed list body once for every target of ``matcher``; its ``found``.

    Stops reading once every target is found (``stop_when_found``).
    """
    splitter = splitter if splitter is not None else ArraySplitter(method)
    if not matcher.pending and stop_when_found:
        return matcher.found
    async with contextlib.aclosing(json_items(chunks, splitter)) as items:
        async for row in items:
            if matcher.match(row) is not None and stop_when_found and not matcher.pending:
                break
    return matcher.found


async def scan_list(
    sender: Sender, method: str, params: dict[str, str], matcher: RowMatcher
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """One attempt of a matching scan over HTTP: the list request, streamed through ``matcher``."""
    if not matcher.pending:
        return matcher.found  # nothing to look for: no request
    body = await sender.open_list(method, params)
    await match_body(body, (matcher,), ArraySplitter(method))
    return matcher.found
