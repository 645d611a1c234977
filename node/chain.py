"""The node's chain: the block tree over its database, the runtime, and what happens when the chain moves.

Every service of the node works on one :class:`Chain` (as every Substrate service works on one client): block
import and authorship add blocks to it, finality finalizes them, sync and the RPC read it, transaction
admission follows it. It belongs to the node's trio thread: the tree and the notifications are never touched
from another thread. The runtime is shared too: its execution state is per thread (``runtime.frame.pallet``),
so worker threads execute blocks on immutable state snapshots while this thread reads other snapshots.

When the best chain changes, :meth:`Chain.add` tells every ``best_listeners`` callback which blocks were
enacted and which retracted (a reorg); when blocks become final, :meth:`Chain.finalize` tells every
``finality_listeners`` callback which ones, after the ``best_listeners`` if finality chose a branch other than
the best one (which moves the best block onto it). Listeners run synchronously, in the order they were added,
before the head is published to subscribers, so a transaction pool is pruned before anyone can see the new
head; a listener that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Callable, TypeVar

from node.blocktree import BlockTree, ConflictsWithFinality, UnknownBlock
from node.broadcast import Broadcaster
from node.chain_spec import ChainSpec
from node.consensus import aura
from node.db import ChainStore
from runtime.cairn import CairnRuntime
from runtime.executive import Block
from runtime.frame.overlay import Overlay
from runtime.justification import AuthoritySet
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["Chain", "BestChange", "AuthoritySet"]

log = logging.getLogger("cairn.chain")

T = TypeVar("T")


@dataclass(frozen=True)
class BestChange:
    """The best block moved to ``block``: ``enacted`` blocks joined the best chain (oldest first), ``retracted``
    ones left it (a reorg; empty when the new block simply extends the chain)."""

    block: Block
    enacted: tuple[Block, ...]
    retracted: tuple[Block, ...]


class Chain:
    def __init__(self, runtime: CairnRuntime, tree: BlockTree, store: ChainStore | None = None) -> None:
        """Use :meth:`open` for a node's chain on disk."""
        self.runtime = runtime
        self.tree = tree
        self.store = store
        self.new_heads: Broadcaster[Header] = Broadcaster()
        """Each new best block."""
        self.finalized_heads: Broadcaster[Header] = Broadcaster()
        self.imported_heads: Broadcaster[Header] = Broadcaster()
        """Every block added, best or not."""
        self.best_listeners: list[Callable[[BestChange], None]] = []
        self.finality_listeners: list[Callable[[list[Block]], None]] = []

    @classmethod
    def open(cls, spec: ChainSpec, path: Path, runtime: CairnRuntime | None = None) -> "Chain":
        """The chain of ``spec`` in the database at ``path`` (created with the genesis block if new)."""
        spec_runtime, genesis, genesis_state = spec.build()
        store = ChainStore.open(path, genesis, genesis_state)
        return cls(runtime or spec_runtime, BlockTree.from_store(store, slot_of), store)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    # --- reading state --------------------------------------------------------------------------

    def authority_set(self, state: TrieState) -> AuthoritySet:
        runtime = self.runtime
        with runtime.executing(Overlay(state)):
            return AuthoritySet(runtime.validator_set.current_session.get(), tuple(runtime.validator_set.authorities()))

    def account_nonce(self, who: bytes) -> int:
        """``who``'s nonce in the best block's state."""
        runtime = self.runtime
        with runtime.executing(Overlay(self.tree.best.state)):
            return runtime.system.account_nonce(who)

    # --- changing the chain ---------------------------------------------------------------------

    def add(self, block: Block, state: TrieState, slot: int | None) -> bool:
        """Insert an executed, verified block (imported or our own) and tell listeners and subscribers;
        false if it no longer attaches (finality moved past its parent meanwhile)."""
        tree = self.tree
        previous_best = tree.best_hash
        try:
            became_best = tree.insert(block, state, slot)
        except (ConflictsWithFinality, UnknownBlock) as exc:
            log.info("block 0x%s no longer attaches: %s", block.hash.hex()[:16], exc)
            return False
        header = block.header
        log.info("imported #%d 0x%s%s", header.number, block.hash.hex()[:16], " (best)" if became_best else "")
        self.imported_heads.publish(header)
        if became_best:
            retracted, enacted = tree.route(previous_best, block.hash)
            if retracted:
                log.info("reorg: %d blocks retracted, %d enacted", len(retracted), len(enacted))
            change = BestChange(block, tuple(tree.entry(h).block for h in enacted),
                                tuple(tree.entry(h).block for h in retracted))
            _tell(self.best_listeners, change)
            self.new_heads.publish(header)
        return True

    def finalize(self, block_hash: bytes, justification: bytes | None) -> list[bytes]:
        """Make ``block_hash`` final (with its justification); returns the newly finalized hashes, oldest
        first (none if it already was, or is unknown). Refuses a block conflicting with finality."""
        tree = self.tree
        if block_hash not in tree:
            return []
        previous_best = tree.best_hash
        retracted, enacted = self._reorg_by_finalizing(block_hash)
        try:
            route = tree.finalize(block_hash, justification)
        except ConflictsWithFinality as exc:  # only possible with a third or more of the authorities faulty
            log.error("refusing to finalize 0x%s: %s", block_hash.hex()[:16], exc)
            return []
        if not route:
            return route
        header = tree.header(block_hash)
        log.info("finalized #%d 0x%s", header.number, block_hash.hex()[:16])
        if tree.best_hash != previous_best and retracted:
            # up to the new best block, which descends from the finalized one (finalizing may have dropped the
            # oldest of the others from memory: they were read before)
            above = takewhile(lambda entry: entry.block.hash != block_hash, tree.ancestors(tree.best_hash))
            enacted += reversed([entry.block for entry in above])
            log.info("reorg by finality: %d blocks retracted, %d enacted", len(retracted), len(enacted))
            _tell(self.best_listeners, BestChange(tree.best.block, tuple(enacted), tuple(retracted)))
            self.new_heads.publish(tree.best.header)
        _tell(self.finality_listeners, [tree.entry(h).block for h in route])
        self.finalized_heads.publish(header)
        return route

    def _reorg_by_finalizing(self, block_hash: bytes) -> tuple[list[Block], list[Block]]:
        """If ``block_hash`` is on a branch other than the best one, where finality moves the best block: the
        best branch's blocks it takes off the best chain (newest first), and its own branch's up to it (oldest
        first); else none. Read before finalizing prunes the ones and may drop the others from memory."""
        tree = self.tree
        if (not tree.is_descendant(block_hash, tree.finalized_hash) or block_hash == tree.finalized_hash
                or tree.is_descendant(tree.best_hash, block_hash)):
            return [], []
        retracted, enacted = tree.route(tree.best_hash, block_hash)
        return [tree.entry(h).block for h in retracted], [tree.entry(h).block for h in enacted]


def _tell(listeners: list[Callable[[T], None]], news: T) -> None:
    """Call every listener; one that fails is a bug to log, and must not keep the others, or the service
    that moved the chain, from going on."""
    for listener in listeners:
        try:
            listener(news)
        except Exception:
            log.exception("a chain listener failed")


def slot_of(header: Header) -> int | None:
    """A block's Aura slot (genesis has none)."""
    return aura.slot_of(header) if header.number > 0 else None
