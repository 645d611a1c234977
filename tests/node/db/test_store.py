"""ChainStore: round trips, restarts, refusals, forks and pruning, corruption, concurrent readers."""

from __future__ import annotations

import dataclasses
import random
import threading
from pathlib import Path

import pytest
from rocksdict import DbClosedError, Options, Rdict

from node.db import (
    ChainStore,
    CorruptDatabase,
    FinalityConflict,
    InvalidImport,
    SchemaMismatch,
    UnknownBlock,
    WrongChain,
)
from node.db import layout as L
from runtime.executive import Block
from runtime.trie import TrieState

from .chain import build_child, dev_chain
from .integrity import check_database


@pytest.fixture
def genesis() -> tuple[Block, TrieState]:
    _, block, state = dev_chain()
    return block, state


def open_store(path: Path, genesis: tuple[Block, TrieState]) -> ChainStore:
    return ChainStore.open(path, *genesis)


def extend(store: ChainStore, parent: Block, count: int, *, slot: int, transfers: int = 1,
           make_best: bool = True) -> list[Block]:
    """Import ``count`` blocks in a row on ``parent``, in consecutive slots from ``slot``."""
    blocks = []
    state = store.state(parent.hash)
    for i in range(count):
        parent, state = build_child(parent, state, slot=slot + i, transfers=transfers)
        assert store.import_block(parent, state, make_best=make_best)
        blocks.append(parent)
    return blocks


def edit_raw(path: Path, family: str, key: bytes, value: bytes | None) -> None:
    """Change one stored value behind the store's back (the store must be closed)."""
    db = Rdict(str(path), Options(raw_mode=True),
               column_families={name: Options(raw_mode=True) for name in L.COLUMN_FAMILIES})
    column = db.get_column_family(family)
    if value is None:
        del column[key]
    else:
        column[key] = value
    column.close()
    db.close()


def test_fresh_store_holds_genesis(tmp_path, genesis):
    block, state = genesis
    with open_store(tmp_path, genesis) as store:
        assert store.genesis_hash == block.hash
        assert store.best == store.finalized == (0, block.hash)
        assert store.hash_of(0) == block.hash and store.hash_of(1) is None
        assert store.hashes_at(0) == [block.hash]
        assert store.block(block.hash) == block
        assert store.header(block.hash) == block.header
        assert store.state(block.hash).root == state.root
        assert store.children(block.hash) == [] and store.justification(block.hash) is None
    assert check_database(tmp_path, *genesis).blocks == 1


