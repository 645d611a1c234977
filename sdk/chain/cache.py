"""A small async memo: one fetch per key however many callers want it at once, the latest few kept.

Many transactions watched together land in the same few blocks; each receipt needs that block's
extrinsics and events. Fetching them once per block instead of once per transaction is what lets one
client watch hundreds of transactions at a time. A failed fetch is not kept: every caller waiting for it
gets the error, and the next caller fetches again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

import anyio

__all__ = ["SharedFetches"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Fetch(Generic[V]):
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: V | None = None
        self.error: BaseException | None = None


class SharedFetches(Generic[K, V]):
    """Values by key, each fetched at most once while it stays among the ``capacity`` latest."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._entries: OrderedDict[K, _Fetch[V]] = OrderedDict()

    async def get(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        while True:
            entry = self._entries.get(key)
            if entry is None:
                return await self._fetch(key, fetch)
            self._entries.move_to_end(key)
            await entry.done.wait()
            if entry.error is None:
                return entry.value  # type: ignore[return-value]
            if isinstance(entry.error, Exception):
                raise entry.error
            # the fetching caller was cancelled: this one fetches instead

    def forget(self, key: K) -> None:
        """Fetch ``key`` again at its next :meth:`get` (a fetch under way is not cancelled)."""
        self._entries.pop(key, None)

    async def _fetch(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries[key] = _Fetch()
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        try:
            entry.value = value = await fetch()
            return value
        except BaseException as exc:  # failed or cancelled: waiters see it, the next caller fetches again
            entry.error = exc
            if self._entries.get(key) is entry:
                del self._entries[key]
            raise
        finally:
            entry.done.set()
