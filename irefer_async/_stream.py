"""Streamed lists: a JSON array body read chunk by chunk into items, in bounded memory.

`ArraySplitter` cuts the array into parsed items, `ItemDecoder` makes models of them,
`ListStream` is what ``client.iter_*()`` return, `read_list` what the tuple calls use and
`match_body` the reconciling scans' reader. Every loop gives the event loop a turn at least
every `YIELD_EVERY` seconds of work; a body that is not an array is classified as a whole
body would be (`not_an_array`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from ._converter import explain_item, item_structure, json_type, loads, orjson_loads
from ._errors import IReferError, MalformedResponseError, StreamInterruptedError
from ._observability import stamp_error

if TYPE_CHECKING:
    from types import TracebackType

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
_QUOTE = ord('"')
_LBRACKET = ord("[")
_RBRACKET = ord("]")
_LBRACE = ord("{")
_COMMA = ord(",")

_START, _FIRST, _NEXT, _AFTER, _ITEM, _END, _OTHER = range(7)


_orjson_loads = orjson_loads  # None: the splitter scans items and parses with json (tests)


def _loads(raw: bytes) -> Any:
    return loads(raw) if _orjson_loads is not None else json.loads(raw)


def _kind(first: int) -> str:
    if first == _QUOTE:
        return "a string"
    if first == _LBRACKET:
        return "an array"
    if first in b"tf":
        return "a boolean"
    if first == ord("n"):
        return "null"
    return "a number"


class ArraySplitter:
    """Cut a JSON array body, fed in chunks (`feed`, `feed_eof`), into parsed objects (`next_item`).

    An item ends at the first ``}`` whose prefix parses (orjson), else where a string- and
    nesting-aware scan says. A bad item raises `MalformedResponseError` naming its index;
    `close` raises if the body ended inside the array. A body that is not an array is kept
    (its first 64 KiB) as `head`.
    """

    __slots__ = (
        "_buf",
        "_depth",
        "_eof",
        "_head",
        "_max_item",
        "_pos",
        "_scanning",
        "_start",
        "_state",
        "_tries",
        "bytes_fed",
        "count",
        "method",
    )

    def __init__(self, method: str, *, max_item_bytes: int = MAX_ITEM_BYTES) -> None:
        #: The API method, for error messages.
        self.method = method
        #: Items returned so far (the index of the next one).
        self.count = 0
        #: Body bytes fed so far.
        self.bytes_fed = 0
        self._max_item = max_item_bytes
        self._buf = b""
        self._pos = 0
        self._start = 0
        self._depth = 0
        self._tries = 0
        self._scanning = _orjson_loads is None
        self._eof = False
        self._state = _START
        self._head = b""

    @property
    def is_array(self) -> bool | None:
        """True once the body is known to be an array, False if not, None before any byte."""
        if self._state == _START:
            return None
        return self._state != _OTHER

    @property
    def head(self) -> bytes:
        """The first bytes (up to 64 KiB) of a body that is not an array."""
        return self._head

    @property
    def head_full(self) -> bool:
        """Whether `head` holds all it keeps, so reading on is pointless."""
        return len(self._head) >= _HEAD_BYTES

    def feed(self, chunk: bytes) -> None:
        """Add the next bytes of the body."""
        if not chunk:
            return
        self.bytes_fed += len(chunk)
        if self._state == _OTHER:
            if len(self._head) < _HEAD_BYTES:
                self._head += chunk[: _HEAD_BYTES - len(self._head)]
            return
        keep = self._start if self._state == _ITEM else self._pos
        if keep >= len(self._buf):
            self._buf = bytes(chunk)
        else:
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
        if not self._scanning:
            loads = _orjson_loads
            assert loads is not None
            find = buf.find
            while True:
                end = find(b"}", pos, start + self._max_item + 1)
                if end < 0:
                    if self._eof:  # every candidate failed: let the scan say why
                        self._scanning = True
                        pos = start
                    else:
                        pos = len(buf)  # no "}" left: look again from the new bytes
                    break
                pos = end + 1
                try:
                    value = loads(buf[start:pos])
                except ValueError:
                    self._tries += 1
                    if self._tries < _TRIES:
                        continue
                    self._scanning = True  # nesting or braces in strings: scan this one
                    pos = start
                    break
                return self._done(value, pos)
        if self._scanning:
            end = self._scan(buf, pos)
            if end >= 0:
                return self._done(self._parse(buf[start:end]), end)
        else:
            self._pos = pos
        if len(buf) - start > self._max_item:
            raise self._malformed(f"larger than {self._max_item} bytes", item=True)
        return None

    def _to_item(self) -> bool:
        """Read up to the start of the next item; False if none is there (yet)."""
        buf = self._buf
        pos = self._pos
        state = self._state
        while True:
            pos = _SPACE.match(buf, pos).end()  # type: ignore[union-attr] # always matches
            if pos == len(buf) or state in (_END, _OTHER):
                break
            c = buf[pos]
            if state == _START:
                if c != _LBRACKET:
                    self._state = _OTHER
                    self._head = buf[pos : pos + _HEAD_BYTES]
                    self._buf = b""
                    return False
                state = _FIRST
            elif state == _AFTER:
                if c == _RBRACKET:
                    state = _END
                elif c == _COMMA:
                    state = _NEXT
                else:
                    raise self._malformed(
                        f"expected ',' or ']' after item {self.count - 1}", not_json=True
                    )
            elif c == _RBRACKET and state == _FIRST:
                state = _END
            elif c != _LBRACE:
                raise self._malformed(f"expected a JSON object, got {_kind(c)}", item=True)
            else:
                self._state = _ITEM
                self._pos = self._start = pos
                self._depth = self._tries = 0
                self._scanning = _orjson_loads is None
                return True
            pos += 1
        self._pos = pos
        self._state = state
        return False

    def _parse(self, raw: bytes) -> Any:
        try:
            return _loads(raw)
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
        n = len(buf)
        skip = _SKIP.match
        while True:
            pos = skip(buf, pos).end()  # type: ignore[union-attr] # always matches
            if pos == n:
                break
            c = buf[pos]
            if c == _QUOTE:
                break  # a string cut by the end of the chunk
            pos += 1
            if c in _OPEN:
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
        self._eof = True
        if self._state in (_START, _OTHER):
            return  # not an array: the caller classifies the head
        if self._state != _END:
            raise self._malformed(
                f"the body ended inside the array, after {self.count} items", not_json=True
            )
        rest = _SPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
        if rest != len(self._buf):
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


class _Ticker:
    """Says when a loop has worked `YIELD_EVERY` seconds without an await."""

    __slots__ = ("_clock", "_last", "_n")

    def __init__(self) -> None:
        self._clock = time.perf_counter
        self._last = self._clock()
        self._n = 0

    def due(self) -> bool:
        self._n += 1
        if self._n < _CLOCK_EVERY:
            return False
        self._n = 0
        now = self._clock()
        if now - self._last < YIELD_EVERY:
            return False
        self._last = now
        return True


async def json_items(
    chunks: AsyncIterable[bytes], splitter: ArraySplitter
) -> AsyncGenerator[Any, None]:
    """Yield each parsed item of the array arriving as ``chunks`` (nothing if not an array)."""
    ticker = _Ticker()
    async for chunk in chunks:
        # No ticker reset: a read of already buffered data (aiohttp) gives the loop no turn.
        splitter.feed(chunk)
        next_item = splitter.next_item
        while (item := next_item()) is not None:
            yield item
            if ticker.due():
                await asyncio.sleep(0)
        if splitter.is_array is False and splitter.head_full:
            break
    splitter.feed_eof()
    while (item := splitter.next_item()) is not None:
        yield item
    splitter.close()


class ItemDecoder(Generic[T]):
    """Decodes parsed list items into ``model``; the error names the item's index."""

    __slots__ = ("_drift", "_hook", "method", "model")

    def __init__(self, model: type[T], method: str, drift: DriftRecorder | None = None) -> None:
        #: The model items decode into.
        self.model = model
        #: The API method, for error messages.
        self.method = method
        self._hook = item_structure(model)
        self._drift = drift

    def __call__(self, item: Any, index: int) -> T:
        """Decode item number ``index`` (counting its drift first, when recording)."""
        if self._drift is not None:
            self._drift.observe(item, self.model)
        try:
            return self._hook(item, None)
        except Exception:  # noqa: S110 - explained below, outside the handler
            pass
        raise malformed_item(self.method, index, explain_item(item, self.model))


