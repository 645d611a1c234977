"""Genesis: the initial state and block 0, built by running the pallets' own code on an empty state.

The genesis hash is ``blake2_256`` of the block-0 header, whose state root commits to everything the
chain spec put in: each pallet's genesis section (balances, sudo key, authorities, ...), the runtime
parameters (stored at ``RUNTIME_PARAMS_KEY``) and the runtime itself (at ``:code``). Same spec, same hash, on
every machine.

``:code``: a Substrate chain keeps its runtime's Wasm blob there, and clients read it (to show or compare the
runtime's hash, to notice an upgrade). Cairn's runtime is this Python package, not a blob a node loads from
state, so ``:code`` holds what identifies it exactly (:func:`runtime_code`, format ``CODE_FORMAT``):

    CODE_FORMAT ++ SCALE(RuntimeVersion) ++ blake2_256(metadata)

The version names the spec and its APIs; the metadata hash covers every call, event, error, storage item and
constant. Two runtimes with the same ``:code`` are the same wire format; any change to either changes it (and
the genesis hash). It is not Wasm and does not pretend to be: a tool that tries to execute it fails at once.
"""

from __future__ import annotations

from runtime.cairn import RUNTIME_PARAMS_KEY, CairnRuntime
from runtime.executive import Block, extrinsics_root
from runtime.hashing import blake2_256
from runtime.frame.composition import RuntimeGenesis
from runtime.frame.overlay import Overlay
from runtime.primitives import Header
from runtime.trie import TrieState

__all__ = ["build_genesis", "runtime_code", "CODE_KEY", "CODE_FORMAT", "GENESIS_BLOCK_HASH_PLACEHOLDER"]

CODE_KEY = b":code"
"""Substrate's well-known key of the runtime code."""
CODE_FORMAT = b"cairn-runtime/v1\x00"
"""The first bytes of Cairn's ``:code``: what follows, and in which layout (bump the version to change it)."""

GENESIS_BLOCK_HASH_PLACEHOLDER = bytes([69]) * 32
"""What ``System.BlockHash[0]`` holds until block 1 records the real genesis hash (as in Substrate)."""


def runtime_code(runtime: CairnRuntime) -> bytes:
    """What genesis stores at ``:code`` for ``runtime`` (see the module docstring)."""
    return CODE_FORMAT + runtime.VERSION.encode() + blake2_256(runtime.metadata)


def build_genesis(runtime: CairnRuntime, genesis: RuntimeGenesis) -> tuple[Block, TrieState]:
    """Block 0 and the state it commits to: every pallet's genesis section written, in composition order,
    the runtime parameters and the runtime's ``:code``."""
    overlay = Overlay(TrieState(version=runtime.VERSION.state_version))
    with runtime.executing(overlay):
        runtime.system.block_hash.insert(0, GENESIS_BLOCK_HASH_PLACEHOLDER)
        runtime.system.parent_hash.put(GENESIS_BLOCK_HASH_PLACEHOLDER)
        for name, section in genesis.items():
            section.build(runtime.by_name[name])
        overlay.set(RUNTIME_PARAMS_KEY, runtime.params.encode())
        overlay.set(CODE_KEY, runtime_code(runtime))
    state = TrieState(version=runtime.VERSION.state_version).apply(overlay.changes())
    header = Header(bytes(32), 0, state.root, extrinsics_root((), runtime.VERSION.state_version))
    return Block(header, ()), state
