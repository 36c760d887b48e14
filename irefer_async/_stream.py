"""Streamed lists: a JSON array body read chunk by chunk into items, in bounded memory.

`ArraySplitter` cuts it into parsed items (`json_items`); `ListStream` (``client.iter_*()``),
`ListReader` (the tuple calls) and `match_body` (the reconciling scans) read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from ._converter import explain_item, item_structure, json_type, loads, orjson_loads
from ._errors import IReferError, MalformedResponseError, StreamInterruptedError
from ._observability import end_call

if TYPE_CHECKING:
    from ._converter import DecodeObserver as DriftRecorder
    from ._endpoints import Endpoint
    from ._match import RowMatcher
    from ._observability import CallTrace
    from ._transport import ListBody, Slot

T = TypeVar("T")

#: One item larger than this is refused as malformed (bounds the buffer; a row is ~350 bytes).
MAX_ITEM_BYTES: Final = 1 << 20
#: Seconds of CPU work after which the loops of this module give the event loop a turn.
YIELD_EVERY: Final = 0.002
#: The first bytes of a body that is not an array, kept to classify it.
_HEAD_BYTES: Final = 64 * 1024
_TRIES: Final = 4  # failed parses of an item's candidate ends before scanning it instead
_CLOCK_EVERY: Final = 16

# Up to the next brace or bracket outside a string ("unrolled loop" form: no backtracking).
_SKIP = re.compile(rb'[^"{}\[\]]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"{}\[\]]*)*', re.DOTALL)
_SPACE = re.compile(rb"[ \t\r\n]*")
_OPEN = frozenset(b"{[")
_QUOTE, _LBRACKET, _RBRACKET, _LBRACE, _COMMA = b'"[]{,'
# What an item that is not an object is, by its first byte (anything else: a number).
_KINDS = {_QUOTE: "a string", _LBRACKET: "an array", ord("n"): "null"}
_KINDS.update(dict.fromkeys(b"tf", "a boolean"))

_START, _FIRST, _NEXT, _AFTER, _ITEM, _END, _OTHER = range(7)

_orjson_loads = orjson_loads  # None: the splitter scans items and parses with json (tests)


class ArraySplitter:
    """Cut a JSON array body, fed in chunks (`feed`, `feed_eof`), into parsed objects (`next_item`).

    An item ends at the first ``}`` whose prefix parses (orjson), else where a string- and
    nesting-aware scan says. A body that is not an array is kept (its first 64 KiB) as `head`.
    """

    __slots__ = (
        "_buf",
        "_depth",
        "_eof",
        "_max_item",
        "_pos",
        "_start",
        "_state",
        "_tries",
        "bytes_fed",
        "count",
        "head",
        "method",
    )

    def __init__(self, method: str, *, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        self.method = method
        #: Items returned so far (the index of the next one).
        self.count = 0
        self.bytes_fed = 0
        self.head = b""
        self._max_item = max_item_bytes
        self._buf = b""
        self._pos = self._start = self._depth = self._tries = 0  # _tries: set per item
        self._eof = False
        self._state = _START

    @property
    def is_array(self) -> bool | None:
        """True once the body is known to be an array, False if not, None before any byte."""
        return None if self._state == _START else self._state != _OTHER

    def feed(self, chunk: bytes) -> None:
        """Add the next bytes of the body."""
        self.bytes_fed += len(chunk)
        if self._state == _OTHER:
            self.head += chunk[: _HEAD_BYTES - len(self.head)]
            return
        keep = self._start if self._state == _ITEM else self._pos
        self._buf = self._buf[keep:] + chunk
        self._pos -= keep
        self._start -= keep

    def next_item(self) -> Any:
        """Return the next item, parsed, or None when more bytes are needed or it is over."""
        if self._state != _ITEM and not self._to_item():
            return None
        buf = self._buf
        start = self._start
        pos = self._pos
        if self._tries < _TRIES:
            loads = _orjson_loads
            assert loads is not None
            find = buf.find
            while True:
                end = find(b"}", pos, start + self._max_item + 1)
                if end < 0 and not self._eof:
                    self._pos = len(buf)  # no "}" left: look again from the new bytes
                    break
                if end >= 0:
                    pos = end + 1
                    try:
                        return self._done(loads(buf[start:pos]), pos)
                    except ValueError:
                        self._tries += 1
                    if self._tries < _TRIES:
                        continue
                # Nesting or braces in strings, or no candidate parsed at all: scan this one.
                self._tries = _TRIES
                pos = start
                break
        if self._tries >= _TRIES:
            end = self._scan(buf, pos)
            if end >= 0:
                return self._done(self._parse(buf[start:end]), end)
        if len(buf) - start > self._max_item:
            raise self._malformed(f"larger than {self._max_item} bytes", item=True)
        return None

    def _to_item(self) -> bool:
        """Read up to the start of the next item; False if none is there (yet)."""
        buf = self._buf
        pos = self._pos
        state = self._state
        while state not in (_END, _OTHER):
            pos = _SPACE.match(buf, pos).end()  # type: ignore[union-attr] # always matches
            if pos == len(buf):
                break
            c = buf[pos]
            if state == _START:
                if c != _LBRACKET:
                    self._state = _OTHER
                    self.head = buf[pos : pos + _HEAD_BYTES]
                    self._buf = b""
                    return False
                state = _FIRST
            elif state == _AFTER:
                if c not in b",]":
                    raise self._malformed(
                        f"expected ',' or ']' after item {self.count - 1}", not_json=True
                    )
                state = _NEXT if c == _COMMA else _END
            elif c == _RBRACKET and state == _FIRST:
                state = _END
            elif c != _LBRACE:
                kind = _KINDS.get(c, "a number")
                raise self._malformed(f"expected a JSON object, got {kind}", item=True)
            else:
                self._state = _ITEM
                self._pos = self._start = pos
                self._depth = 0
                self._tries = 0 if _orjson_loads is not None else _TRIES  # _TRIES: scan it
                return True
            pos += 1
        self._pos = pos
        self._state = state
        return False

    def _parse(self, raw: bytes) -> Any:
        try:
            return loads(raw) if _orjson_loads is not None else json.loads(raw)
        except ValueError as exc:
            reason = str(exc)
        raise self._malformed(f"not valid JSON ({reason[:80]})", item=True, not_json=True)

    def _done(self, value: Any, end: int) -> Any:
        self._state = _AFTER
        self._pos = end
        self.count += 1
        return value

    def _scan(self, buf: bytes, pos: int) -> int:
        """Return the index after the item's closing brace, or -1 (state saved) at chunk end."""
        depth = self._depth
        skip = _SKIP.match
        while True:
            pos = skip(buf, pos).end()  # type: ignore[union-attr] # always matches
            if pos == len(buf) or buf[pos] == _QUOTE:
                break  # the chunk ends (maybe inside a string)
            pos += 1
            if buf[pos - 1] in _OPEN:
                depth += 1
                continue
            depth -= 1
            if depth == 0:
                return pos
        self._depth = depth
        self._pos = pos
        return -1

    def feed_eof(self) -> None:
        """Say the body is over; then take the last items with `next_item`."""
        self._eof = True

    def close(self) -> None:
        """Check the body ended after the array; raise if it ended inside it."""
        if self._state in (_START, _OTHER):
            return  # not an array: the caller classifies the head
        if self._state != _END:
            raise self._malformed(
                f"the body ended inside the array, after {self.count} items", not_json=True
            )
        if _SPACE.match(self._buf, self._pos).end() != len(self._buf):  # type: ignore[union-attr]
            raise self._malformed("unexpected bytes after the array", not_json=True)

    def _malformed(
        self, detail: str, *, item: bool = False, not_json: bool = False
    ) -> MalformedResponseError:
        return malformed_item(self.method, self.count if item else None, detail, not_json)


