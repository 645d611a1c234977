"""Node messages: strict codecs and serving blocks for sync."""

from __future__ import annotations

import pytest

from node.blocktree import BlockTree
from node.protocol import (
    MAX_HASHES_PER_REQUEST,
    BlockRequest,
    BlocksByHashRequest,
    Status,
    decode_blocks_response,
    serve_blocks,
    serve_blocks_by_hash,
)
from runtime.executive import Block
from runtime.scale import ScaleDecodeError
from tests.node.test_chain import SPEC, _build


def test_status_and_request_round_trip_and_reject_garbage():
    status = Status(b"g" * 32, b"b" * 32, 7, b"f" * 32, 5)
    assert Status.decode(status.encode()) == status
    assert BlockRequest.decode(BlockRequest(3, 64).encode()) == BlockRequest(3, 64)
    for garbage in (b"", status.encode()[:-1], status.encode() + b"\x00"):
        with pytest.raises(ScaleDecodeError):
            Status.decode(garbage)
    with pytest.raises(ScaleDecodeError):
        BlockRequest.decode(BlockRequest(3, 0).encode())


def test_serve_blocks_returns_the_best_chain_with_justifications():
    runtime, genesis, state = SPEC.build()
    tree = BlockTree(genesis, state)
    parent = tree.best_hash
    for slot in range(10, 15):
        authored = _build(runtime, tree, parent, slot)
        tree.insert(authored.block, authored.state, slot)
        parent = authored.block.hash
    tree.finalize(tree.hash_at(2), b"proof-of-2")
    blocks = decode_blocks_response(serve_blocks(tree, BlockRequest(1, 3)))
    assert [Block.decode(b).header.number for b, _ in blocks] == [1, 2, 3]
    assert [j for _, j in blocks] == [None, b"proof-of-2", None]
    assert decode_blocks_response(serve_blocks(tree, BlockRequest(6, 10))) == []
    assert len(decode_blocks_response(serve_blocks(tree, BlockRequest(0, 10**6)))) == 6
    absurd = {(2**32 - 1, 2**32 - 1): [], (4, 2**32 - 1): [4, 5], (2, 2): [2, 3], (5, 1): [5], (3, 1): [3]}
    for (first, count), numbers in absurd.items():  # bounded answers across the finalized/unfinalized line
        answer = decode_blocks_response(serve_blocks(tree, BlockRequest(first, count)))
        assert [Block.decode(b).header.number for b, _ in answer] == numbers


def test_a_request_by_hash_names_one_to_sixteen_blocks():
    request = BlocksByHashRequest((b"a" * 32, b"b" * 32))
    assert BlocksByHashRequest.decode(request.encode()) == request
    too_many = BlocksByHashRequest((b"c" * 32,) * (MAX_HASHES_PER_REQUEST + 1)).encode()
    for garbage in (b"", b"\x00", request.encode()[:-1], request.encode() + b"\x00", too_many):
        with pytest.raises(ScaleDecodeError):
            BlocksByHashRequest.decode(garbage)


def test_serve_blocks_by_hash_answers_fork_blocks_in_the_requests_order_and_skips_unknown_ones():
    runtime, genesis, state = SPEC.build()
    tree = BlockTree(genesis, state)
    best = [tree.best_hash]
    for slot in range(10, 13):
        authored = _build(runtime, tree, best[-1], slot)
        tree.insert(authored.block, authored.state, slot)
        best.append(authored.block.hash)
    fork = _build(runtime, tree, best[1], 20)  # a sibling of #2: never served by range (not on the best chain)
    tree.insert(fork.block, fork.state, 20)
    assert tree.best_hash == best[-1]
    tree.finalize(best[1], b"proof-of-1")
    assert fork.block.hash not in {Block.decode(b).hash for b, _ in decode_blocks_response(
        serve_blocks(tree, BlockRequest(0, 10)))}

    request = BlocksByHashRequest((fork.block.hash, b"\x07" * 32, best[1], fork.block.hash))
    answer = decode_blocks_response(serve_blocks_by_hash(tree, request))
    assert [Block.decode(b).hash for b, _ in answer] == [fork.block.hash, best[1]]  # each once, unknown left out
    assert [j for _, j in answer] == [None, b"proof-of-1"]
    assert decode_blocks_response(serve_blocks_by_hash(tree, BlocksByHashRequest((b"\x07" * 32,)))) == []


def test_transaction_batches_are_bounded():
    from node.protocol import MAX_TX_GOSSIP_BATCH, decode_transactions, encode_transactions

    assert decode_transactions(encode_transactions([b"a", b"bc"])) == [b"a", b"bc"]
    with pytest.raises(ScaleDecodeError):
        decode_transactions(encode_transactions([b""] * (MAX_TX_GOSSIP_BATCH + 1)))
    with pytest.raises(ScaleDecodeError):
        decode_transactions(b"\x08\x04a")  # declares two, carries one
