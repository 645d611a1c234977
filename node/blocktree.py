"""The block tree: every known block since finality, their states, the best chain and the finalized one.

Fork choice is the longest chain: the best block is the highest block descending from the last finalized
block (first seen wins a tie, so a node does not flip between equal forks). Finality only moves forward
and along the tree: a block conflicting with the finalized chain is never imported, and finalizing prunes
every fork that no longer descends from the finalized block.

The tree holds no locks and does no I/O: the node's import task owns it; persistence goes through the
optional ``store`` (see ``node.db``), written before the in-memory tree changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

from runtime.executive import Block
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["BlockTree", "TreeEntry", "UnknownBlock", "ConflictsWithFinality", "StatePruned", "KEEP_FINALIZED_STATES"]

KEEP_FINALIZED_STATES = 256
"""States of this many blocks below the finalized one stay in memory (clients query recent blocks; with a
database, older states are loaded from it on demand)."""


class StatePruned(LookupError):
    """The block is known but its state is no longer held in memory."""


class UnknownBlock(KeyError):
    """No block with that hash is in the tree."""


class ConflictsWithFinality(ValueError):
    """The block is not a descendant of the finalized block."""


class BlockStore(Protocol):
    """Durable storage the tree writes through (``node.db``)."""

    def import_block(self, block: Block, state: TrieState, *, justification: bytes | None = None) -> None: ...
    def set_best(self, block_hash: bytes) -> None: ...
    def finalize(self, block_hash: bytes, justification: bytes | None) -> None: ...


@dataclass
class TreeEntry:
    block: Block
    state: TrieState | None
    slot: int | None
    children: list[bytes] = field(default_factory=list)

    @property
    def header(self) -> Header:
        return self.block.header

    @property
    def number(self) -> int:
        return self.block.header.number


class BlockTree:
    def __init__(self, genesis: Block, genesis_state: TrieState, *, store: BlockStore | None = None) -> None:
        self.genesis_hash = genesis.hash
        self._entries: dict[bytes, TreeEntry] = {genesis.hash: TreeEntry(genesis, genesis_state, None)}
        self._canonical: list[bytes] = [genesis.hash]  # finalized chain by number (older ones may be pruned)
        self.best_hash = genesis.hash
        self.finalized_hash = genesis.hash
        self.justifications: dict[bytes, bytes] = {}
        self._store = store

    # --- queries --------------------------------------------------------------------------------

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._entries

    def entry(self, block_hash: bytes) -> TreeEntry:
        try:
            return self._entries[block_hash]
        except KeyError:
            raise UnknownBlock(block_hash.hex()) from None

    def header(self, block_hash: bytes) -> Header:
        return self.entry(block_hash).header

    def state(self, block_hash: bytes) -> TrieState:
        state = self.entry(block_hash).state
        if state is None:
            raise StatePruned(block_hash.hex())
        return state

    @property
    def best(self) -> TreeEntry:
        return self._entries[self.best_hash]

    @property
    def finalized(self) -> TreeEntry:
        return self._entries[self.finalized_hash]

    def ancestors(self, block_hash: bytes) -> Iterator[TreeEntry]:
        """``block_hash`` and its ancestors, newest first, as far back as the tree holds them."""
        entry = self._entries.get(block_hash)
        while entry is not None:
            yield entry
            entry = self._entries.get(entry.header.parent_hash)

    def is_descendant(self, block_hash: bytes, ancestor: bytes) -> bool:
        """Whether ``block_hash`` is ``ancestor`` or descends from it."""
        target = self._entries.get(ancestor)
        if target is None:
            return False
        for entry in self.ancestors(block_hash):
            if entry.number < target.number:
                return False
            if entry.block.hash == ancestor:
                return True
        return False

    def hash_at(self, number: int, *, head: bytes | None = None) -> bytes | None:
        """The hash at height ``number`` on the chain ending at ``head`` (default: the best chain)."""
        head_entry = self._entries.get(head or self.best_hash)
        if head_entry is None or number > head_entry.number:
            return None
        finalized_number = self.finalized.number
        if number <= finalized_number and number < len(self._canonical):
            return self._canonical[number]
        for entry in self.ancestors(head_entry.block.hash):
            if entry.number == number:
                return entry.block.hash
        return None

    def leaves(self) -> list[bytes]:
        return [h for h, e in self._entries.items() if not e.children]

    # --- changes --------------------------------------------------------------------------------

    def insert(self, block: Block, state: TrieState, slot: int | None) -> bool:
        """Add an executed, verified block; returns whether it became the best block."""
        header = block.header
        parent = self.entry(header.parent_hash)
        if header.number != parent.number + 1:
            raise ValueError(f"block number {header.number} after parent {parent.number}")
        if not self.is_descendant(header.parent_hash, self.finalized_hash):
            raise ConflictsWithFinality(f"parent 0x{header.parent_hash.hex()} does not descend from finality")
        if block.hash in self._entries:
            return False
        if self._store is not None:
            self._store.import_block(block, state)
        self._entries[block.hash] = TreeEntry(block, state, slot)
        parent.children.append(block.hash)
        if header.number > self.best.number:
            self._set_best(block.hash)
            return True
        return False

    def _set_best(self, block_hash: bytes) -> None:
        if self._store is not None:
            self._store.set_best(block_hash)
        self.best_hash = block_hash

    def finalize(self, block_hash: bytes, justification: bytes | None = None) -> list[bytes]:
        """Make ``block_hash`` final; prune forks that no longer descend from it. Returns the newly
        finalized hashes, oldest first."""
        target = self.entry(block_hash)
        if target.number <= self.finalized.number:
            return []
        if not self.is_descendant(block_hash, self.finalized_hash):
            raise ConflictsWithFinality(f"0x{block_hash.hex()} does not descend from the finalized block")
        if self._store is not None:
            self._store.finalize(block_hash, justification)
        if justification is not None:
            self.justifications[block_hash] = justification
        route = [e.block.hash for e in self.ancestors(block_hash) if e.number > self.finalized.number][::-1]
        self._canonical.extend(route)
        self.finalized_hash = block_hash
        self._prune()
        if not self.is_descendant(self.best_hash, block_hash):
            self._set_best(max(self.leaves(), key=lambda h: self._entries[h].number))
        return route

    def _prune(self) -> None:
        """Drop every block that is neither an ancestor of nor descended from the finalized block, and
        the states of finalized ancestors (their headers and bodies stay for serving sync)."""
        finalized = self.finalized
        keep = {finalized.block.hash}
        frontier = [finalized.block.hash]
        while frontier:
            children = self._entries[frontier.pop()].children
            keep.update(children)
            frontier.extend(children)
        for block_hash, entry in list(self._entries.items()):
            if block_hash in keep:
                continue
            if entry.number < finalized.number and self._canonical[entry.number] == block_hash:
                entry.children[:] = [c for c in entry.children if c in keep or self._canonical_contains(c)]
                if entry.number < finalized.number - KEEP_FINALIZED_STATES:
                    entry.state = None
                continue
            del self._entries[block_hash]

    def _canonical_contains(self, block_hash: bytes) -> bool:
        entry = self._entries.get(block_hash)
        return entry is not None and entry.number < len(self._canonical) and self._canonical[entry.number] == block_hash
