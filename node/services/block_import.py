"""Block import: verify and execute a block, then add it to the chain.

Execution runs in a worker thread (CPU-heavy, DESIGN.md rule 5) behind the node's block lane, a capacity
limiter of one that authorship shares: the node executes one block at a time, its own or a peer's. The seal
may have been checked already (a gossiped block's seal is checked once, before it may be forwarded); the
claim that check returned is passed in and the seal is not checked again.
"""

from __future__ import annotations

import trio

from node.chain import Chain
from node.clock import SlotClock
from node.consensus import aura
from node.verification import InvalidBlockError, check_structure, execute, verify_seal
from runtime.executive import Block
from runtime.trie import TrieState

__all__ = ["BlockImport", "InvalidBlockError"]


class BlockImport:
    def __init__(self, chain: Chain, clock: SlotClock, block_lane: trio.CapacityLimiter) -> None:
        self.chain = chain
        self.clock = clock
        self.block_lane = block_lane

    def check_seal(self, block: Block) -> aura.SlotClaim:
        """Structure and seal, on this thread (cheap: one signature); raises :class:`InvalidBlockError`."""
        parent = check_structure(self.chain.tree, block)
        return verify_seal(self.chain.runtime, parent, block, self.clock.now_slot())

    async def import_block(self, block: Block, *, claim: aura.SlotClaim | None = None) -> bool:
        """Verify (the seal too, unless ``claim`` says it was checked), execute and add ``block``; returns
        whether it is in the tree now. Raises :class:`InvalidBlockError` for a block that must not be."""
        tree = self.chain.tree
        if block.hash in tree:
            return True
        parent = check_structure(tree, block)
        runtime, now_slot = self.chain.runtime, self.clock.now_slot()

        def verify_and_execute() -> tuple[TrieState, int]:
            checked = claim if claim is not None else verify_seal(runtime, parent, block, now_slot)
            return execute(runtime, parent, block, checked.slot, self.clock.slot_ms), checked.slot

        async with self.block_lane:
            state, slot = await trio.to_thread.run_sync(verify_and_execute)
        if block.hash in tree:  # imported meanwhile (by sync and gossip at once)
            return True
        return self.chain.add(block, state, slot)
