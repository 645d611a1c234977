"""Chunk trees, fragment-set trees and audit proofs: the exact hash layout, every (k + m) up to 20, and a
proof verifies iff it shows the committed chunk."""

from __future__ import annotations

import os

import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.hashing import DOMAIN_STORAGE_CHUNK, DOMAIN_STORAGE_FRAGMENT_SET, DOMAIN_STORAGE_NODE
from storage_node.chunks import (
    ChunkHasher,
    ChunkProof,
    ProofFormatError,
    chunk_count,
    fragment_root,
    fragment_tree,
    segment_path,
    segment_root,
    verify_chunk_proof,
)
from storage_node.params import MAX_CHUNK_SIZE


def leaf(chunk: bytes) -> bytes:
    return blake3(DOMAIN_STORAGE_CHUNK + chunk).digest()


def node(left: bytes, right: bytes) -> bytes:
    return blake3(DOMAIN_STORAGE_NODE + left + right).digest()


def set_leaf(root: bytes) -> bytes:
    return blake3(DOMAIN_STORAGE_FRAGMENT_SET + root).digest()


def make_proof(fragment: bytes, chunk_size: int, roots: list[bytes], fragment_index: int,
               chunk_index: int) -> ChunkProof:
    tree = fragment_tree(fragment, chunk_size)
    return ChunkProof(chunk_index, fragment[chunk_index * chunk_size:(chunk_index + 1) * chunk_size],
                      tree.path(chunk_index), tree.root, segment_path(roots, fragment_index))


class Segment:
    """A segment of ``n`` random fragments, the one at ``target`` with ``size`` bytes."""

    def __init__(self, n: int, target: int, size: int, chunk_size: int) -> None:
        self.fragment = os.urandom(size)
        self.chunk_size = chunk_size
        self.roots = [os.urandom(32) for _ in range(n)]
        self.roots[target] = fragment_root(self.fragment, chunk_size)
        self.root = segment_root(self.roots)
        self.target = target
        self.chunks = chunk_count(size, chunk_size)

    def proof(self, chunk_index: int) -> ChunkProof:
        return make_proof(self.fragment, self.chunk_size, self.roots, self.target, chunk_index)

    def verify(self, proof: object, **override: int) -> bool:
        args = {"fragment_index": self.target, "fragment_count": len(self.roots), "chunk_count": self.chunks}
        args.update(override)
        return verify_chunk_proof(proof, segment_root=self.root, **args)  # type: ignore[arg-type]


# --- the tree layout, byte by byte -------------------------------------------------------------------


def test_fragment_root_layout_with_a_short_last_chunk_carried_up():
    fragment = bytes(range(250)) * 10  # 2500 bytes, chunk 1000: chunks of 1000, 1000, 500
    chunks = [fragment[:1000], fragment[1000:2000], fragment[2000:]]
    expected = node(node(leaf(chunks[0]), leaf(chunks[1])), leaf(chunks[2]))
    assert fragment_root(fragment, 1000) == expected
    tree = fragment_tree(fragment, 1000)
    assert tree.root == expected and tree.chunk_count == 3
    assert tree.path(0) == (leaf(chunks[1]), leaf(chunks[2]))
    assert tree.path(2) == (node(leaf(chunks[0]), leaf(chunks[1])),)  # carried level: no sibling


def test_single_chunk_root_is_its_leaf_and_memoryview_equals_bytes():
    assert fragment_root(b"abc", 4096) == leaf(b"abc")
    data = os.urandom(10_000)
    assert fragment_root(memoryview(data), 512) == fragment_root(data, 512) == fragment_root(bytearray(data), 512)


def test_segment_root_layout():
    roots = [bytes([i]) * 32 for i in range(3)]
    leaves = [set_leaf(r) for r in roots]
    assert segment_root(roots) == node(node(leaves[0], leaves[1]), leaves[2])
    assert segment_root(roots[:1]) == leaves[0]
    assert segment_path(roots, 1) == (leaves[0], leaves[2])


@pytest.mark.parametrize("bad_size", [0, -1, MAX_CHUNK_SIZE + 1, True])
def test_bad_chunk_size_is_refused(bad_size):
    with pytest.raises(ValueError):
        fragment_root(b"x" * 100, bad_size)


