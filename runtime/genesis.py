"""Genesis: the initial state and block 0, built by running the pallets' own code on an empty state.

The genesis hash is ``blake2_256`` of the block-0 header, whose state root commits to everything the
chain spec put in: balances, sudo key, authorities, and the runtime parameters (stored at
``RUNTIME_PARAMS_KEY``). Same spec, same hash, on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.cairn import RUNTIME_PARAMS_KEY, CairnRuntime
from runtime.executive import Block, extrinsics_root
from runtime.frame.overlay import Overlay
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["GenesisConfig", "build_genesis", "GENESIS_BLOCK_HASH_PLACEHOLDER"]

GENESIS_BLOCK_HASH_PLACEHOLDER = bytes([69]) * 32
"""What ``System.BlockHash[0]`` holds until block 1 records the real genesis hash (as in Substrate)."""


@dataclass(frozen=True)
class GenesisConfig:
    balances: tuple[tuple[bytes, int], ...]
    """(account id, free balance) pairs."""
    authorities: tuple[bytes, ...]
    """ed25519 session keys, in Aura slot order."""
    sudo_key: bytes | None = None


def build_genesis(runtime: CairnRuntime, config: GenesisConfig) -> tuple[Block, TrieState]:
    """Block 0 and the state it commits to."""
    overlay = Overlay(TrieState(version=runtime.VERSION.state_version))
    with runtime.executing(overlay):
        runtime.system.block_hash.insert(0, GENESIS_BLOCK_HASH_PLACEHOLDER)
        runtime.system.parent_hash.put(GENESIS_BLOCK_HASH_PLACEHOLDER)
        seen: set[bytes] = set()
        for who, amount in config.balances:
            if who in seen:
                raise ValueError(f"duplicate genesis balance for 0x{who.hex()}")
            seen.add(who)
            runtime.balances.endow(who, amount)
        runtime.validator_set.set_genesis(tuple(config.authorities))
        if config.sudo_key is not None:
            runtime.sudo.key.put(config.sudo_key)
        overlay.set(RUNTIME_PARAMS_KEY, runtime.params.encode())
    state = TrieState(version=runtime.VERSION.state_version).apply(overlay.changes())
    header = Header(bytes(32), 0, state.root, extrinsics_root((), runtime.VERSION.state_version))
    return Block(header, ()), state
