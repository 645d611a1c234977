"""The storage pallets in the real Cairn runtime, through real blocks of the dev chain: signed extrinsics with
their weights and fees, ``on_initialize`` driven by the executive, the dev preset's parameters. Six dev accounts
register as nodes, Alice declares a file, the nodes confirm it, the audit round challenges them and their
proofs pass."""

from __future__ import annotations

import dataclasses

from runtime.executive import execute_block
from runtime.keyring import DEV_ACCOUNTS, Keypair
from runtime.pallets.balances import Balances
from runtime.pallets.system import ExtrinsicFailed, ExtrinsicSuccess
from runtime.pallets.transaction_payment import TransactionFeePaid
from runtime.primitives import Pays
from storage_node.pallets.file_bank import (AuditPassed, Challenged, FileActivated, FileBank, FileDeclared, FileExists,
                                            NotEnoughNodes)
from storage_node.pallets.nodes import StorageNodes
from tests.runtime.frame_helpers import at, events_at, new_chain
from tests.runtime.helpers import NonceSigner, sign

from .mock import make_file, proofs_for

KEYS = [Keypair.from_uri(f"//{name}") for name in DEV_ACCOUNTS[:6]]
ALICE = KEYS[0]


def test_declare_confirm_and_audit_through_real_blocks():
    chain = new_chain("dev")
    signed = NonceSigner(chain)

    with at(chain) as runtime:
        stake = runtime.pallet(StorageNodes).config.min_stake
        bank = runtime.pallet(FileBank).config
        segment_size, chunk_size, audit_period = bank.segment_size, bank.chunk_size, bank.audit_period
    result = chain.produce_block([signed(key, "StorageNodes", "register", endpoint=f"http://n{i}".encode(),
                                         capacity=1 << 30, stake=stake) for i, key in enumerate(KEYS)])
    assert all(outcome.error is None for outcome in result.outcomes)

    stored = make_file(ALICE.public, 100_000, segment_size=segment_size, chunk_size=chunk_size)
    result = chain.produce_block([signed(ALICE, "FileBank", "declare", manifest=stored.manifest.encode())])
    assert result.outcomes[0].error is None
    assert FileDeclared(stored.file_id, ALICE.public, 100_000) in events_at(chain)

    with at(chain) as runtime:
        placement = runtime.pallet(FileBank).placements.get(stored.file_id, 0)
    by_key = {key.public: key for key in KEYS}
    chain.produce_block([signed(by_key[node], "FileBank", "confirm", file_id=stored.file_id, fragments=((0, j),))
                         for j, node in enumerate(placement)])
    assert FileActivated(stored.file_id) in events_at(chain)

    while chain.blocks[chain.best_hash].header.number % audit_period != audit_period - 1:
        chain.produce_block([])
    chain.produce_block([])
    challenges = [e for e in events_at(chain) if isinstance(e, Challenged)]
    assert {c.node for c in challenges} == set(placement)
    with at(chain) as runtime:
        before = {node: runtime.pallet(Balances).free_balance(node) for node in placement}
    result = chain.produce_block([
        signed(by_key[c.node], "FileBank", "submit_proof", challenge_id=c.challenge_id,
               proofs=proofs_for(stored, c.segment, c.fragment, c.chunk_indices)) for c in challenges])
    assert all(outcome.error is None for outcome in result.outcomes)
    passed = [e for e in events_at(chain) if isinstance(e, AuditPassed)]
    assert {e.node for e in passed} == set(placement) and all(e.reward > 0 for e in passed)
    # a pass pays no fee: each node is richer by exactly its reward, and the success event says Pays::No
    assert all(outcome.fee == 0 and outcome.info.pays_fee is Pays.No for outcome in result.outcomes)
    with at(chain) as runtime:
        assert {e.node: before[e.node] + e.reward for e in passed} == {
            node: runtime.pallet(Balances).free_balance(node) for node in placement}
    assert {e.actual_fee for e in events_at(chain) if isinstance(e, TransactionFeePaid)} == {0}
    successes = [e for e in events_at(chain) if isinstance(e, ExtrinsicSuccess)]
    assert sum(e.dispatch_info.pays_fee is Pays.No for e in successes) == len(challenges)
    # only the one answer that passes is free: the same answer again is refused, and pays
    c = challenges[0]
    result = chain.produce_block([signed(by_key[c.node], "FileBank", "submit_proof", challenge_id=c.challenge_id,
                                         proofs=proofs_for(stored, c.segment, c.fragment, c.chunk_indices))])
    (outcome,) = result.outcomes
    assert outcome.error is not None and outcome.fee > 0 and outcome.info.pays_fee is Pays.Yes


