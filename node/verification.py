"""Block import verification: cheap checks first, then execution.

1. structure: the parent is known and descends from the finalized block; the number follows the parent's;
2. Aura: the slot is after the parent's, not in the future, and the seal is by that slot's authority
   (authorities are read from the parent's state: ``ValidatorSet.Validators``);
3. execution: the runtime re-executes the block on the parent's state and must reach the header's state
   and extrinsics roots.

Any failure raises :class:`InvalidBlockError` (the peer that sent it is scored down); nothing is stored.
"""

from __future__ import annotations

from node.blocktree import BlockTree, TreeEntry
from node.consensus import aura
from runtime.cairn import CairnRuntime
from runtime.executive import Block, InvalidBlock, execute_block
from runtime.frame.overlay import Overlay
from runtime.trie import TrieState

__all__ = ["InvalidBlockError", "authorities_at", "check_structure", "execute", "verify_block"]


class InvalidBlockError(ValueError):
    """The block must not be imported; the message says why. ``penalize`` is false where the sender
    may be honest but behind or ahead of us (unknown parent, a fork below our finality)."""

    def __init__(self, message: str, *, penalize: bool = True) -> None:
        super().__init__(message)
        self.penalize = penalize


def authorities_at(runtime: CairnRuntime, state: TrieState) -> tuple[bytes, ...]:
    with runtime.executing(Overlay(state)):
        return tuple(runtime.validator_set.authorities())


def check_structure(tree: BlockTree, block: Block) -> TreeEntry:
    """The cheap checks against the tree; returns the parent's entry."""
    header = block.header
    if header.parent_hash not in tree:
        raise InvalidBlockError(f"unknown parent 0x{header.parent_hash.hex()[:16]}…", penalize=False)
    parent = tree.entry(header.parent_hash)
    if header.number != parent.number + 1:
        raise InvalidBlockError(f"number {header.number} does not follow parent {parent.number}")
    if not tree.is_descendant(header.parent_hash, tree.finalized_hash):
        raise InvalidBlockError("block does not descend from the finalized block", penalize=False)
    if parent.state is None:
        raise InvalidBlockError("the parent's state is no longer held", penalize=False)
    return parent


def execute(runtime: CairnRuntime, parent: TreeEntry, block: Block, now_slot: int) -> tuple[TrieState, int]:
    """Aura checks and execution on the parent's state. Reads only ``parent`` (immutable), so it may run in
    a worker thread while the tree changes."""
    assert parent.state is not None
    try:
        claim = aura.verify_header(block.header, parent.slot, authorities_at(runtime, parent.state), now_slot)
    except aura.InvalidSeal as exc:
        raise InvalidBlockError(str(exc)) from None
    try:
        state = execute_block(runtime, parent.state, block)
    except InvalidBlock as exc:
        raise InvalidBlockError(str(exc)) from None
    return state, claim.slot


def verify_block(runtime: CairnRuntime, tree: BlockTree, block: Block, now_slot: int) -> tuple[TrieState, int]:
    """Verify and execute ``block``; returns its state and slot. The tree is only read."""
    return execute(runtime, check_structure(tree, block), block, now_slot)
