"""The executive: a produced block re-executes to the same state; anything else is an ``InvalidBlock``.

Covers import-side checks (roots, extrinsic order, inherents, timestamps), the block weight and length
limits with the operational reserve, isolation of a failed block from its parent state, the block codec,
and genesis determinism.
"""

from __future__ import annotations

import dataclasses

import pytest

from node.chain_spec import ChainSpec, preset
from runtime.pallets.balances import BalancesGenesis
from runtime.pallets.sudo import SudoGenesis
from runtime.executive import Block, BlockBuilder, InvalidBlock, execute_block, timestamp_inherent
from runtime.extrinsic import InvalidKind, InvalidTransaction
from runtime.pallets.timestamp import MissingTimestamp
from runtime.primitives import Digest, DigestItemKind, DispatchClass, Weight
from runtime.scale import ScaleDecodeError, encode_compact
from runtime.trie import TrieState
from runtime.keyring import Keypair
from tests.runtime.frame_helpers import at, new_chain
from tests.runtime.helpers import sign

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")
CHARLIE = Keypair.from_uri("//Charlie")


def _transfer(chain, signer, nonce, value=10**12, dest=CHARLIE) -> bytes:
    return sign(chain, signer, "Balances", "transfer_keep_alive", nonce=nonce, dest=dest.public, value=value)


def _builder(chain, timestamp_ms: int | None = None) -> BlockBuilder:
    parent = chain.blocks[chain.best_hash]
    number = parent.header.number + 1
    builder = BlockBuilder(chain.runtime, chain.best_state, parent.hash, number)
    if timestamp_ms is not None:
        builder.apply_extrinsic(timestamp_inherent(chain.runtime, timestamp_ms))
    return builder


def _finish(builder: BlockBuilder) -> Block:
    header, _ = builder.finalize()
    return Block(header, tuple(builder.extrinsics))


@pytest.fixture
def produced(chain):
    """Block 1 with a timestamp, two transfers from ALICE and one from BOB; returns (parent state, block)."""
    parent_state = chain.best_state
    result = chain.produce_block([_transfer(chain, ALICE, 0), _transfer(chain, ALICE, 1), _transfer(chain, BOB, 0)])
    assert all(not isinstance(o, Exception) and o.error is None for o in result.outcomes)
    return parent_state, result.block


# --- re-execution ---------------------------------------------------------------------------------


def test_execute_block_reproduces_the_produced_state(chain, produced):
    parent_state, block = produced
    state = execute_block(chain.runtime, parent_state, block)
    assert state.root == block.header.state_root == chain.states[block.hash].root
    assert dict(state.items()) == dict(chain.states[block.hash].items())


def test_a_trailing_seal_is_not_executed(chain, produced):
    parent_state, block = produced
    seal = DigestItemKind.Seal(b"aura", b"\x01" * 64)
    sealed = Block(dataclasses.replace(block.header, digest=Digest(block.header.digest.logs + (seal,))), block.extrinsics)
    assert execute_block(chain.runtime, parent_state, sealed).root == block.header.state_root


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


TAMPERINGS = {
    "state-root": (lambda b: Block(dataclasses.replace(b.header, state_root=_flip(b.header.state_root)), b.extrinsics),
                   "state root mismatch"),
    "extrinsics-root": (lambda b: Block(dataclasses.replace(b.header, extrinsics_root=_flip(b.header.extrinsics_root)),
                                        b.extrinsics), "extrinsics root mismatch"),
    "swap-signers": (lambda b: Block(b.header, (b.extrinsics[0], b.extrinsics[3], b.extrinsics[1], b.extrinsics[2])),
                     "extrinsics root mismatch"),
    "swap-nonces": (lambda b: Block(b.header, (b.extrinsics[0], b.extrinsics[2], b.extrinsics[1], b.extrinsics[3])),
                    "extrinsic 1 is not valid"),
    "remove-last": (lambda b: Block(b.header, b.extrinsics[:-1]), "extrinsics root mismatch"),
    "remove-middle": (lambda b: Block(b.header, b.extrinsics[:1] + b.extrinsics[2:]), "extrinsic 1 is not valid"),
    "replay": (lambda b: Block(b.header, b.extrinsics + b.extrinsics[-1:]), "extrinsic 4 is not valid"),
    "parent-hash": (lambda b: Block(dataclasses.replace(b.header, parent_hash=_flip(b.header.parent_hash)),
                                    b.extrinsics), "bad signature"),  # block 1's parent is the genesis the signatures cover
    "number": (lambda b: Block(dataclasses.replace(b.header, number=2), b.extrinsics), "not valid|mismatch"),
    "forged-log": (lambda b: Block(dataclasses.replace(b.header, digest=Digest(b.header.digest.logs + (
        DigestItemKind.Consensus(b"FRNK", b"\x01\x04" + bytes(32) + bytes(12)),))), b.extrinsics), "digest mismatch"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERINGS))
