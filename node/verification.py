"""Block import verification: cheap checks first, then the seal, then execution.

1. structure (:func:`check_structure`): the parent is known and descends from the finalized block; the
   number follows the parent's; its state is held (read, after a restart, from the database);
2. Aura (:func:`verify_seal`): the slot is after the parent's, not in the future, and the seal is by that
   slot's authority (authorities are read from the parent's state: ``ValidatorSet.Validators``);
3. execution (:func:`execute`): the runtime re-executes the block on the parent's state and must reach the
   header's state and extrinsics roots; its timestamp must fall in its slot.

Each step is separate so that a block arriving by gossip has its seal checked once, before it may be
forwarded, and is then executed with the claim that check returned; a block from a block request goes
through all three in the import worker. Any failure raises :class:`InvalidBlockError`; nothing is stored.
"""

from __future__ import annotations

from node.blocktree import BlockTree, TreeEntry
from node.consensus import aura
from runtime.cairn import CairnRuntime
from runtime.executive import Block, InvalidBlock, execute_block
from runtime.frame.overlay import Overlay
from runtime.trie import TrieState

__all__ = ["InvalidBlockError", "authorities_at", "check_structure", "verify_seal", "execute"]


class InvalidBlockError(ValueError):
    """The block must not be imported; the message says why. ``penalize`` is false where the sender
    may be honest but behind or ahead of us (unknown parent, a fork below our finality, a slot our clock
    has not reached)."""

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


def verify_seal(runtime: CairnRuntime, parent: TreeEntry, block: Block, now_slot: int) -> aura.SlotClaim:
    """The Aura checks against the parent's authorities; reads only ``parent`` (immutable)."""
    assert parent.state is not None
    try:
        return aura.verify_header(block.header, parent.slot, authorities_at(runtime, parent.state), now_slot)
    except aura.InvalidSeal as exc:
        slot = _slot_or_none(block)
        early = slot is not None and slot > now_slot + aura.MAX_SLOT_DRIFT
        raise InvalidBlockError(str(exc), penalize=not early) from None  # (our clock may be the late one)


def _slot_or_none(block: Block) -> int | None:
    try:
        return aura.slot_of(block.header)
    except aura.InvalidSeal:
        return None


def execute(runtime: CairnRuntime, parent: TreeEntry, block: Block, slot: int, slot_ms: int) -> TrieState:
    """Execute ``block`` of ``slot`` on its parent's state (seal already verified) and check its timestamp is
    in that slot; may run in a worker thread while the tree changes, since it reads only ``parent``.

    The runtime checks only that time moves on by ``MinimumPeriod``; the slot binds it from above, as Aura's
    ``on_timestamp_set`` does in Substrate (and the slot is not in this node's future, :func:`verify_seal`).
    Unbound, one author could set a time far ahead, or ``2**64 - 1``, and every honest author after it, whose
    time is its slot's start, would build only blocks the runtime refuses: the chain would stop for good."""
    state = parent.loaded_state
    assert state is not None, "the parent's state is read on the event loop first (check_structure)"
    try:
        after = execute_block(runtime, state, block)
    except InvalidBlock as exc:
        raise InvalidBlockError(str(exc)) from None
    with runtime.executing(Overlay(after)):
        now_ms = runtime.timestamp.now.get()
    if now_ms // slot_ms != slot:
        raise InvalidBlockError(f"its timestamp, {now_ms} ms, is not in its slot {slot} "
                                f"({slot * slot_ms} to {(slot + 1) * slot_ms - 1} ms)")
    return after
