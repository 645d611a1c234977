"""Block import on its own: real blocks of the local preset, executed in a worker while the trio thread reads."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import trio

from node import blocktree
from node.api.errors import state_at
from node.chain import BestChange, Chain
from node.txpool import PoolTransaction
from node.services.block_import import BlockImport, InvalidBlockError
from runtime.executive import Block, validate_transactions
from runtime.primitives import Digest
from tests.node.services.conftest import ALICE, SPEC, author, clock_at, new_chain, transfer


def importer(chain, slot: int) -> BlockImport:
    return BlockImport(chain, clock_at(slot), trio.CapacityLimiter(1))


async def test_a_block_from_a_peer_is_verified_executed_and_becomes_best(slots):
    source, target = new_chain(), new_chain()
    changes: list[BestChange] = []
    target.best_listeners.append(changes.append)
    blocks = []
    for _ in range(3):
        blocks.append(author(source, next(slots)))
        assert await importer(source, 10**9).import_block(blocks[-1])  # the author's own chain moves on
    blocks_import = importer(target, 10**9)
    for block in blocks:
        assert await blocks_import.import_block(block)
    assert target.tree.best_hash == blocks[-1].hash
    assert [c.block.hash for c in changes] == [b.hash for b in blocks]
    assert all(c.retracted == () for c in changes)


async def test_an_invalid_block_raises_and_changes_nothing(slots):
    chain = new_chain()
    block = author(chain, next(slots))
    logs = block.header.digest.logs
    bad_seal = Block(replace(block.header, digest=Digest(logs[:-1] + (replace(logs[-1], data=bytes(64)),))),
                     block.extrinsics)
    with pytest.raises(InvalidBlockError) as refused:
        await importer(chain, 10**9).import_block(bad_seal)
    assert refused.value.penalize and bad_seal.hash not in chain.tree
    with pytest.raises(InvalidBlockError) as early:  # a slot our clock has not reached: maybe our fault
        await importer(chain, 0).import_block(block)
    assert not early.value.penalize and chain.tree.best.number == 0


async def test_import_is_unaffected_by_readers_of_the_same_runtime(slots):
    """Block execution in the worker thread, and reads of the same runtime at once from the trio thread
    (what RPC queries and gossip validation do) and from another thread (what pool validation does)."""
    source, target = new_chain(), new_chain()
    blocks = []
    for nonce in range(0, 400, 100):
        block = author(source, next(slots), [_pooled(source, n) for n in range(nonce, nonce + 100)])
        assert await importer(source, 10**9).import_block(block)
        assert len(block.extrinsics) == 101
        blocks.append(block)
    genesis_state = target.tree.entry(target.tree.genesis_hash).state
    expected = target.authority_set(genesis_state)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_in_a_thread() -> None:
        try:
            while not stop.is_set():
                assert target.authority_set(genesis_state) == expected
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read_in_a_thread)
    reader.start()
    blocks_import = importer(target, 10**9)
    try:
        async with trio.open_nursery() as nursery:
            async def read_on_the_trio_thread() -> None:
                while True:
                    assert target.authority_set(genesis_state) == expected
                    target.account_nonce(ALICE.public)
                    await trio.sleep(0)

            nursery.start_soon(read_on_the_trio_thread)
            for block in blocks:
                assert await blocks_import.import_block(block)
            nursery.cancel_scope.cancel()
    finally:
        stop.set()
        reader.join(timeout=30)
    assert errors == []
    assert target.tree.best_hash == blocks[-1].hash
    assert target.account_nonce(ALICE.public) == 400


def _pooled(chain, nonce: int) -> PoolTransaction:
    raw = transfer(chain, nonce)
    (validated,) = validate_transactions(chain.runtime, chain.tree.best.state, chain.tree.best_hash, [raw])
    # (nonces ahead of the chain are "future" to the pool but fine for a block that includes their predecessors)
    return PoolTransaction(raw, raw[:32], validated.validity, ALICE.public, nonce)


async def test_an_old_state_is_rebuilt_from_the_database_in_a_worker_not_on_the_event_loop(slots, tmp_path,
                                                                                           monkeypatch):
    """Memory keeps the states of the last finalized blocks; an RPC read of an older one rebuilds the whole
    trie from the database, which takes seconds for a large state: never on the thread that imports and votes."""
    monkeypatch.setattr(blocktree, "KEEP_FINALIZED_STATES", 1)
    chain = Chain.open(SPEC, tmp_path / "db")
    try:
        blocks = []
        for _ in range(3):
            blocks.append(author(chain, next(slots)))
            assert await importer(chain, 10**9).import_block(blocks[-1])
        chain.finalize(blocks[-1].hash, b"justification")
        old = blocks[0].hash
        assert chain.tree.state_in_memory(old) is None  # only the database has it now
        loaded_on = []
        rebuild = chain.tree.stored_state

        def recording(block_hash):
            loaded_on.append(threading.current_thread())
            return rebuild(block_hash)

        monkeypatch.setattr(chain.tree, "stored_state", recording)
        state = await state_at(chain.tree, old, trio.CapacityLimiter(1))
        assert state.root == blocks[0].header.state_root
        assert loaded_on and loaded_on[0] is not threading.current_thread()
    finally:
        chain.close()


async def test_after_a_restart_unfinalized_states_are_rebuilt_only_when_read(slots, tmp_path):
    """With finality stalled, hundreds of blocks wait above the finalized one; rebuilding each one's whole state
    at start took minutes and gigabytes. Each is rebuilt when something reads it."""
    chain = Chain.open(SPEC, tmp_path / "db")
    blocks = []
    try:
        for _ in range(3):
            blocks.append(author(chain, next(slots)))
            assert await importer(chain, 10**9).import_block(blocks[-1])
    finally:
        chain.close()
    reopened = Chain.open(SPEC, tmp_path / "db")
    try:
        entries = [reopened.tree.entry(block.hash) for block in blocks]
        assert [entry.loaded_state for entry in entries] == [None] * 3
        assert reopened.tree.best.state.root == blocks[-1].header.state_root  # read: rebuilt
        assert [entry.loaded_state is None for entry in entries] == [True, True, False]
        assert reopened.tree.state(blocks[0].hash).root == blocks[0].header.state_root
        assert entries[0].loaded_state is not None  # kept: finality reads these states at every vote
        assert await importer(reopened, 10**9).import_block(author(reopened, next(slots)))  # on the best one
    finally:
        reopened.close()


async def test_finality_on_another_branch_tells_every_block_it_enacts_even_those_memory_dropped(slots, tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(blocktree, "KEEP_FINALIZED_STATES", 1)  # finalizing drops all but the last from memory
    chain = Chain.open(SPEC, tmp_path / "db")
    try:
        genesis = chain.tree.genesis_hash
        branches: list[list[Block]] = [[], []]
        for branch in branches:
            for _ in range(4):
                branch.append(author(chain, next(slots), parent=branch[-1].hash if branch else genesis))
                assert await importer(chain, 10**9).import_block(branch[-1]) is not None
        assert chain.tree.best_hash == branches[0][-1].hash  # seen first
        changes: list[BestChange] = []
        chain.best_listeners.append(changes.append)
        chain.finalize(branches[1][-1].hash, b"justification")
        assert [(c.enacted, c.retracted) for c in changes] == [(tuple(branches[1]), tuple(reversed(branches[0])))]
    finally:
        chain.close()