def not_an_array(splitter: ArraySplitter, body: ListBody) -> IReferError:
    """Return the error for a list body that is not an array, as a whole body would get it."""
    error: IReferError | None = None
    data: object = None
    try:
        data = body.check_body(splitter.head)
    except IReferError as exc:
        error = exc
    if error is not None:
        error.__context__ = None
        return error
    return MalformedResponseError(
        f"{splitter.method}: unexpected response shape",
        method=splitter.method,
        detail=f"expected a JSON array, got {json_type(data)}",
    )


async def read_list(
    body: ListBody, model: type[T], drift: DriftRecorder | None = None
) -> tuple[T, ...]:
    """Read a whole list body into models (the tuple calls); the body is closed on every path."""
    method = body.method
    splitter = ArraySplitter(method)
    decode = ItemDecoder(model, method, drift)
    out: list[T] = []
    append = out.append
    try:
        async with (
            contextlib.aclosing(body.chunks()) as chunks,
            contextlib.aclosing(json_items(chunks, splitter)) as items,
        ):
            async for item in items:
                append(decode(item, len(out)))
    finally:
        await body.aclose()
    if not splitter.is_array:
        raise not_an_array(splitter, body)
    return tuple(out)


async def match_body(
    body: ListBody, matchers: Sequence[RowMatcher], splitter: ArraySplitter | None = None
) -> None:
    """Stream an opened list body through ``matchers`` until none has a target pending; closes it.

    Only matched rows are kept (``matcher.found``). ``splitter.count`` tells how far it read.
    """
    splitter = splitter if splitter is not None else ArraySplitter(body.method)
    active = [matcher for matcher in matchers if matcher.pending]
    try:
        if not active:
            return  # nothing to look for: the body is left unread
        async with (
            contextlib.aclosing(body.chunks()) as chunks,
            contextlib.aclosing(json_items(chunks, splitter)) as items,
        ):
            if len(active) == 1:
                (matcher,) = active
                match = matcher.match
                async for row in items:
                    if match(row) is not None and not matcher.pending:
                        break
            else:
                async for row in items:
                    hit = False
                    for matcher in active:
                        if matcher.match(row) is not None:
                            hit = True
                    if hit and not any(matcher.pending for matcher in active):
                        break
    finally:
        await body.aclose()
    if not splitter.is_array:
        raise not_an_array(splitter, body)


