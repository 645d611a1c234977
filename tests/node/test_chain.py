"""Authorship, import verification and the block tree, with real blocks of the local preset."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.chain_spec import preset
from node.authorship import author_block
from node.blocktree import BlockTree, ConflictsWithFinality
from node.consensus import aura
from node.txpool import PoolTransaction
from node.verification import InvalidBlockError, authorities_at, check_structure, execute, verify_seal
from runtime.executive import Block, validate_transaction
from runtime.primitives import Digest, DispatchClass, SignatureScheme
from runtime.keyring import Keypair
from tests.runtime.helpers import sign

SPEC = preset("local")
KEYS = {a.name: Keypair.from_uri(f"//{a.name}", SignatureScheme.Ed25519) for a in SPEC.authorities}
SLOT_MS = SPEC.slot_duration_ms


@pytest.fixture
def chain():
    runtime, genesis, state = SPEC.build()
    return runtime, BlockTree(genesis, state)


def _author_for(runtime, state, slot) -> Keypair:
    author = aura.slot_author(slot, authorities_at(runtime, state))
    return next(k for k in KEYS.values() if k.public == author)


def _build(runtime, tree, parent_hash, slot, txs=(), *, time_slot=None, timestamp=None):
    parent = tree.entry(parent_hash)
    key = _author_for(runtime, parent.state, slot)
    if timestamp is None:
        timestamp = (time_slot if time_slot is not None else slot) * SLOT_MS
    return author_block(runtime, parent.block, parent.state, slot=slot, timestamp_ms=timestamp,
                        secret=key.secret, candidates=txs, budget_s=1.0)


def verify_block(runtime, tree, block, now_slot):
    """All three import checks, in order, as a block from a block request goes through them."""
    parent = check_structure(tree, block)
    claim = verify_seal(runtime, parent, block, now_slot)
    return execute(runtime, parent, block, claim.slot, SLOT_MS), claim.slot


def _import(runtime, tree, block, now_slot=10**9):
    state, slot = verify_block(runtime, tree, block, now_slot)
    return tree.insert(block, state, slot)


def test_authored_blocks_import_on_another_node(chain):
    runtime, tree = chain
    _, other = SPEC.build()[0], BlockTree(*SPEC.build()[1:])
    alice = Keypair.from_uri("//Alice")
    raw = sign(_Chainish(tree), alice, "Balances", "transfer_keep_alive", nonce=0, dest=Keypair.from_uri("//Bob").public, value=10**12)
    validity = validate_transaction(runtime, tree.best.state, tree.best_hash, raw)
    pooled = PoolTransaction(raw, b"h" * 32, validity, alice.public, 0)
    parent = tree.best_hash
    for slot in range(100, 104):
        authored = _build(runtime, tree, parent, slot, [pooled] if slot == 100 else [])
        tree.insert(authored.block, authored.state, slot)
        assert _import(runtime, other, authored.block)
        parent = authored.block.hash
    assert other.best_hash == tree.best_hash and other.best.number == 4
    assert other.best.state.root == tree.best.state.root
    assert len(tree.entry(tree.hash_at(1)).block.extrinsics) == 2


def test_a_transaction_that_hits_a_runtime_bug_is_left_out_and_the_block_goes_on(chain, monkeypatch):
    runtime, tree = chain
    alice, bob = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")
    pooled = []
    for signer, dest in ((alice, bob), (bob, alice)):
        raw = sign(_Chainish(tree), signer, "Balances", "transfer_keep_alive", nonce=0, dest=dest.public, value=10**12)
        validity = validate_transaction(runtime, tree.best.state, tree.best_hash, raw)
        pooled.append(PoolTransaction(raw, signer.public, validity, signer.public, 0))
    dispatch = runtime.dispatch

    def buggy(call, origin):  # a runtime bug that only Alice's transfers reach: not a DispatchError
        if origin.who == alice.public:
            raise ZeroDivisionError("injected")
        dispatch(call, origin)

    monkeypatch.setattr(runtime, "dispatch", buggy)
    authored = _build(runtime, tree, tree.best_hash, 100, pooled)
    assert authored.included == (bob.public,)
    assert authored.rejected == ((alice.public, "runtime error: ZeroDivisionError: injected"),)
    monkeypatch.undo()
    tree.insert(authored.block, authored.state, 100)
    other = BlockTree(*SPEC.build()[1:])
    assert _import(runtime, other, authored.block)  # the block is valid: Alice's transfer left no trace
    assert len(authored.block.extrinsics) == 2  # the timestamp and Bob's transfer


def test_a_transaction_that_does_not_fit_what_is_left_is_passed_over_and_lighter_ones_go_in(chain):
    """The author stopped at the first transaction that did not fit, so a heavy one at the head of the pool
    (operational: it outranks every transfer) kept each block to what came before it."""
    runtime, tree = chain
    config = runtime.system.config
    heavy = config.max_extrinsic_weight(DispatchClass.Operational)
    pooled = []
    for signer in (Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")):  # two: the second cannot fit
        call = runtime.call("System", "set_storage", items=())
        raw = sign(_Chainish(tree), signer, "Sudo", "sudo_unchecked_weight", nonce=0, call=call, weight=heavy)
        pooled.append(PoolTransaction(raw, signer.public, validate_transaction(runtime, tree.best.state,
                                                                               tree.best_hash, raw), signer.public, 0))
    charlie = Keypair.from_uri("//Charlie")
    raw = sign(_Chainish(tree), charlie, "Balances", "transfer_keep_alive", nonce=0,
               dest=Keypair.from_uri("//Dave").public, value=10**12)
    pooled.append(PoolTransaction(raw, charlie.public, validate_transaction(runtime, tree.best.state,
                                                                            tree.best_hash, raw), charlie.public, 0))
    assert heavy.all_lte(config.max_block_weight) and not (heavy + heavy).all_lte(config.max_block_weight)
    authored = _build(runtime, tree, tree.best_hash, 100, pooled)
    assert authored.included == (pooled[0].hash, charlie.public) and authored.rejected == ()
    assert _import(runtime, BlockTree(*SPEC.build()[1:]), authored.block)


class _Chainish:
    """What ``tests.runtime.helpers.sign`` needs: runtime and genesis hash."""

    def __init__(self, tree):
        self.runtime = SPEC.build()[0]
        self.genesis_hash = tree.genesis_hash


@pytest.mark.parametrize("tamper", ["wrong-author", "no-seal", "bad-seal", "stale-slot", "future-slot", "state-root",
                                    "number", "time-ahead-of-its-slot", "time-at-the-end-of-time"])
def test_invalid_blocks_are_rejected(chain, tamper):
    runtime, tree = chain
    good = _build(runtime, tree, tree.best_hash, 200)
    tree.insert(good.block, good.state, 200)
    block = _build(runtime, tree, good.block.hash, 201).block
    header = block.header
    if tamper == "wrong-author":
        wrong = next(k for k in KEYS.values() if k.public != aura.slot_author(201, authorities_at(runtime, good.state)))
        unsealed, _ = aura.unsealed(header)
        block = Block(aura.seal(unsealed, wrong.secret), block.extrinsics)
    elif tamper == "no-seal":
        block = Block(aura.unsealed(header)[0], block.extrinsics)
    elif tamper == "bad-seal":
        logs = header.digest.logs
        block = Block(replace(header, digest=Digest(logs[:-1] + (replace(logs[-1], data=bytes(64)),))), block.extrinsics)
    elif tamper == "stale-slot":
        block = _build(runtime, tree, good.block.hash, 200, time_slot=201).block
    elif tamper == "future-slot":
        block = _build(runtime, tree, good.block.hash, 10**6).block
    elif tamper == "time-ahead-of-its-slot":  # after it, every honest author's time would be too early
        block = _build(runtime, tree, good.block.hash, 201, time_slot=10**6).block
    elif tamper == "time-at-the-end-of-time":  # no u64 time could ever follow it
        block = _build(runtime, tree, good.block.hash, 201, timestamp=2**64 - 1).block
    elif tamper == "state-root":
        key = _author_for(runtime, good.state, 201)
        bad = replace(aura.unsealed(header)[0], state_root=bytes(32))
        block = Block(aura.seal(bad, key.secret), block.extrinsics)
    elif tamper == "number":
        key = _author_for(runtime, good.state, 201)
        bad = replace(aura.unsealed(header)[0], number=5)
        block = Block(aura.seal(bad, key.secret), block.extrinsics)
    with pytest.raises(InvalidBlockError) as refused:
        verify_block(runtime, tree, block, now_slot=300)
    assert block.hash not in tree
    assert refused.value.penalize is (tamper != "future-slot")  # a slot ahead of our clock may be our fault


def test_longest_chain_wins_and_finality_prunes_forks(chain):
    runtime, tree = chain
    a1 = _build(runtime, tree, tree.best_hash, 10)
    tree.insert(a1.block, a1.state, 10)
    b1 = _build(runtime, tree, tree.genesis_hash, 11)  # a fork at height 1
    assert tree.insert(b1.block, b1.state, 11) is False  # equal height: first seen stays best
    b2 = _build(runtime, tree, b1.block.hash, 12)
    assert tree.insert(b2.block, b2.state, 12) is True
    assert tree.best_hash == b2.block.hash

    assert tree.finalize(b1.block.hash, b"justification") == [b1.block.hash]
    assert a1.block.hash not in tree and tree.justification(b1.block.hash) == b"justification"
    assert tree.hash_at(1) == b1.block.hash and tree.hash_at(2) == b2.block.hash
    assert tree.finalize(tree.genesis_hash) == []  # finality never moves back

    late_fork = _build(runtime, tree, tree.genesis_hash, 14)  # builds on genesis, below finality
    with pytest.raises(ConflictsWithFinality):
        tree.insert(late_fork.block, late_fork.state, 14)
    with pytest.raises(InvalidBlockError, match="finalized"):
        verify_block(runtime, tree, late_fork.block, now_slot=100)


def test_route_between_heads_lists_retracted_and_enacted_blocks(chain):
    runtime, tree = chain
    a1 = _build(runtime, tree, tree.best_hash, 20)
    tree.insert(a1.block, a1.state, 20)
    a2 = _build(runtime, tree, a1.block.hash, 21)
    tree.insert(a2.block, a2.state, 21)
    b1 = _build(runtime, tree, tree.genesis_hash, 22)
    tree.insert(b1.block, b1.state, 22)
    b2 = _build(runtime, tree, b1.block.hash, 23)
    tree.insert(b2.block, b2.state, 23)
    b3 = _build(runtime, tree, b2.block.hash, 24)
    tree.insert(b3.block, b3.state, 24)
    retracted, enacted = tree.route(a2.block.hash, b3.block.hash)
    assert retracted == [a2.block.hash, a1.block.hash]
    assert enacted == [b1.block.hash, b2.block.hash, b3.block.hash]
    assert tree.route(b3.block.hash, b3.block.hash) == ([], [])
    assert tree.route(b1.block.hash, b3.block.hash) == ([], [b2.block.hash, b3.block.hash])