def test_import_round_trip(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        parent, parent_state = genesis[0], genesis[1]
        block, state = build_child(parent, parent_state, slot=1, transfers=3)
        assert store.import_block(block, state, justification=b"proof")
        assert not store.import_block(block, state), "a stored block imports as a no-op"
        assert store.best.hash == parent.hash, "importing alone does not move best"
        assert store.contains(block.hash) and store.block(block.hash) == block
        assert store.justification(block.hash) == b"proof"
        assert store.children(parent.hash) == [block.hash] and store.hashes_at(1) == [block.hash]
        assert store.hash_of(1) is None
        store.set_best(block.hash)
        assert store.best == (1, block.hash) and store.hash_of(1) == block.hash
        more = extend(store, block, 3, slot=2)
        assert store.best == (4, more[-1].hash)
        assert [store.hash_of(n) for n in range(5)] == [parent.hash, block.hash] + [b.hash for b in more]
        unknown = bytes(32)
        assert not store.contains(unknown)
        for read in (store.header, store.block, store.state, store.justification):
            with pytest.raises(UnknownBlock):
                read(unknown)


def test_restart_keeps_everything(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        blocks = extend(store, genesis[0], 5, slot=1, transfers=2)
        store.finalize(blocks[2].hash, b"votes")
        roots = {b.hash: store.state(b.hash).root for b in blocks}
    with open_store(tmp_path, genesis) as store:
        assert store.best == (5, blocks[-1].hash) and store.finalized == (3, blocks[2].hash)
        assert store.justification(blocks[2].hash) == b"votes"
        for block in blocks:
            assert store.block(block.hash) == block
            assert store.state(block.hash).root == roots[block.hash] == block.header.state_root
        more = extend(store, blocks[-1], 2, slot=6)  # and the chain goes on from the reopened state
        assert store.best.hash == more[-1].hash
    summary = check_database(tmp_path, *genesis)
    assert (summary.blocks, summary.best, summary.finalized) == (8, 7, 3)


def test_refuses_another_chain(tmp_path, genesis):
    open_store(tmp_path, genesis).close()
    _, local_genesis, local_state = dev_chain("local")
    with pytest.raises(WrongChain):
        ChainStore.open(tmp_path, local_genesis, local_state)
    open_store(tmp_path, genesis).close()  # the refusal left the database as it was


def test_refuses_another_schema_version(tmp_path, genesis):
    open_store(tmp_path, genesis).close()
    edit_raw(tmp_path, L.META, L.SCHEMA_VERSION_KEY, L.encode_u32(L.SCHEMA_VERSION + 1))
    with pytest.raises(SchemaMismatch, match="schema version 2"):
        open_store(tmp_path, genesis)


def test_refuses_a_foreign_database(tmp_path, genesis):
    db = Rdict(str(tmp_path), Options(raw_mode=True))
    db[b"key"] = b"value"
    db.close()
    with pytest.raises(SchemaMismatch):
        open_store(tmp_path, genesis)


def test_import_rejections(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        block, state = build_child(*genesis, slot=1)
        orphan, orphan_state = build_child(block, state, slot=2)
        with pytest.raises(InvalidImport, match="unknown parent"):
            store.import_block(orphan, orphan_state)
        with pytest.raises(InvalidImport, match="root"):
            store.import_block(block, genesis[1])
        renumbered = Block(dataclasses.replace(block.header, number=5), block.extrinsics)
        with pytest.raises(InvalidImport, match="number"):
            store.import_block(renumbered, state)
        store.import_block(block, state)
        store.finalize(block.hash)
        sibling, sibling_state = build_child(*genesis, slot=2)
        with pytest.raises(InvalidImport, match="finalized"):
            store.import_block(sibling, sibling_state)
        with pytest.raises(FinalityConflict):
            store.set_best(genesis[0].hash)
        assert not store.contains(sibling.hash)


def test_finalizing_one_fork_prunes_the_other(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        (common,) = extend(store, genesis[0], 1, slot=1)
        branch_a = extend(store, common, 3, slot=2, transfers=2)           # heights 2, 3, 4
        branch_b = extend(store, common, 4, slot=10, transfers=3)          # heights 2 .. 5, now best
        twig = extend(store, branch_a[0], 1, slot=20, make_best=False)     # a fork inside branch A
        assert store.best.hash == branch_b[-1].hash
        assert sorted(store.hashes_at(2)) == sorted([branch_a[0].hash, branch_b[0].hash])
        assert sorted(store.children(common.hash)) == sorted([branch_a[0].hash, branch_b[0].hash])
        b_states = {b.hash: store.state(b.hash) for b in branch_b}
    assert check_database(tmp_path, *genesis).blocks == 10

    with open_store(tmp_path, genesis) as store:
        store.finalize(branch_a[1].hash, b"justification")
        assert store.finalized == (3, branch_a[1].hash)
        assert store.best == store.finalized, "best was on the pruned branch: it falls back"
        assert [store.hash_of(n) for n in range(5)] == [genesis[0].hash, common.hash, branch_a[0].hash,
                                                        branch_a[1].hash, None]
        for gone in branch_b + twig:
            assert not store.contains(gone.hash)
            with pytest.raises(UnknownBlock):
                store.state(gone.hash)
        assert store.hashes_at(2) == [branch_a[0].hash] and store.children(common.hash) == [branch_a[0].hash]
        assert store.contains(branch_a[2].hash), "the finalized block's descendants stay"
        store.set_best(branch_a[2].hash)
        kept = [genesis[0], common] + branch_a
        kept_nodes = {h for b in kept for h, _ in store.state(b.hash).iter_nodes()}
    # B's own nodes are gone; everything kept still loads and hashes to its header's root
    only_b = {h for state in b_states.values() for h, _ in state.iter_nodes()} - kept_nodes
    assert only_b
    summary = check_database(tmp_path, *genesis)
    assert (summary.blocks, summary.best, summary.finalized) == (len(kept), 4, 3)
    assert summary.trie_nodes == len(kept_nodes)


def test_reorg_moves_the_canonical_index(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        branch_a = extend(store, genesis[0], 3, slot=1)
        branch_b = extend(store, genesis[0], 2, slot=10, make_best=False)
        assert store.hash_of(3) == branch_a[2].hash
        store.set_best(branch_b[1].hash)
        assert [store.hash_of(n) for n in (1, 2, 3)] == [branch_b[0].hash, branch_b[1].hash, None]
        store.set_best(branch_a[1].hash)
        assert [store.hash_of(n) for n in (1, 2, 3)] == [branch_a[0].hash, branch_a[1].hash, None]
    check_database(tmp_path, *genesis)


def test_finalizing_an_already_final_block_stores_its_justification(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        blocks = extend(store, genesis[0], 3, slot=1)
        store.finalize(blocks[2].hash)
        store.finalize(blocks[0].hash, b"late votes")
        assert store.finalized.hash == blocks[2].hash
        assert store.justification(blocks[0].hash) == b"late votes"


@pytest.mark.parametrize("which", ["root", "inner"])
def test_corrupted_trie_node_is_detected(tmp_path, genesis, which):
    with open_store(tmp_path, genesis) as store:
        blocks = extend(store, genesis[0], 2, slot=1, transfers=2)
        state = store.state(blocks[-1].hash)
        root = blocks[-1].header.state_root
        inner = sorted(h for h, _ in state.new_nodes() if h != root)[0]
        node_hash = root if which == "root" else inner
        encoding = dict(state.iter_nodes())[node_hash]
    flipped = bytearray(encoding)
    flipped[len(flipped) // 2] ^= 0x01
    edit_raw(tmp_path, L.TRIE_NODES, node_hash, bytes(flipped))
    with open_store(tmp_path, genesis) as store:
        with pytest.raises(CorruptDatabase, match=node_hash.hex()):
            store.state(blocks[-1].hash)
        assert store.state(genesis[0].hash).root == genesis[1].root, "other states are unaffected"


def test_missing_trie_node_and_damaged_headers_are_detected(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        (block,) = extend(store, genesis[0], 1, slot=1, make_best=False)
    edit_raw(tmp_path, L.TRIE_NODES, block.header.state_root, None)
    with open_store(tmp_path, genesis) as store:
        with pytest.raises(CorruptDatabase, match="trie node"):
            store.state(block.hash)
    header_bytes = bytearray(block.header.encode())
    header_bytes[-1] ^= 0x80
    edit_raw(tmp_path, L.HEADERS, block.hash, bytes(header_bytes))
    with open_store(tmp_path, genesis) as store:
        with pytest.raises(CorruptDatabase, match="header"):
            store.header(block.hash)
    edit_raw(tmp_path, L.META, L.BEST_KEY, block.hash)
    with pytest.raises(CorruptDatabase, match="header"):
        open_store(tmp_path, genesis)  # the best block's header is checked at open


def test_readers_run_beside_the_writer(tmp_path, genesis):
    """One writer imports forks and finalizes (pruning them) while reader threads read whatever they
    last saw: they may find a block pruned (UnknownBlock), never anything inconsistent."""
    store = open_store(tmp_path, genesis)
    seen: list[bytes] = [genesis[0].hash]
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        rng = random.Random()
        while not stop.is_set():
            block_hash = rng.choice(seen)
            try:
                block = store.block(block_hash)
                assert store.state(block_hash).root == block.header.state_root
                best = store.best
                assert store.header(best.hash).number == best.number
            except UnknownBlock:
                pass
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        tip = genesis[0]
        for round_ in range(6):
            slot = 10 * round_ + 1
            main = extend(store, tip, 2, slot=slot)
            fork = extend(store, tip, 2, slot=slot + 5, make_best=False)
            seen.extend(b.hash for b in main + fork)
            store.finalize(main[0].hash)
            tip = main[-1]
    finally:
        stop.set()
        for thread in readers:
            thread.join()
        store.close()
    assert not failures, failures
    assert check_database(tmp_path, *genesis).blocks == 13


def test_initialises_a_database_a_crash_left_empty(tmp_path, genesis):
    """Killed between creating the column families and writing genesis: the next open starts over;
    data without a schema version, though, is not ours to overwrite."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.create_missing_column_families(True)
    empty = Rdict(str(tmp_path), options,
                  column_families={name: Options(raw_mode=True) for name in L.COLUMN_FAMILIES})
    empty.close()
    with open_store(tmp_path, genesis) as store:
        assert store.best.hash == genesis[0].hash
    edit_raw(tmp_path, L.META, L.SCHEMA_VERSION_KEY, None)
    with pytest.raises(CorruptDatabase, match="no schema version"):
        open_store(tmp_path, genesis)


def test_close_is_final(tmp_path, genesis):
    store = open_store(tmp_path, genesis)
    store.close()
    store.close()
    with pytest.raises(DbClosedError):
        store.header(genesis[0].hash)
    open_store(tmp_path, genesis).close()  # the lock was released


def test_the_voter_state_survives_a_reopen(tmp_path, genesis):
    with open_store(tmp_path, genesis) as store:
        assert store.load_voter_state() is None
        store.save_voter_state(b"round 7")
        store.save_voter_state(b"round 8")
    with open_store(tmp_path, genesis) as store:
        assert store.load_voter_state() == b"round 8"