def test_empty_fragment_and_bad_fragment_sets_are_refused():
    with pytest.raises(ValueError):
        fragment_root(b"", 64)
    with pytest.raises(ValueError):
        segment_root([])
    with pytest.raises(ValueError):
        segment_root([b"short"])
    with pytest.raises(ValueError):
        segment_root([bytes(32)] * 256)
    with pytest.raises(IndexError):
        segment_path([bytes(32)] * 3, 3)
    with pytest.raises(IndexError):
        fragment_tree(b"x" * 100, 10).path(10)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 5000), chunk_size=st.integers(1, 700), cuts=st.lists(st.integers(0, 5000), max_size=8))
def test_a_fragment_fed_in_any_pieces_has_the_root_of_the_whole(size, chunk_size, cuts):
    fragment = os.urandom(size)
    hasher = ChunkHasher(chunk_size)
    edges = sorted({0, size, *(cut for cut in cuts if cut <= size)})
    for start, end in zip(edges, edges[1:]):
        hasher.update(memoryview(fragment)[start:end] if start % 2 else fragment[start:end])
    assert hasher.root() == fragment_root(fragment, chunk_size)


def test_the_chunk_hasher_refuses_a_bad_chunk_size_and_an_empty_fragment():
    with pytest.raises(ValueError):
        ChunkHasher(0)
    with pytest.raises(ValueError):
        ChunkHasher(64).root()


# --- paths and proofs --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 21))
def test_every_fragment_of_every_set_size_up_to_20_proves(n):
    for index in range(n):
        segment = Segment(n, index, 700, 64)
        assert len(segment_path(segment.roots, index)) <= (n - 1).bit_length()
        for chunk_index in (0, segment.chunks - 1):
            proof = segment.proof(chunk_index)
            assert segment.verify(proof)
            for other in {index - 1, index + 1} & set(range(n)):   # the path is not another fragment's
                assert not segment.verify(proof, fragment_index=other)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 3000), chunk_size=st.integers(1, 700), data=st.data())
def test_every_chunk_of_any_fragment_proves(size, chunk_size, data):
    segment = Segment(5, 3, size, chunk_size)
    chunk_index = data.draw(st.integers(0, segment.chunks - 1))
    assert fragment_tree(segment.fragment, chunk_size).chunk_count == segment.chunks
    assert segment.verify(segment.proof(chunk_index))


SEGMENT = Segment(5, 2, 9 * 1024 + 100, 1024)   # 10 chunks, the last one short


def _flip(value: bytes, position: int, bit: int) -> bytes:
    position %= len(value)
    return value[:position] + bytes([value[position] ^ (1 << bit)]) + value[position + 1:]


@settings(max_examples=300, deadline=None)
@given(chunk_index=st.integers(0, SEGMENT.chunks - 1), field=st.sampled_from(
    ["chunk", "chunk_path", "fragment_root", "fragment_path", "chunk_index", "segment_root", "fragment_index"]),
    position=st.integers(0, 1 << 16), bit=st.integers(0, 7), data=st.data())
def test_a_proof_verifies_iff_the_chunk_is_the_committed_one(chunk_index, field, position, bit, data):
    proof = SEGMENT.proof(chunk_index)
    assert SEGMENT.verify(proof)
    if field == "chunk":
        bad = ChunkProof(proof.chunk_index, _flip(proof.chunk, position, bit), proof.chunk_path,
                         proof.fragment_root, proof.fragment_path)
        assert not SEGMENT.verify(bad)
    elif field in ("chunk_path", "fragment_path"):
        path = getattr(proof, field)
        which = data.draw(st.integers(0, len(path) - 1))
        tampered = path[:which] + (_flip(path[which], position, bit),) + path[which + 1:]
        assert not SEGMENT.verify(ChunkProof(**{**proof.__dict__, field: tampered}))
    elif field == "fragment_root":
        assert not SEGMENT.verify(ChunkProof(**{**proof.__dict__, "fragment_root": _flip(proof.fragment_root,
                                                                                           position, bit)}))
    elif field == "chunk_index":
        other = data.draw(st.integers(0, SEGMENT.chunks - 1).filter(lambda i: i != chunk_index))
        assert not SEGMENT.verify(ChunkProof(**{**proof.__dict__, "chunk_index": other}))
    elif field == "segment_root":
        assert not verify_chunk_proof(proof, segment_root=_flip(SEGMENT.root, position, bit), fragment_index=2,
                                      fragment_count=5, chunk_count=SEGMENT.chunks)
    else:
        other = data.draw(st.integers(0, 4).filter(lambda i: i != 2))
        assert not SEGMENT.verify(proof, fragment_index=other)


