"""An optional short cache for reads (off by default): a TTL per API method, LRU-bounded."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any, Final, NamedTuple

import attrs

from ._errors import ConfigurationError
from ._models import referral_code_of
from ._retry import number_check
from ._sharing import MISS, Key, read_key

__all__ = ["MISS", "READS", "CacheConfig", "ReadCache", "read_key"]

#: The reads a cache may hold, by API method name.
READS: Final = ("referrerStats", "campaignStats", "referrers", "rewards", "specificActionSignups")
_STATS: Final = ("referrerStats", "campaignStats")


_check_ttl = number_check(finite=True)


def _check_per_method(instance: object, attribute: Any, value: Mapping[str, float]) -> None:
    if not isinstance(value, Mapping):
        raise ConfigurationError("CacheConfig.per_method must map API method names to seconds")
    for method, ttl in value.items():
        if method not in READS:
            raise ConfigurationError(
                f"CacheConfig.per_method: {method!r} is not a read; expected one of "
                + ", ".join(READS)
            )
        _check_ttl(instance, attribute, ttl)


def _frozen_mapping(value: Mapping[str, float]) -> Mapping[str, float]:
    return dict(value) if isinstance(value, Mapping) else value


@attrs.frozen
class CacheConfig:
    """How long reads are cached, per API method, and how many answers at most.

    ``CacheConfig(ttl=5.0)`` caches ``referrerStats`` and ``campaignStats`` for 5 s;
    ``per_method={"campaignStats": 30.0, "referrers": 60.0}`` overrides a method's TTL (0: off;
    lists only when named here). Errors are never cached. A write through the same client
    drops its campaign's stats and lists and the ``referrerStats`` of the participant and of
    the referrer credited (all of the campaign's when that referrer is unknown); a read in
    flight during the write is not stored. Other clients' writes: the TTL bounds them.
    """

    #: Seconds an answer of ``referrerStats`` or ``campaignStats`` is reused.
    ttl: float = attrs.field(default=5.0, validator=_check_ttl)
    #: TTL by API method name (``"referrerStats"``...), overriding ``ttl``.
    per_method: Mapping[str, float] = attrs.field(
        factory=dict, converter=_frozen_mapping, validator=_check_per_method
    )
    #: Most answers held at once; the least recently used is dropped first.
    max_entries: int = attrs.field(default=1024, validator=number_check(1, integer=True))

    def ttl_for(self, method: str) -> float:
        """Return the TTL of ``method`` in seconds (0: not cached)."""
        return self.per_method.get(method, self.ttl if method in _STATS else 0.0)


class _Entry(NamedTuple):
    expires: float
    value: Any
    #: Invalidation groups this entry belongs to.
    groups: tuple[Hashable, ...]


class ReadCache:
    """The cache of one client (see `CacheConfig`): ``get``, ``put`` and ``after_write``."""

    __slots__ = ("_entries", "_generations", "_groups", "config")

    def __init__(self, config: CacheConfig) -> None:
        #: The configuration.
        self.config = config
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._groups: dict[Hashable, set[Key]] = {}
        self._generations: dict[str | None, int] = {}

    def __len__(self) -> int:
        """Answers held (expired ones included until they are looked up or evicted)."""
        return len(self._entries)

    def generation(self, campaign: str | None) -> int:
        """Return the campaign's write count: a read stores its answer only if it did not change."""
        return self._generations.get(campaign, 0)

    def get(self, key: Key) -> Any:
        """Return the cached answer for ``key``, or `MISS`."""
        entry = self._entries.get(key)
        if entry is None:
            return MISS
        if entry.expires <= asyncio.get_running_loop().time():
            self._remove(key)
            return MISS
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: Key, value: Any, generation: int) -> None:
        """Store ``value`` unless a write of its campaign ended since the read began."""
        method, campaign, params = key
        ttl = self.config.ttl_for(method)
        if ttl <= 0 or generation != self.generation(campaign):
            return
        if method != "referrerStats":
            groups: list[Hashable] = [(campaign, "campaign")]
        else:
            email = dict(params).get("email", "").casefold()
            groups = [(campaign, "stats"), (campaign, "email", email)]
            link = getattr(value, "referral_link", None)
            code = referral_code_of(link) if isinstance(link, str) and link else None
            if code:  # the referrer's code: a signup crediting it drops this entry
                groups.append((campaign, "code", code))
        if key in self._entries:
            self._remove(key)
        self._entries[key] = _Entry(asyncio.get_running_loop().time() + ttl, value, tuple(groups))
        for group in groups:
            self._groups.setdefault(group, set()).add(key)
        while len(self._entries) > self.config.max_entries:
            self._remove(next(iter(self._entries)))

    def after_write(
        self,
        campaign: str | None,
        *,
        email: str | None,
        referrer_code: str | None,
        referrer_email: str | None,
    ) -> None:
        """Drop what a write to ``campaign`` may have made stale (see `CacheConfig`)."""
        self._generations[campaign] = self.generation(campaign) + 1
        self._drop_group((campaign, "campaign"))
        if email is not None:
            self._drop_group((campaign, "email", email.casefold()))
        if referrer_email is not None:
            self._drop_group((campaign, "email", referrer_email.casefold()))
        elif referrer_code is not None:
            taught = self._groups.get((campaign, "code", referrer_code))
            if taught is None:  # no entry taught the code: the referrer is unknown, all of them
                self._drop_group((campaign, "stats"))
            for known in {dict(key[2])["email"].casefold() for key in taught or ()}:
                self._drop_group((campaign, "email", known))  # every entry of that referrer

    def _drop_group(self, group: Hashable) -> None:
        for key in list(self._groups.get(group, ())):
            self._remove(key)

    def _remove(self, key: Key) -> None:
        entry = self._entries.pop(key)
        for group in entry.groups:
            keys = self._groups[group]
            keys.discard(key)
            if not keys:
                del self._groups[group]