def malformed_item(
    method: str, index: int | None, detail: str, not_json: bool = False
) -> MalformedResponseError:
    """Return the error for item ``index`` of a list (or for the list itself when None)."""
    where = "response" if index is None else f"item {index} of the response"
    return MalformedResponseError(
        f"{method}: malformed {where}", method=method, detail=detail, not_json=not_json, item=index
    )


async def json_items(
    chunks: AsyncGenerator[bytes, None], splitter: ArraySplitter, body: ListBody | None = None
) -> AsyncGenerator[Any, None]:
    """Yield each parsed item of the array arriving as ``chunks`` (closed with this generator).

    Given the list ``body`` they come from, it is closed too, and raises if it is not an array.
    """
    clock = time.perf_counter
    last = clock()
    n = 0
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                # No clock reset: reading already buffered data (aiohttp) gives the loop no turn.
                splitter.feed(chunk)
                next_item = splitter.next_item
                while (item := next_item()) is not None:
                    yield item
                    n += 1
                    if n % _CLOCK_EVERY == 0 and clock() - last >= YIELD_EVERY:
                        await asyncio.sleep(0)
                        last = clock()
                if splitter.is_array is False and len(splitter.head) >= _HEAD_BYTES:
                    break
        splitter.feed_eof()
        while (item := splitter.next_item()) is not None:
            yield item
        splitter.close()
    finally:
        if body is not None:
            await body.response.aclose()
    if body is not None and not splitter.is_array:
        # Classified as a whole body: an error, or not the array expected (no local holds it).
        shape = json_type(body.sender.check_body(body.method, splitter.head))
        raise MalformedResponseError(
            f"{body.method}: unexpected response shape",
            method=body.method,
            detail=f"expected a JSON array, got {shape}",
        )


