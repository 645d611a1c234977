"""Real blocks for the database tests: any parent (so forks too), a timestamp, optional transfers."""

from __future__ import annotations

from functools import lru_cache

from node.chain_spec import preset
from runtime.cairn import CairnRuntime
from runtime.executive import Block, BlockBuilder, timestamp_inherent
from runtime.extrinsic import encode_signed, signing_payload
from runtime.frame.overlay import Overlay
from runtime.primitives import Era
from runtime.trie import TrieState
from runtime.keyring import Keypair

SLOT_MS = 2000


@lru_cache(maxsize=None)
def dev_chain(name: str = "dev") -> tuple[CairnRuntime, Block, TrieState]:
    """The runtime, genesis block and genesis state of a preset (built once per process)."""
    return preset(name).build()


@lru_cache(maxsize=None)
def _keypair(uri: str) -> Keypair:
    return Keypair.from_uri(uri)


def _transfer(runtime: CairnRuntime, genesis_hash: bytes, nonce: int, value: int) -> bytes:
    alice, bob = _keypair("//Alice"), _keypair("//Bob")
    call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=bob.public, value=value))
    version = runtime.VERSION
    payload = signing_payload(call, Era(), nonce, 0, version.spec_version, version.transaction_version,
                              genesis_hash, genesis_hash)
    return encode_signed(call, alice.public, alice.scheme, alice.sign(payload), Era(), nonce, 0)


def build_child(parent: Block, parent_state: TrieState, *, slot: int, transfers: int = 0,
                chain: str = "dev") -> tuple[Block, TrieState]:
    """A block on ``parent`` at time ``slot * SLOT_MS`` with ``transfers`` transfers from //Alice to
    //Bob (whose amounts depend on the slot, so siblings in other slots differ in state too)."""
    runtime, genesis, _ = dev_chain(chain)
    number = parent.header.number + 1
    builder = BlockBuilder(runtime, parent_state, parent.hash, number)
    builder.apply_extrinsic(timestamp_inherent(runtime, slot * SLOT_MS))
    if transfers:
        with runtime.executing(Overlay(parent_state)):
            nonce = runtime.system.account_nonce(_keypair("//Alice").public)
        for i in range(transfers):
            outcome = builder.apply_extrinsic(_transfer(runtime, genesis.hash, nonce + i, 10**12 + slot * 1000 + i))
            assert outcome.error is None, outcome
    header, state = builder.finalize()
    return Block(header, tuple(builder.extrinsics)), state