def test_a_declaration_pays_for_the_nodes_it_read_and_gives_the_block_back_the_rest():
    """``declare`` is admitted at the weight of ``max_nodes`` registered nodes; with six registered, the block keeps
    the weight it used, its success event says so, and the signer pays the fee of that weight: the rest of what
    was withheld comes back. A declaration the chain refuses pays for what it read too: none of the nodes if it
    was refused before placing (a duplicate), all six if while placing (7 fragments a segment for 6 nodes). The
    block imports."""
    chain = new_chain("dev")
    with at(chain) as runtime:
        stake = runtime.pallet(StorageNodes).config.min_stake
        bank = runtime.pallet(FileBank).config
    chain.produce_block([sign(chain, key, "StorageNodes", "register", nonce=0, endpoint=f"http://n{i}".encode(),
                              capacity=1 << 30, stake=stake) for i, key in enumerate(KEYS)])
    stored = make_file(ALICE.public, 100_000, segment_size=bank.segment_size, chunk_size=bank.chunk_size)
    too_wide = make_file(ALICE.public, 100_000, seed=1, k=4, m=3, segment_size=bank.segment_size,
                         chunk_size=bank.chunk_size)
    manifests = [stored.manifest.encode(), stored.manifest.encode(), too_wide.manifest.encode()]
    extrinsics = [sign(chain, ALICE, "FileBank", "declare", nonce=1 + i, manifest=m) for i, m in enumerate(manifests)]
    lengths = [len(m) for m in manifests]
    used = bank.weights.declare(stored.manifest.segment_count(), 5, len(KEYS), manifest_bytes=lengths[0])
    refused = [bank.weights.declare(stored.manifest.segment_count(), 5, 0, manifest_bytes=lengths[1]),
               bank.weights.declare(too_wide.manifest.segment_count(), 7, len(KEYS), manifest_bytes=lengths[2])]
    parent_state = chain.best_state
    with at(chain) as runtime:  # the fees at this block's multiplier (its end moves the next one's)
        admitted = [runtime.dispatch_info(runtime.call("FileBank", "declare", manifest=m)) for m in manifests]
        before = runtime.pallet(Balances).free_balance(ALICE.public)
        withheld = [runtime.transaction_payment.compute_fee(len(xt), info, 0) for xt, info in zip(extrinsics, admitted)]
        charged = [dataclasses.replace(info, weight=weight) for info, weight in zip(admitted, [used, *refused])]
        owed = [runtime.transaction_payment.compute_fee(len(xt), info, 0) for xt, info in zip(extrinsics, charged)]
    assert admitted[0].weight == bank.weights.declare(stored.manifest.segment_count(), 5, manifest_bytes=lengths[0])
    assert used.ref_time < admitted[0].weight.ref_time
    result = chain.produce_block(extrinsics)
    declared, duplicate, unplaced = result.outcomes
    assert declared.error is None
    assert [outcome.error.value.error[0] for outcome in (duplicate, unplaced)] == [
        FileBank.ERRORS.index(FileExists), FileBank.ERRORS.index(NotEnoughNodes)]
    assert [declared.info, duplicate.info, unplaced.info] == charged
    assert [declared.fee, duplicate.fee, unplaced.fee] == owed
    assert all(fee < quoted for fee, quoted in zip(owed, withheld)) and refused[0].ref_time < refused[1].ref_time
    with at(chain) as runtime:
        info = runtime.pallet(FileBank).files.get(stored.file_id)
        deposit, paid_for_storage = info.deposit, bank.fee_per_byte_period * info.stored_bytes() * bank.prepaid_periods
        fees = declared.fee + duplicate.fee + unplaced.fee
        assert runtime.pallet(Balances).free_balance(ALICE.public) == before - fees - deposit - paid_for_storage
        assert runtime.system.block_weight.get().normal == used + refused[0] + refused[1]
    successes = [e.dispatch_info for e in events_at(chain) if isinstance(e, ExtrinsicSuccess)]
    assert declared.info in successes
    assert [e.dispatch_info for e in events_at(chain) if isinstance(e, ExtrinsicFailed)] == charged[1:]
    assert [e.actual_fee for e in events_at(chain) if isinstance(e, TransactionFeePaid)] == [
        declared.fee, duplicate.fee, unplaced.fee]
    block = chain.blocks[chain.best_hash]
    assert execute_block(chain.runtime, parent_state, block).root == block.header.state_root