def test_tampered_block_is_invalid(chain, produced, tamper):
    parent_state, block = produced
    mutate, reason = TAMPERINGS[tamper]
    with pytest.raises(InvalidBlock, match=reason):
        execute_block(chain.runtime, parent_state, mutate(block))


def test_executing_on_the_wrong_parent_state_is_invalid(chain, produced):
    _, block1 = produced
    block2 = chain.produce_block([_transfer(chain, ALICE, 2)]).block
    with pytest.raises(InvalidBlock):
        execute_block(chain.runtime, chain.states[chain.genesis_hash], block2)
    assert execute_block(chain.runtime, chain.states[block1.hash], block2).root == block2.header.state_root


# --- inherents and timestamps ---------------------------------------------------------------------


def test_block_without_timestamp_inherent_is_invalid(chain, produced):
    parent_state, block = produced
    with pytest.raises(InvalidBlock, match="MissingTimestamp"):
        execute_block(chain.runtime, parent_state, Block(block.header, block.extrinsics[1:]))
    builder = _builder(chain)
    builder.apply_extrinsic(_transfer(chain, ALICE, 2))
    with pytest.raises(MissingTimestamp):
        builder.finalize()


def test_inherent_after_a_signed_extrinsic_is_rejected(chain, produced):
    parent_state, block = produced
    with pytest.raises(InvalidBlock, match="extrinsic 1 is not valid"):
        execute_block(chain.runtime, parent_state, Block(block.header, (block.extrinsics[1], block.extrinsics[0])
                                                         + block.extrinsics[2:]))
    builder = _builder(chain)
    builder.apply_extrinsic(_transfer(chain, ALICE, 2))
    with pytest.raises(InvalidTransaction) as info:
        builder.apply_extrinsic(timestamp_inherent(chain.runtime, 2000))
    assert info.value.kind is InvalidKind.Call
    assert len(builder.extrinsics) == 1


def test_timestamp_must_advance_by_the_minimum_period(chain):
    chain.produce_block([], timestamp_ms=10_000)
    period = chain.runtime.params["Timestamp"].minimum_period
    for too_early in (10_000 - 1, 10_000, 10_000 + period - 1):
        with pytest.raises(InvalidTransaction) as info:
            _builder(chain, too_early)
        assert info.value.kind is InvalidKind.BadMandatory
    builder = _builder(chain, 10_000 + period)
    with pytest.raises(InvalidTransaction) as info:  # and only once per block
        builder.apply_extrinsic(timestamp_inherent(chain.runtime, 20_000 + period))
    assert info.value.kind is InvalidKind.BadMandatory
    _finish(builder)


def test_imported_block_with_an_early_timestamp_is_invalid(chain):
    chain.produce_block([], timestamp_ms=10_000)
    parent_state = chain.best_state
    block = chain.produce_block([], timestamp_ms=12_000).block
    assert execute_block(chain.runtime, parent_state, block).root == block.header.state_root
    early = Block(block.header, (timestamp_inherent(chain.runtime, 10_500),) + block.extrinsics[1:])
    with pytest.raises(InvalidBlock, match="extrinsic 0 is not valid.*mandatory"):
        execute_block(chain.runtime, parent_state, early)


# --- block limits ---------------------------------------------------------------------------------


def _fill_with_transfers(chain, builder, signer=ALICE) -> int:
    """Add transfers until one is refused; return how many went in. The refusal must be ExhaustsResources."""
    for nonce in range(1000):
        try:
            builder.apply_extrinsic(_transfer(chain, signer, nonce, value=10**10))
        except InvalidTransaction as exc:
            assert exc.kind is InvalidKind.ExhaustsResources, exc
            return nonce
    raise AssertionError("the block never filled up")


@pytest.fixture
def small_blocks():
    """Blocks of 4 ms: a few dozen transfers fill their normal share (3 ms), and the hooks' ~0.6 ms of mandatory
    weight in a block with nothing due stays inside the quarter left over, so the normal share is what binds."""
    return new_chain(System={"max_block_ref_time": 4 * 10**9})


