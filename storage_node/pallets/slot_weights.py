"""Each storage node's fragment sizes by slot, kept so that an audit can draw a fragment in proportion to its bytes.

An audit pass pays a node for every byte it holds, so the challenged fragment must be drawn by bytes, not by
count: drawn by count, a node holding one large fragment among many tiny ones could drop the large one (most of
its bytes) and be caught only when its one slot in many came up, paid for the missing bytes at every pass until
then. The sizes sit in a Fenwick tree in storage, ``(node, i) -> u64`` for i = 1..count (entry i sums the slots
``i - lowbit(i)`` to ``i - 1``): a weighted draw, an append, a change of one slot and a removal of the last slot
each read or write O(log count) entries, with no per-node list ever decoded whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.frame.storage import BoundDoubleMap

__all__ = ["SlotWeights"]


@dataclass(frozen=True)
class SlotWeights:
    """The tree of one pallet (``StorageDoubleMap(AccountId, u32, u64)``); slots are 0-based, ``count`` is the
    node's number of slots."""

    tree: BoundDoubleMap

    def append(self, node: bytes, count: int, size: int) -> None:
        """Add slot ``count`` (the node had ``count`` slots) of ``size`` bytes."""
        i = count + 1
        self.tree.insert(node, i, size + self._prefix(node, i - 1) - self._prefix(node, i - (i & -i)))

    def set(self, node: bytes, slot: int, size: int, count: int) -> None:
        """Make slot ``slot`` weigh ``size`` bytes."""
        delta = size - self.size(node, slot)
        i = slot + 1
        while delta and i <= count:
            self.tree.insert(node, i, self.tree.get(node, i) + delta)
            i += i & -i

    def pop(self, node: bytes, count: int) -> None:
        """Remove the last slot (``count - 1``): no other entry covers it."""
        self.tree.remove(node, count)

    def size(self, node: bytes, slot: int) -> int:
        return self._prefix(node, slot + 1) - self._prefix(node, slot)

    def total(self, node: bytes, count: int) -> int:
        return self._prefix(node, count)

    def find(self, node: bytes, count: int, offset: int) -> int:
        """The slot holding byte ``offset`` (0 <= offset < :meth:`total`) of the slots laid end to end: slot s is
        found with probability size(s) / total for a uniform ``offset``."""
        slot, step = 0, 1 << (count.bit_length() - 1) if count else 0
        while step:
            if slot + step <= count and (weight := self.tree.get(node, slot + step)) <= offset:
                slot += step
                offset -= weight
            step >>= 1
        return slot

    def _prefix(self, node: bytes, i: int) -> int:
        """The bytes of slots 0..i-1."""
        total = 0
        while i > 0:
            total += self.tree.get(node, i)
            i -= i & -i
        return total