def item_decoder(
    model: type[T], method: str, drift: DriftRecorder | None = None
) -> Callable[[Any, int], T]:
    """Return ``decode(item, index)``: an item into ``model`` (shown to ``drift`` first)."""
    hook = item_structure(model)

    def decode(item: Any, index: int) -> T:
        if drift is not None:
            drift.observe(item, model)
        try:
            return hook(item, None)
        except Exception:  # noqa: S110 - explained below, outside the handler
            pass
        raise malformed_item(method, index, explain_item(item, model))

    return decode


async def match_body(
    body: ListBody, matchers: Sequence[RowMatcher], splitter: ArraySplitter
) -> None:
    """Stream an opened list body through ``matchers`` until none has a target pending; closes it.

    Only matched rows are kept (``matcher.found``). ``splitter.count`` tells how far it read.
    """
    active = [matcher for matcher in matchers if matcher.pending]
    if not active:  # nothing to look for: the body is left unread
        await body.response.aclose()
        return
    async with contextlib.aclosing(json_items(body.chunks(), splitter, body)) as rows:
        async for row in rows:
            hit = False
            for matcher in active:  # every matcher sees the row
                if matcher.match(row) is not None:
                    hit = True
            if hit and not any(matcher.pending for matcher in active):
                break


R_co = TypeVar("R_co", covariant=True)


class Reader(Protocol[R_co]):
    """The decode step of a list answer in the request loop, inside the attempt's slot."""

    #: Whether the call is over when `read` returns (False: a stream owns the slot then).
    ends_call: bool

    async def read(self, body: ListBody, slot: Slot) -> R_co:
        """Read (and close) the body, or keep it open with the slot (a stream)."""
        ...


class ListReader(Generic[T]):
    """The decode step of a tuple list call: the whole body into models."""

    __slots__ = ("_drift", "_model")
    ends_call = True

    def __init__(self, model: type[T], drift: DriftRecorder | None) -> None:
        self._model = model
        self._drift = drift

    async def read(self, body: ListBody, slot: Slot) -> tuple[T, ...]:
        """Read and decode the whole body (closed on every path)."""
        decode = item_decoder(self._model, body.method, self._drift)
        items = json_items(body.chunks(), ArraySplitter(body.method), body)
        out: list[T] = []
        append = out.append
        async with contextlib.aclosing(items):
            async for item in items:
                append(decode(item, len(out)))
        return tuple(out)