R_co = TypeVar("R_co", covariant=True)


class Reader(Protocol[R_co]):
    """The decode step of a list answer in the request loop, inside the attempt's slot.

    ``ends_call`` False: the call goes on after the attempt (a stream owns the slot then).
    """

    @property
    def ends_call(self) -> bool:
        """Whether the call is over when `read` returns."""
        ...

    async def read(self, body: ListBody, slot: Slot) -> R_co:
        """Read (and close) the body, or keep it open with the slot (a stream)."""
        ...


class ListReader(Generic[T]):
    """The decode step of a tuple list call: the whole body into models (`read_list`)."""

    __slots__ = ("_drift", "_model")

    #: The call is over when the body has been read.
    ends_call = True

    def __init__(self, model: type[T], drift: DriftRecorder | None) -> None:
        self._model = model
        self._drift = drift

    async def read(self, body: ListBody, slot: Slot) -> tuple[T, ...]:
        """Read and decode the whole body (closed on every path)."""
        return await read_list(body, self._model, self._drift)


class Opened:
    """One stream's open answer: its body, its reader, and the throttle slot it holds."""

    __slots__ = ("body", "chunks", "first", "items", "slot", "splitter", "trace")

    def __init__(self, slot: Slot, body: ListBody) -> None:
        self.slot = slot
        self.body = body
        self.chunks = body.chunks()
        self.splitter = ArraySplitter(body.method)
        self.items = json_items(self.chunks, self.splitter)
        self.first: Any = None
        #: The call's trace, ended when the stream is (None: unobserved).
        self.trace: CallTrace | None = None

    async def close(self) -> None:
        """Close the body and give the slot back."""
        try:
            await self.items.aclose()
            await self.chunks.aclose()
            await self.body.aclose()
        finally:
            self.slot.release()


