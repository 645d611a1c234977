"""Genesis: the initial state and block 0, built by running the pallets' own code on an empty state.

The genesis hash is ``blake2_256`` of the block-0 header, whose state root commits to everything the
chain spec put in: each pallet's genesis section (balances, sudo key, authorities, ...) and the runtime
parameters (stored at ``RUNTIME_PARAMS_KEY``). Same spec, same hash, on every machine.
"""

from __future__ import annotations

from runtime.cairn import RUNTIME_PARAMS_KEY, CairnRuntime
from runtime.executive import Block, extrinsics_root
from runtime.frame.composition import RuntimeGenesis
from runtime.frame.overlay import Overlay
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["build_genesis", "GENESIS_BLOCK_HASH_PLACEHOLDER"]

GENESIS_BLOCK_HASH_PLACEHOLDER = bytes([69]) * 32
"""What ``System.BlockHash[0]`` holds until block 1 records the real genesis hash (as in Substrate)."""


def build_genesis(runtime: CairnRuntime, genesis: RuntimeGenesis) -> tuple[Block, TrieState]:
    """Block 0 and the state it commits to: every pallet's genesis section written, in composition order,
    and the runtime parameters."""
    overlay = Overlay(TrieState(version=runtime.VERSION.state_version))
    with runtime.executing(overlay):
        runtime.system.block_hash.insert(0, GENESIS_BLOCK_HASH_PLACEHOLDER)
        runtime.system.parent_hash.put(GENESIS_BLOCK_HASH_PLACEHOLDER)
        for name, section in genesis.items():
            section.build(runtime.by_name[name])
        overlay.set(RUNTIME_PARAMS_KEY, runtime.params.encode())
    state = TrieState(version=runtime.VERSION.state_version).apply(overlay.changes())
    header = Header(bytes(32), 0, state.root, extrinsics_root((), runtime.VERSION.state_version))
    return Block(header, ()), state