def test_transfers_fill_the_normal_share_of_block_weight_and_the_block_stays_valid(small_blocks):
    chain = small_blocks
    runtime = chain.runtime
    parent_state = chain.best_state
    per_transfer = runtime.dispatch_info(runtime.call("Balances", "transfer_keep_alive", dest=BOB.public, value=1)).weight
    builder = _builder(chain, 2000)
    included = _fill_with_transfers(chain, builder)
    assert included == runtime.system.config.max_normal_weight.ref_time // per_transfer.ref_time
    assert included >= 5
    block = _finish(builder)
    with runtime.executing(builder.overlay):
        used = runtime.system.block_weight.get()
    assert used.normal.all_lte(runtime.system.config.max_normal_weight)
    assert execute_block(runtime, parent_state, block).root == block.header.state_root


def test_extrinsics_fill_the_normal_share_of_block_length():
    chain = new_chain(System={"max_block_length": 4096})
    runtime = chain.runtime
    builder = _builder(chain, 2000)
    included = 0
    for nonce in range(100):
        raw = sign(chain, ALICE, "System", "remark", nonce=nonce, remark=b"\x07" * 500)
        try:
            builder.apply_extrinsic(raw)
        except InvalidTransaction as exc:
            assert exc.kind is InvalidKind.ExhaustsResources
            break
        included += 1
    assert 1 < included < 100
    with runtime.executing(builder.overlay):
        used = runtime.system.all_extrinsics_len.get()
    assert included * len(raw) <= used <= runtime.system.config.max_normal_length < used + len(raw)
    parent_state = chain.best_state
    block = _finish(builder)
    assert execute_block(runtime, parent_state, block).root == block.header.state_root


def _operational(chain, nonce: int, ref_time: int) -> bytes:
    inner = chain.runtime.call("System", "set_storage", items=())
    return sign(chain, ALICE, "Sudo", "sudo_unchecked_weight", nonce=nonce, call=inner, weight=Weight(ref_time, 0))


