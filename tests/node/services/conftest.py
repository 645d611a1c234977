"""Helpers for the node's services tested on their own: an in-memory chain of the ``local`` preset, blocks
authored by the slot's real authority, signed transfers, and real networks on loopback."""

from __future__ import annotations

import itertools

import pytest
import trio

from node.authorship import author_block
from node.blocktree import BlockTree
from node.chain import Chain
from node.chain_spec import preset
from node.clock import SlotClock
from node.consensus import aura
from node.txpool import PoolTransaction
from runtime.executive import Block
from runtime.extrinsic import encode_signed, signing_payload
from runtime.keyring import Keypair
from runtime.primitives import Era, SignatureScheme
from tests.node.network.conftest import FAST, connect_both, eventually, start_node  # noqa: F401 - fixtures

SPEC = preset("local")
SESSION_KEYS = {key.public: key for key in (Keypair.from_uri(f"//{a.name}", SignatureScheme.Ed25519)
                                            for a in SPEC.authorities)}
ALICE, BOB = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")
FIRST_SLOT = 1_000


def new_chain() -> Chain:
    runtime, genesis, state = SPEC.build()
    return Chain(runtime, BlockTree(genesis, state))


def clock_at(slot: int) -> SlotClock:
    """A clock standing in ``slot`` (block timestamps and slot checks agree with it)."""
    return SlotClock(SPEC.slot_duration_ms, now_ms=lambda: slot * SPEC.slot_duration_ms)


def author(chain: Chain, slot: int, transactions: list[PoolTransaction] = (), parent: bytes | None = None) -> Block:
    """The block the authority of ``slot`` builds on ``parent`` (the best block by default), sealed."""
    entry = chain.tree.entry(parent or chain.tree.best_hash)
    key = SESSION_KEYS[aura.slot_author(slot, chain.authority_set(entry.state).authorities)]
    return author_block(chain.runtime, entry.block, entry.state, slot=slot, timestamp_ms=slot * SPEC.slot_duration_ms,
                        secret=key.secret, candidates=transactions, budget_s=5.0).block


def transfer(chain: Chain, nonce: int, *, signer: Keypair = ALICE, value: int = 10**12, tip: int = 0) -> bytes:
    runtime = chain.runtime
    call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=value))
    version, genesis = runtime.VERSION, chain.tree.genesis_hash
    payload = signing_payload(call, Era(), nonce, tip, version.spec_version, version.transaction_version, genesis, genesis)
    return encode_signed(call, signer.public, signer.scheme, signer.sign(payload), Era(), nonce, tip)


@pytest.fixture
def slots():
    """Consecutive slots from ``FIRST_SLOT``: each test's blocks get increasing slots."""
    return itertools.count(FIRST_SLOT)


async def wait_for(condition, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)