class StreamOpener:
    """The decode step of a stream's attempt: the body up to its first item, slot kept."""

    __slots__ = ()

    #: The call goes on after the attempt (the stream ends it).
    ends_call = False

    async def read(self, body: ListBody, slot: Slot) -> Opened:
        """Open the body and read its first item; the slot then belongs to the `Opened`."""
        opened = Opened(slot, body)
        try:
            opened.first = await anext(opened.items, None)
            if opened.first is None and not opened.splitter.is_array:
                raise not_an_array(opened.splitter, body)
        except BaseException:
            await opened.items.aclose()
            await opened.chunks.aclose()
            await body.aclose()
            raise
        slot.keep()
        return opened


class StreamSource(Protocol):
    """What opens a `ListStream` (the client: its checks, slots, retries and trace)."""

    async def _open_stream(self, stream: ListStream[Any]) -> Opened:
        """Run the stream's attempts until its first item (or raise)."""
        ...


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
        "_decoder",
        "_gen",
        "_opened",
        "_source",
        "campaign",
        "delivered",
        "endpoint",
        "method",
        "params",
    )

    def __init__(
        self,
        source: StreamSource,
        endpoint: Endpoint[Any],
        *,
        campaign: str | None,
        params: dict[str, str],
        model: type[T],
        drift: DriftRecorder | None = None,
    ) -> None:
        """Stream ``endpoint`` (checked ``params``) into ``model`` rows, opened by ``source``."""
        #: The API method (``"referrers"``...).
        self.method = endpoint.name
        #: The list endpoint.
        self.endpoint = endpoint
        #: The campaign (wire string), or None.
        self.campaign = campaign
        #: The checked query parameters.
        self.params = params
        #: Items yielded so far.
        self.delivered = 0
        self._source = source
        self._decoder = ItemDecoder(model, endpoint.name, drift)
        self._opened: Opened | None = None
        self._gen: AsyncGenerator[T, None] | None = None

    def __repr__(self) -> str:
        return f"<ListStream {self.method} delivered={self.delivered}>"

    @property
    def bytes_read(self) -> int:
        """Body bytes received so far."""
        opened = self._opened
        return 0 if opened is None else opened.splitter.bytes_fed

    def __aiter__(self) -> ListStream[T]:
        return self

    async def __anext__(self) -> T:
        """Return the next item (sending the request first, on the first call)."""
        if self._gen is None:
            self._gen = self._items()
        return await self._gen.__anext__()

    async def __aenter__(self) -> ListStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release the connection and the concurrency slot (idempotent)."""
        gen = self._gen
        if gen is None:
            self._gen = _closed()
            return
        await gen.aclose()

    async def _items(self) -> AsyncGenerator[T, None]:
        error: IReferError | None = None
        opened: Opened | None = None
        try:
            opened = self._opened = await self._source._open_stream(self)
            async for item in self._decoded(opened):
                yield item
        except IReferError as exc:
            error = exc
            raise
        finally:
            if opened is not None:
                await opened.close()
                if opened.trace is not None:
                    opened.trace.end(error)
            if error is not None and error.correlation_id is None:
                stamp_error(error)

    async def _decoded(self, opened: Opened) -> AsyncGenerator[T, None]:
        decode = self._decoder
        item = opened.first
        if item is None:
            return
        opened.first = None
        items = opened.items
        while True:
            yield decode(item, self.delivered)
            self.delivered += 1
            failure: IReferError | None = None
            try:
                item = await anext(items, None)
            except IReferError as exc:
                failure = exc
            if failure is not None:
                if isinstance(failure, MalformedResponseError) and failure.item is not None:
                    raise failure  # this item is bad, the stream is not broken
                raise StreamInterruptedError(
                    method=self.method, delivered=self.delivered, reason=failure
                )
            if item is None:
                return


async def _closed() -> AsyncGenerator[Any, None]:
    return
    yield  # an empty async generator