def test_wrong_shapes_and_ranges_are_false_not_errors():
    proof = SEGMENT.proof(4)
    fields = proof.__dict__
    hostile = [
        ChunkProof(**{**fields, "chunk_path": proof.chunk_path + (bytes(32),)}),      # one hash too many
        ChunkProof(**{**fields, "chunk_path": proof.chunk_path[:-1]}),                # one too few
        ChunkProof(**{**fields, "fragment_path": proof.fragment_path + (bytes(32),)}),
        ChunkProof(**{**fields, "chunk_path": (b"short",) + proof.chunk_path[1:]}),
        ChunkProof(**{**fields, "fragment_root": b"short"}),
        ChunkProof(**{**fields, "chunk_index": SEGMENT.chunks}),
        ChunkProof(**{**fields, "chunk_index": -1}),
        ChunkProof(**{**fields, "chunk_index": True}),
        ChunkProof(**{**fields, "chunk": b"x" * (MAX_CHUNK_SIZE + 1)}),
        ChunkProof(**{**fields, "chunk": "text"}),                                    # type: ignore[arg-type]
        ChunkProof(**{**fields, "chunk_path": list(proof.chunk_path)}),               # type: ignore[arg-type]
        proof.encode(),
        None,
    ]
    for bad in hostile:
        assert SEGMENT.verify(bad) is False
    for override in ({"fragment_index": 5}, {"fragment_index": -1}, {"fragment_count": 0},
                     {"fragment_count": 256}, {"chunk_count": 0}, {"chunk_count": 4}, {"chunk_count": 5},
                     {"chunk_count": 1 << 33}, {"fragment_count": 5.0}):
        assert SEGMENT.verify(proof, **override) is False
    assert verify_chunk_proof(proof, segment_root=b"short", fragment_index=2, fragment_count=5,
                              chunk_count=SEGMENT.chunks) is False


# --- the SCALE codec ---------------------------------------------------------------------------------

hashes = st.binary(min_size=32, max_size=32)
proofs = st.builds(ChunkProof, st.integers(0, (1 << 32) - 1), st.binary(max_size=2000),
                   st.lists(hashes, max_size=32).map(tuple), hashes, st.lists(hashes, max_size=8).map(tuple))


@given(proofs)
def test_proof_codec_round_trips(proof):
    assert ChunkProof.decode(proof.encode()) == proof


def test_proof_layout():
    proof = ChunkProof(7, b"ab", (b"\x01" * 32,), b"\x02" * 32, ())
    assert proof.encode() == (7).to_bytes(4, "little") + b"\x08ab" + b"\x04" + b"\x01" * 32 + b"\x02" * 32 + b"\x00"


@given(proofs, st.data())
def test_truncated_or_extended_proofs_are_refused(proof, data):
    encoded = proof.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ProofFormatError):
        ChunkProof.decode(encoded[:cut])
    with pytest.raises(ProofFormatError):
        ChunkProof.decode(encoded + b"\x00")


def test_proofs_beyond_the_bounds_are_refused():
    with pytest.raises(ProofFormatError):
        ChunkProof.decode(ChunkProof(0, b"x" * (MAX_CHUNK_SIZE + 1), (), bytes(32), ()).encode())
    with pytest.raises(ProofFormatError):
        ChunkProof.decode(ChunkProof(0, b"x", (bytes(32),) * 33, bytes(32), ()).encode())
    with pytest.raises(ProofFormatError):
        ChunkProof.decode(ChunkProof(0, b"x", (), bytes(32), (bytes(32),) * 33).encode())


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_to_a_proof_or_a_proof_format_error(data):
    try:
        proof = ChunkProof.decode(data)
    except ProofFormatError:
        return
    assert proof.encode() == data
