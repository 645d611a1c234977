"""Property tests over random sequences of valid and invalid extrinsics.

After every block: total issuance equals the sum of all balances and fell by exactly the fees paid plus
the dust of reaped accounts; every account holds at least the existential deposit; every included signed
extrinsic raised its signer's nonce by one; every rejected extrinsic left the block unchanged; the header's
state root is the trie root of the state, and read proofs of accounts verify against it (tampered ones fail).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.chain_spec import preset
from devnet.local_chain import LocalChain
from runtime.executive import Block, BlockBuilder, timestamp_inherent
from runtime.extrinsic import MalformedExtrinsic, TransactionValidityError
from runtime.frame.overlay import Overlay
from runtime.pallets.balances import DustLost
from runtime.pallets.system import KilledAccount
from runtime.pallets.transaction_payment import TransactionFeePaid
from runtime.trie import InvalidProof, TrieState, verify_read_proof
from runtime.keyring import Keypair
from tests.runtime.helpers import sign

KEYS = [Keypair.from_uri(f"//{name}") for name in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")]
NEWCOMERS = [Keypair.from_uri(f"//New{i}") for i in range(3)]
ED = 10**10

operation = st.tuples(
    st.sampled_from(["transfer_allow_death", "transfer_keep_alive", "transfer_all", "bad_nonce", "bad_signature", "garbage"]),
    st.integers(0, len(KEYS) + len(NEWCOMERS) - 1),   # signer
    st.integers(0, len(KEYS) + len(NEWCOMERS) - 1),   # destination
    st.one_of(st.integers(0, 3 * ED), st.integers(0, 2 * 10**18)),  # amount: around the ED, or huge
    st.booleans(),
)


def _accounts(chain: LocalChain) -> dict[bytes, object]:
    runtime = chain.runtime
    with runtime.executing(Overlay(chain.best_state)):
        return dict(runtime.system.account.items())


def _issuance(chain: LocalChain) -> int:
    with chain.runtime.executing(Overlay(chain.best_state)):
        return chain.runtime.balances.total_issuance.get()


def _build(chain: LocalChain, ops: list) -> tuple[Block, list[bytes], list]:
    everyone = KEYS + NEWCOMERS
    nonces = {k.public: a.nonce for k, a in ((k, _accounts(chain).get(k.public)) for k in everyone) if a is not None}
    parent = chain.blocks[chain.best_hash]
    builder = BlockBuilder(chain.runtime, chain.best_state, parent.hash, parent.header.number + 1)
    builder.apply_extrinsic(timestamp_inherent(chain.runtime, (parent.header.number + 1) * 2000))
    included: list[bytes] = []
    for kind, signer_i, dest_i, amount, flag in ops:
        signer, dest = everyone[signer_i], everyone[dest_i]
        nonce = nonces.get(signer.public, 0)
        if kind == "transfer_all":
            raw = sign(chain, signer, "Balances", "transfer_all", nonce=nonce, dest=dest.public, keep_alive=flag)
        elif kind == "garbage":
            raw = bytes([amount % 256]) * (amount % 40)
        else:
            call = "transfer_keep_alive" if kind != "transfer_allow_death" else "transfer_allow_death"
            raw = sign(chain, signer, "Balances", call, nonce=nonce + (kind == "bad_nonce") * (1 + flag),
                       dest=dest.public, value=amount)
            if kind == "bad_signature":
                raw = raw[:50] + bytes([raw[50] ^ 1]) + raw[51:]
        before = builder.overlay.changes()
        try:
            builder.apply_extrinsic(raw)
        except (MalformedExtrinsic, TransactionValidityError):
            assert builder.overlay.changes() == before, f"rejected {kind} changed the state"
            continue
        included.append(signer.public)
        nonces[signer.public] = nonce + 1
    header, state = builder.finalize()
    block = Block(header, tuple(builder.extrinsics))
    chain.blocks[block.hash], chain.states[block.hash] = block, state
    chain.hashes.append(block.hash)
    return block, included, builder.extrinsics


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(operation, max_size=12), min_size=1, max_size=3))
def test_accounting_invariants_hold_for_random_extrinsic_sequences(blocks):
    chain = LocalChain(preset("dev"))
    for ops in blocks:
        accounts_before = _accounts(chain)
        issuance_before = _issuance(chain)
        block, signers, _ = _build(chain, ops)
        accounts_after = _accounts(chain)
        issuance_after = _issuance(chain)

        with chain.runtime.executing(Overlay(chain.best_state)):
            events = [r.event for r in chain.runtime.system.read_events()]
        fees = sum(e.actual_fee for e in events if isinstance(e, TransactionFeePaid))
        dust = sum(e.amount for e in events if isinstance(e, DustLost))
        reaped = {e.account for e in events if isinstance(e, KilledAccount)}
        assert issuance_before - issuance_after == fees + dust
        assert issuance_after == sum(a.data.free + a.data.reserved for a in accounts_after.values())
        for who, info in accounts_after.items():
            assert info.data.free + info.data.reserved >= ED or info.consumers > 0
            assert info.data.free >= 0 and info.data.reserved >= 0
        for who in set(signers) - reaped:
            if who in accounts_after:
                previous = accounts_before[who].nonce if who in accounts_before else 0
                assert accounts_after[who].nonce == previous + signers.count(who)
        assert block.header.state_root == chain.best_state.root


def test_read_proofs_of_accounts_verify_against_the_header(chain):
    keys = [chain.runtime.system.account.key(k.public) for k in KEYS[:3]]
    keys.append(keys[0][:-1] + b"\x00")  # an absent account
    block = chain.produce_block([]).block
    proof = chain.best_state.read_proof(keys)
    proven = verify_read_proof(block.header.state_root, proof, keys)
    assert all(proven[k] == chain.best_state.get(k) for k in keys)
    assert proven[keys[-1]] is None
    rng = random.Random(7)
    for _ in range(20):
        tampered = list(proof)
        i = rng.randrange(len(tampered))
        node = bytearray(tampered[i])
        node[rng.randrange(len(node))] ^= 1 << rng.randrange(8)
        tampered[i] = bytes(node)
        with pytest.raises(InvalidProof):
            verify_read_proof(block.header.state_root, tampered, keys)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=40), st.binary(max_size=80), max_size=60), st.randoms())
def test_state_root_does_not_depend_on_write_order(items, rng):
    keys = list(items)
    roots = set()
    for _ in range(3):
        rng.shuffle(keys)
        overlay = Overlay(TrieState())
        for key in keys:
            overlay.set(key, b"junk")  # overwritten below: only the final value may count
        for key in keys:
            overlay.set(key, items[key])
        roots.add(TrieState().apply(overlay.changes()).root)
    assert len(roots) == 1
    assert roots.pop() == TrieState.from_items(items).root
