"""The block tree: every known block since finality, their states, the best chain and the finalized one.

Fork choice is the longest chain: the best block is the highest block descending from the last finalized
block (first seen wins a tie, so a node does not flip between equal forks). Finality only moves forward
and along the tree: a block conflicting with the finalized chain is never imported, and finalizing prunes
every fork that no longer descends from the finalized block.

With a ``store`` (``node.db.ChainStore``) every change is written through before the in-memory tree
changes, :meth:`BlockTree.from_store` rebuilds the tree after a restart, and blocks, states and
justifications older than what memory keeps are read back from the store. Without one (tests, light
use) old finalized blocks stay in memory with their states dropped.

The tree holds no locks and does no I/O of its own, but for the database reads of a store it was rebuilt
from (an unfinalized block's state, loaded at its first use after a restart): the node's trio thread owns it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from runtime.executive import Block
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["BlockTree", "TreeEntry", "UnknownBlock", "ConflictsWithFinality", "StatePruned", "KEEP_FINALIZED_STATES"]

KEEP_FINALIZED_STATES = 256
"""Finalized blocks below the finalized head whose states stay in memory (clients query recent blocks)."""


class UnknownBlock(KeyError):
    """No block with that hash is known."""


class ConflictsWithFinality(ValueError):
    """The block is not a descendant of the finalized block."""


class StatePruned(LookupError):
    """The block is known but its state is no longer held."""


class BlockStore(Protocol):
    """Durable storage the tree writes through and reads old blocks from (``node.db.ChainStore``)."""

    genesis_hash: bytes

    def import_block(self, block: Block, state: TrieState, *, justification: bytes | None = None,
                     make_best: bool = False) -> bool: ...
    def set_best(self, block_hash: bytes) -> None: ...
    def finalize(self, block_hash: bytes, justification: bytes | None = None) -> None: ...
    def contains(self, block_hash: bytes) -> bool: ...
    def block(self, block_hash: bytes) -> Block: ...
    def state(self, block_hash: bytes) -> TrieState: ...
    def justification(self, block_hash: bytes) -> bytes | None: ...
    def hash_of(self, number: int) -> bytes | None: ...
    def children(self, block_hash: bytes) -> list[bytes]: ...


@dataclass
class TreeEntry:
    block: Block
    loaded_state: TrieState | None
    """The block's state if memory holds it (see :attr:`state`)."""
    slot: int | None
    children: list[bytes] = field(default_factory=list)
    load: Callable[[], TrieState] | None = None
    """Rebuilds the state from the store at first use: after a restart, unfinalized blocks' states come back only
    when something reads them (each is a whole trie, rebuilt on its own: loading hundreds at start, as a stall of
    finality leaves them, took minutes and gigabytes)."""

    @property
    def state(self) -> TrieState | None:
        if self.loaded_state is None and self.load is not None:
            self.loaded_state, self.load = self.load(), None
        return self.loaded_state

    @state.setter
    def state(self, state: TrieState | None) -> None:
        self.loaded_state, self.load = state, None

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
        self._canonical: dict[int, bytes] = {0: genesis.hash}  # finalized chain held in memory, by number
        self.best_hash = genesis.hash
        self.finalized_hash = genesis.hash
        self._justifications: dict[bytes, bytes] = {}
        self._store = store

    @classmethod
    def from_store(cls, store: BlockStore, slot_of: Callable[[Header], int | None]) -> "BlockTree":
        """The tree after a restart: the finalized block and every stored descendant of it."""
        finalized_hash = store.finalized.hash  # type: ignore[attr-defined]
        root = store.block(finalized_hash)
        tree = cls(root, store.state(finalized_hash), store=store)
        tree.genesis_hash = store.genesis_hash
        tree._entries[root.hash].slot = slot_of(root.header) if root.header.number > 0 else None
        tree._canonical = {root.header.number: root.hash}
        tree.finalized_hash = root.hash
        frontier = [root.hash]
        while frontier:
            parent = frontier.pop()
            for child in store.children(parent):
                block = store.block(child)
                tree._entries[child] = TreeEntry(block, None, slot_of(block.header),
                                                 load=functools.partial(store.state, child))
                tree._entries[parent].children.append(child)
                frontier.append(child)
        best = store.best.hash  # type: ignore[attr-defined]
        tree.best_hash = best if best in tree._entries else max(tree.leaves(), key=lambda h: tree._entries[h].number)
        return tree

    # --- queries --------------------------------------------------------------------------------

    def __contains__(self, block_hash: bytes) -> bool:
        return block_hash in self._entries or (self._store is not None and self._store.contains(block_hash))

    def entry(self, block_hash: bytes) -> TreeEntry:
        entry = self._entries.get(block_hash)
        if entry is not None:
            return entry
        if self._store is not None and self._store.contains(block_hash):
            return TreeEntry(self._store.block(block_hash), None, None)  # an old finalized block
        raise UnknownBlock(block_hash.hex())

    def header(self, block_hash: bytes) -> Header:
        return self.entry(block_hash).header

    def state(self, block_hash: bytes) -> TrieState:
        entry = self.entry(block_hash)
        state = entry.state  # (an unfinalized block's after a restart: loaded once, and kept)
        if state is not None:
            return state
        if self._store is None:
            raise StatePruned(block_hash.hex())
        return self.stored_state(block_hash)

    def state_in_memory(self, block_hash: bytes) -> TrieState | None:
        """The state of ``block_hash`` if memory holds it; None if only the store does, which rebuilds it whole
        (a second or more for a large state: :meth:`stored_state`, in a worker thread). Raises as :meth:`state`."""
        entry = self.entry(block_hash)
        if entry.loaded_state is not None:
            return entry.loaded_state
        if self._store is None:
            raise StatePruned(block_hash.hex())
        return None

    def stored_state(self, block_hash: bytes) -> TrieState:
        """The state of ``block_hash`` rebuilt by the store; safe in a worker thread (it reads no tree entry)."""
        assert self._store is not None
        return self._store.state(block_hash)

    def keep_state(self, block_hash: bytes, state: TrieState) -> None:
        """``state``, rebuilt by :meth:`stored_state`, is the one an unfinalized block waits to load after a
        restart: keep it in its entry (an old finalized block's is not kept; the store caches a few)."""
        entry = self._entries.get(block_hash)
        if entry is not None and entry.loaded_state is None and entry.load is not None:
            entry.state = state

    def justification(self, block_hash: bytes) -> bytes | None:
        found = self._justifications.get(block_hash)
        if found is None and self._store is not None and self._store.contains(block_hash):
            found = self._store.justification(block_hash)
        return found

    @property
    def best(self) -> TreeEntry:
        return self._entries[self.best_hash]

    @property
    def finalized(self) -> TreeEntry:
        return self._entries[self.finalized_hash]

    def ancestors(self, block_hash: bytes) -> Iterator[TreeEntry]:
        """``block_hash`` and its ancestors, newest first, as far back as memory holds them."""
        entry = self._entries.get(block_hash)
        while entry is not None:
            yield entry
            entry = self._entries.get(entry.header.parent_hash)

    def is_descendant(self, block_hash: bytes, ancestor: bytes) -> bool:
        """Whether ``block_hash`` is ``ancestor`` or descends from it (both held in memory)."""
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
        if head_entry is None or number > head_entry.number or number < 0:
            return None
        if number <= self.finalized.number:
            found = self._canonical.get(number)
            if found is None and self._store is not None:
                found = self._store.hash_of(number)
            return found
        for entry in self.ancestors(head_entry.block.hash):
            if entry.number == number:
                return entry.block.hash
        return None

    def route(self, old: bytes, new: bytes) -> tuple[list[bytes], list[bytes]]:
        """``(retracted, enacted)`` going from head ``old`` to head ``new``: the blocks of ``old``'s branch
        above the common ancestor (newest first), and of ``new``'s (oldest first). Both held in memory."""
        retracted: list[bytes] = []
        enacted: list[bytes] = []
        a, b = self._entries[old], self._entries[new]
        while a.block.hash != b.block.hash:
            if a.number >= b.number:
                retracted.append(a.block.hash)
                a = self._entries[a.header.parent_hash]
            else:
                enacted.append(b.block.hash)
                b = self._entries[b.header.parent_hash]
        return retracted, enacted[::-1]

    def leaves(self) -> list[bytes]:
        return [h for h, e in self._entries.items() if not e.children and e.number >= self.finalized.number]

    # --- changes --------------------------------------------------------------------------------

    def insert(self, block: Block, state: TrieState, slot: int | None) -> bool:
        """Add an executed, verified block; returns whether it became the best block."""
        header = block.header
        parent = self._entries.get(header.parent_hash)
        if parent is None:
            raise UnknownBlock(header.parent_hash.hex())
        if header.number != parent.number + 1:
            raise ValueError(f"block number {header.number} after parent {parent.number}")
        if not self.is_descendant(header.parent_hash, self.finalized_hash):
            raise ConflictsWithFinality(f"parent 0x{header.parent_hash.hex()} does not descend from finality")
        if block.hash in self._entries:
            return False
        becomes_best = header.number > self.best.number
        if self._store is not None:
            self._store.import_block(block, state, make_best=becomes_best)
        self._entries[block.hash] = TreeEntry(block, state, slot)
        parent.children.append(block.hash)
        if becomes_best:
            self.best_hash = block.hash
        return becomes_best

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
            self._justifications[block_hash] = justification
        route = [e.block.hash for e in self.ancestors(block_hash) if e.number > self.finalized.number][::-1]
        for finalized_hash in route:
            self._canonical[self._entries[finalized_hash].number] = finalized_hash
        self.finalized_hash = block_hash
        self._prune()
        if not self.is_descendant(self.best_hash, block_hash):
            self.best_hash = max(self.leaves(), key=lambda h: self._entries[h].number)
            if self._store is not None:
                self._store.set_best(self.best_hash)
        return route

    def _prune(self) -> None:
        """Drop forks that do not descend from the finalized block, and old finalized ancestors: their
        states beyond ``KEEP_FINALIZED_STATES``; with a store, the whole entry (the store serves it)."""
        finalized = self.finalized
        keep = {finalized.block.hash}
        frontier = [finalized.block.hash]
        while frontier:
            children = self._entries[frontier.pop()].children
            keep.update(children)
            frontier.extend(children)
        horizon = finalized.number - KEEP_FINALIZED_STATES
        for block_hash, entry in list(self._entries.items()):
            if block_hash in keep:
                continue
            if self._canonical.get(entry.number) == block_hash:
                entry.children[:] = [c for c in entry.children if c in keep or self._canonical.get(
                    self._entries[c].number if c in self._entries else -1) == c]
                if entry.number < horizon:
                    if self._store is not None:
                        del self._entries[block_hash]
                        del self._canonical[entry.number]
                        self._justifications.pop(block_hash, None)
                    else:
                        entry.state = None
                continue
            del self._entries[block_hash]