class Opened:
    """A stream's decode step (`read`: the body up to its first item, slot kept), then its state."""

    ends_call = False  # the stream ends the call
    #: The call's trace, ended when the stream is (None: unobserved).
    trace: CallTrace | None = None
    #: The slot, once this stream holds it (`read` returned).
    slot: Slot | None = None

    async def read(self, body: ListBody, slot: Slot) -> Opened:
        """Open the body and read its first item; the slot then belongs to this stream."""
        self.splitter = ArraySplitter(body.method)
        self.items = json_items(body.chunks(), self.splitter, body)
        # A failure ends the generator, which closes the body; the attempt's block has the slot.
        self.first: Any = await anext(self.items, None)
        slot.keep()
        self.slot = slot
        return self

    async def close(self) -> None:
        """Close the body and give the slot back (once; nothing if `read` did not return)."""
        slot, self.slot = self.slot, None
        if slot is not None:
            try:
                await self.items.aclose()
            finally:
                slot.release()


class ListStream(Generic[T]):
    """The items of a list endpoint, decoded one by one as the body arrives.

    Returned by ``client.iter_referrers()``, ``iter_rewards()`` and
    ``iter_specific_action_signups()``. Iterate it once, with ``async for``; memory stays
    bounded whatever the campaign's size, and the event loop keeps running between items:

    ```python
    async with client.iter_referrers() as referrers:
        async for referrer in referrers:
            print(referrer.email)
    ```

    The request is sent on the first ``__anext__``; until the first item, failures are
    retried as for any read (the stream holds its concurrency slot until it ends). After
    that a broken stream raises `StreamInterruptedError` (never restarted silently); an item
    that does not decode raises `MalformedResponseError` with its index in `.item`. Leaving
    the block, ``aclose()`` or cancelling closes the connection at once.
    """

    __slots__ = (
        "_decode",
        "_gen",
        "_opened",
        "_opener",
        "campaign",
        "delivered",
        "endpoint",
        "method",
        "params",
    )

    def __init__(
        self,
        opener: Callable[[ListStream[Any]], Awaitable[Opened]],
        endpoint: Endpoint[tuple[T, ...]],
        campaign: str | None,
        params: dict[str, str],
        drift: DriftRecorder | None = None,
    ) -> None:
        """Stream ``endpoint`` (checked ``params``) row by row, its attempts run by ``opener``."""
        #: The API method (``"referrers"``...).
        self.method = endpoint.name
        #: The list endpoint.
        self.endpoint: Endpoint[Any] = endpoint
        #: The campaign (wire string), or None.
        self.campaign = campaign
        #: The checked query parameters.
        self.params = params
        #: Items yielded so far.
        self.delivered = 0
        self._opener = opener
        self._decode: Callable[[Any, int], T] = item_decoder(endpoint.item, endpoint.name, drift)
        self._opened: Opened | None = None
        self._gen = self._items()  # runs from the first __anext__

    def __repr__(self) -> str:
        return f"<ListStream {self.method} delivered={self.delivered}>"

    @property
    def bytes_read(self) -> int:
        """Body bytes received so far."""
        return 0 if self._opened is None else self._opened.splitter.bytes_fed

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._gen

    async def __anext__(self) -> T:
        """Return the next item (sending the request first, on the first call)."""
        return await self._gen.__anext__()

    async def __aenter__(self) -> ListStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection and the concurrency slot (idempotent)."""
        await self._gen.aclose()

    async def _items(self) -> AsyncGenerator[T, None]:
        error: IReferError | None = None
        opened: Opened | None = None
        try:
            opened = self._opened = await self._opener(self)
            item, opened.first = opened.first, None
            decode = self._decode
            while item is not None:
                yield decode(item, self.delivered)
                self.delivered += 1
                item = await anext(opened.items, None)
        except IReferError as exc:
            error = exc
            # Once open, a bad item leaves the stream whole; anything else broke it.
            if opened is not None and (
                not isinstance(exc, MalformedResponseError) or exc.item is None
            ):
                error = StreamInterruptedError(
                    method=self.method, delivered=self.delivered, reason=exc
                )
        finally:
            if opened is not None:
                await opened.close()
            end_call(None if opened is None else opened.trace, error)
        if error is not None:
            raise error  # outside the handler: nothing chained
