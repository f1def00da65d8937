"""A bounded memo of a pure function's answers, for lookups asked on every request whose keys clients choose
(principals, hosts, topic or client ids): `get(key, compute)` answers from the memo or stores `compute()`; when
it holds `capacity` entries it is emptied before the next one is stored (no per-hit bookkeeping, as an LRU would
need; a full memo is refilled by the keys still in use). `clear()` when what the answers depend on changes."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    __slots__ = ("_capacity", "_entries")

    def __init__(self, capacity: int) -> None:
        assert capacity > 0
        self._capacity = capacity
        self._entries: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, compute: Callable[[], V]) -> V:
        found = self._entries.get(key)
        if found is None:
            if len(self._entries) >= self._capacity:
                self._entries.clear()
            found = self._entries[key] = compute()
        return found

    def clear(self) -> None:
        self._entries.clear()
