"""Memo: a small bounded LRU for pure functions of a loaded build (index searches per query)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Least-recently-used results, at most `size` of them (0 = remember nothing).

    Only for functions whose answer depends on nothing but the key and the immutable build the
    memo belongs to: a new build gets a new memo, so an entry can never be stale.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The remembered value for `key`, else `compute()` (remembered for next time)."""
        if self.size <= 0:
            return compute()
        data = self._data
        try:
            value = data[key]
        except KeyError:
            self.misses += 1
            value = data[key] = compute()
            if len(data) > self.size:
                data.popitem(last=False)
            return value
        self.hits += 1
        data.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._data)