def test_operational_extrinsics_use_the_reserve_left_by_normal_ones(small_blocks):
    chain = small_blocks
    runtime = chain.runtime
    parent_state = chain.best_state
    builder = _builder(chain, 2000)
    filled = _fill_with_transfers(chain, builder)
    with runtime.executing(builder.overlay):  # the reserve, less what the hooks took of it
        room = runtime.system.config.max_block_weight.ref_time - runtime.system.block_weight.get().total().ref_time
    outcome = builder.apply_extrinsic(_operational(chain, filled, room // 2))
    assert outcome.error is None
    with pytest.raises(InvalidTransaction) as info:  # and normal ones still do not fit
        builder.apply_extrinsic(_transfer(chain, ALICE, filled + 1, value=10**10))
    assert info.value.kind is InvalidKind.ExhaustsResources
    block = _finish(builder)
    assert execute_block(runtime, parent_state, block).root == block.header.state_root


def test_operational_extrinsics_cannot_push_the_block_past_its_maximum_weight(small_blocks):
    chain = small_blocks
    runtime = chain.runtime
    builder = _builder(chain, 2000)
    filled = _fill_with_transfers(chain, builder)
    reserve = runtime.system.config.max_block_weight.ref_time - runtime.system.config.max_normal_weight.ref_time
    with pytest.raises(InvalidTransaction) as info:
        builder.apply_extrinsic(_operational(chain, filled, 2 * reserve))
    assert info.value.kind is InvalidKind.ExhaustsResources


def test_no_extrinsic_heavier_than_its_class_allows_in_an_empty_block_passes_validation():
    """An operational extrinsic declaring the whole block passed the pool (its class may fill the block) yet no
    block has room for it beside the hooks and the timestamp: at the head of the pool it stalled every block."""
    from runtime.executive import validate_transaction

    chain = new_chain()  # (the preset's blocks: in tiny ones, the hooks alone outweigh the reserve)
    runtime = chain.runtime
    config = runtime.system.config
    limit = config.max_extrinsic_weight(DispatchClass.Operational).ref_time
    assert limit == config.max_block_weight.ref_time * (100 - config.initialization_reserve_percent) // 100
    with pytest.raises(InvalidTransaction) as info:
        validate_transaction(runtime, chain.best_state, chain.best_hash, _operational(chain, 0, limit + 1))
    assert info.value.kind is InvalidKind.ExhaustsResources
    heaviest = _operational(chain, 0, limit)
    validate_transaction(runtime, chain.best_state, chain.best_hash, heaviest)
    builder = _builder(chain, 2000)
    assert builder.apply_extrinsic(heaviest).error is None  # and it fits a block
    normal_limit = config.max_extrinsic_weight(DispatchClass.Normal)
    assert normal_limit.ref_time == config.max_normal_weight.ref_time - (config.max_block_weight.ref_time - limit)


# --- a failed block changes nothing ---------------------------------------------------------------


def test_a_failed_block_never_touches_the_parent_state(chain, produced):
    parent_state, block = produced
    items_before = dict(parent_state.items())
    root_before = parent_state.root
    bad = Block(dataclasses.replace(block.header, state_root=bytes(32)), block.extrinsics)
    with pytest.raises(InvalidBlock):
        execute_block(chain.runtime, parent_state, bad)
    with pytest.raises(InvalidBlock):
        execute_block(chain.runtime, parent_state, Block(block.header, block.extrinsics[1:]))
    assert dict(parent_state.items()) == items_before
    assert parent_state.root == root_before == TrieState.from_items(items_before).root
    # and the parent still executes the good block to the same result
    assert execute_block(chain.runtime, parent_state, block).root == block.header.state_root


def test_a_builder_that_fails_to_finalize_leaves_the_chain_usable(chain):
    genesis_state = chain.best_state
    root = genesis_state.root
    builder = _builder(chain)
    builder.apply_extrinsic(_transfer(chain, ALICE, 0))
    with pytest.raises(MissingTimestamp):
        builder.finalize()
    assert genesis_state.root == root
    with at(chain) as runtime:
        assert runtime.system.account_nonce(ALICE.public) == 0
    assert chain.produce_block([_transfer(chain, ALICE, 0)]).outcomes[0].error is None


# --- block codec ----------------------------------------------------------------------------------


def test_block_encoding_round_trips(chain, produced):
    _, block = produced
    data = block.encode()
    decoded = Block.decode(data)
    assert decoded == block and decoded.hash == block.hash
    empty = chain.produce_block([]).block
    assert Block.decode(empty.encode()) == empty


def test_every_truncation_and_trailing_bytes_raise_scale_decode_error(produced):
    _, block = produced
    data = block.encode()
    for cut in range(len(data)):
        with pytest.raises(ScaleDecodeError):
            Block.decode(data[:cut])
    with pytest.raises(ScaleDecodeError):
        Block.decode(data + b"\x00")


def test_lying_counts_and_lengths_raise_scale_decode_error(produced):
    _, block = produced
    header = block.header.encode()
    xt = block.extrinsics[1]
    with pytest.raises(ScaleDecodeError):  # more extrinsics than bytes
        Block.decode(header + encode_compact(2**30) + xt)
    with pytest.raises(ScaleDecodeError):  # an extrinsic longer than what follows
        Block.decode(header + encode_compact(1) + encode_compact(len(xt) * 10) + xt)
    with pytest.raises(ScaleDecodeError):  # a non-canonical count
        Block.decode(header + b"\x01\x00" + xt)


# --- genesis --------------------------------------------------------------------------------------


def _genesis_hash(spec: ChainSpec) -> bytes:
    _, block, _ = spec.build()
    return block.hash


def test_genesis_hash_is_deterministic_and_survives_the_json_round_trip():
    spec = preset("dev")
    first = _genesis_hash(spec)
    assert first == _genesis_hash(preset("dev"))
    assert first == _genesis_hash(ChainSpec.from_json(spec.to_json()))


def test_genesis_hash_differs_for_a_different_spec():
    dev = _genesis_hash(preset("dev"))
    assert _genesis_hash(preset("local")) != dev
    spec = preset("dev")
    endowed = spec.genesis["Balances"].balances
    richer = BalancesGenesis(((endowed[0][0], endowed[0][1] + 1),) + endowed[1:])
    assert _genesis_hash(dataclasses.replace(spec, genesis=spec.genesis.replace(Balances=richer))) != dev
    other_sudo = spec.genesis.replace(Sudo=SudoGenesis(endowed[1][0]))
    assert _genesis_hash(dataclasses.replace(spec, genesis=other_sudo)) != dev


def test_genesis_hash_commits_to_the_runtime_parameters():
    spec = preset("dev")
    changed = dataclasses.replace(spec, runtime=spec.runtime.replace(Balances={"existential_deposit": 1}))
    assert _genesis_hash(changed) != _genesis_hash(spec)
