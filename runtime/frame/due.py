"""Deadline queues: what falls due at a block, handled a bounded number per block, oldest first.

A pallet keeps a queue as two storage items: a map ``BlockNumber -> Vec<item>`` (the items due at each block)
and a value, the *cursor*: the oldest block whose list may still hold items. ``on_initialize(n)`` takes at most
its budget of the items due at blocks cursor..n; what it leaves stays under its own block, and the cursor stays
there, so a backlog costs a block the rest of the one list it is working through, never a rewrite of the whole
backlog (moving the rest to block ``n + 1``, as these queues first did, re-encoded every carried item at every
block: a stream of cheap calls could make blocks ever heavier while their weight counted only the items
handled). Items are appended without decoding the list (Substrate's ``StorageAppend``).

An item is never queued under a block the cursor has passed: :meth:`DueQueue.push` moves such a one up to the
cursor, where the next block finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.frame.storage import BoundMap, BoundValue

__all__ = ["DueQueue"]


@dataclass(frozen=True)
class DueQueue:
    """A pallet's bound queue: ``lists`` (``StorageMap(U32, Vec(item))``) and ``cursor`` (``StorageValue(U32)``,
    absent until first drained: the first drain starts at block 0)."""

    lists: BoundMap
    cursor: BoundValue

    def push(self, block: int, *items: Any) -> None:
        """Queue ``items`` to fall due at ``block`` (at the cursor, if it is past ``block``)."""
        cursor = self.cursor.get()
        block = block if cursor is None else max(block, cursor)
        for item in items:
            self.lists.append(block, item)

    def peek(self, n: int, limit: int) -> list[Any]:
        """Up to ``limit`` of the items due by block ``n``, oldest first, left queued."""
        due: list[Any] = []
        block = self._start(n)
        while block <= n and len(due) < limit:
            due.extend(self.lists.get(block)[: limit - len(due)])
            block += 1
        return due

    def drop(self, n: int, count: int) -> None:
        """Remove the ``count`` oldest items due by block ``n`` (those :meth:`peek` gave), moving the cursor on."""
        block = self._start(n)
        while block <= n:
            queued = self.lists.get(block)
            if count < len(queued):
                if count:
                    self.lists.insert(block, queued[count:])
                break
            if queued:
                count -= len(queued)
                self.lists.remove(block)
            block += 1
        self.cursor.put(block)

    def take(self, n: int, budget: int) -> tuple[Any, ...]:
        """Up to ``budget`` of the items due by block ``n``, oldest first, removed from the queue."""
        due = self.peek(n, budget)
        self.drop(n, len(due))
        return tuple(due)

    def _start(self, n: int) -> int:
        cursor = self.cursor.get()
        return 0 if cursor is None else min(cursor, n + 1)
