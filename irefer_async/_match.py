"""The matching scan's targets: "is there a row with these field values?" for many targets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RowMatcher"]


def _wire_text(value: Any) -> str | None:
    # The lenient decoding's view of a text field: numbers compare by their text.
    if value is None or type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


class RowMatcher:
    """The targets of one matching scan (one dict lookup per row): rows matching ``fields``.

    A target is one string per field, compared with the row's JSON values (numbers by their
    text); ``casefold`` fields compare case-insensitively; ``convert`` maps a field's text on
    both sides first (slower path). `found` keeps the first matching row (lists: newest first).
    """

    __slots__ = ("_convert", "_fold", "_key_of", "_keys", "fields", "found")

    def __init__(
        self,
        fields: Sequence[str],
        targets: Iterable[Sequence[str]] = (),
        *,
        casefold: Iterable[str] = (),
        convert: Mapping[str, Callable[[str], str]] | None = None,
    ) -> None:
        fields = tuple(fields)
        if not fields or len(set(fields)) != len(fields):
            raise ValueError(f"RowMatcher needs distinct field names, got {fields!r}")
        fold = frozenset(casefold)
        convert = dict(convert or {})
        unknown = fold.union(convert).difference(fields)
        if unknown:
            raise ValueError(f"casefold or convert names fields not matched: {sorted(unknown)}")
        #: The wire field names compared, in target order.
        self.fields = fields
        self._fold = tuple(name in fold for name in fields)
        self._convert = tuple(convert.get(name) for name in fields)
        # Normalised target -> the target as given.
        self._keys: dict[tuple[str, ...], tuple[str, ...]] = {}
        #: Targets found so far -> the first row (its JSON object) that matched.
        self.found: dict[tuple[str, ...], Mapping[str, Any]] = {}
        self._key_of = self._fast_key_of()
        for target in targets:
            self.add(target)

    def _normal(self, values: Sequence[str | None]) -> tuple[str, ...] | None:
        out: list[str] = []
        for value, fold, convert in zip(values, self._fold, self._convert, strict=True):
            if value is None:
                return None
            text = value if convert is None else convert(value)
            out.append(text.casefold() if fold else text)
        return tuple(out)

    def add(self, target: Sequence[str]) -> tuple[str, ...]:
        """Look for rows with these values (one per field); returns the target as a tuple."""
        target = tuple(target)
        if len(target) != len(self.fields) or not all(isinstance(v, str) for v in target):
            raise ValueError(
                f"a target is {len(self.fields)} strings (for {self.fields}), got {target!r}"
            )
        self._keys[self._normal(target)] = target  # type: ignore[index] # no None in a target
        return target

    @property
    def pending(self) -> int:
        """How many targets have no matching row yet."""
        return len(self._keys) - len(self.found)

    def _fast_key_of(self) -> Callable[[dict[str, Any]], tuple[str, ...] | None]:
        # The common shapes (one field; two unfolded fields) inline: called for every row.
        fields = self.fields
        normal = self._normal

        def general(row: dict[str, Any]) -> tuple[str, ...] | None:
            return normal([_wire_text(row.get(name)) for name in fields])

        if any(self._convert):
            return general
        if len(fields) == 1:
            (field,) = fields
            folded = self._fold[0]

            def one(row: dict[str, Any]) -> tuple[str, ...] | None:
                value = row.get(field)
                if type(value) is not str:
                    value = _wire_text(value)
                    if value is None:
                        return None
                return (value.casefold(),) if folded else (value,)

            return one
        if len(fields) == 2 and not any(self._fold):
            first, second = fields

            def pair(row: dict[str, Any]) -> tuple[str, ...] | None:
                a = row.get(first)
                b = row.get(second)
                if type(a) is str and type(b) is str:
                    return (a, b)
                return general(row)

            return pair
        return general

    def match(self, row: Any) -> tuple[str, ...] | None:
        """Record ``row`` (a parsed JSON object) if it matches a target not found yet."""
        if type(row) is not dict:
            return None
        key = self._key_of(row)
        if key is None:
            return None
        target = self._keys.get(key)
        if target is None or target in self.found:
            return None
        self.found[target] = row
        return target
