"""The manifest: its byte layout and id, lengths that match the erasure coder's, and every inconsistent field
refused with ``ManifestError``."""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.hashing import DOMAIN_STORAGE_FILE_ID, blake2_256
from storage_node.chunks import fragment_root, segment_root
from storage_node.erasure import ErasureCoder
from storage_node.manifest import Manifest, ManifestError
from storage_node.params import MAX_CHUNK_SIZE, MAX_SEGMENT_SIZE

OWNER = bytes(range(32))
SALT = bytes(range(100, 116))


def manifest(size: int, segment_size: int = 1000, k: int = 3, m: int = 2, chunk_size: int = 64,
             encrypted: bool = True) -> Manifest:
    count = -(-size // segment_size)
    return Manifest(1, OWNER, SALT, size, segment_size, k, m, chunk_size, encrypted,
                    tuple(bytes([i % 256]) * 32 for i in range(count)))


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    segment_size = draw(st.integers(1, MAX_SEGMENT_SIZE))
    size = draw(st.integers(0, segment_size * 40))
    k = draw(st.integers(1, 254))
    roots = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=-(-size // segment_size),
                          max_size=-(-size // segment_size)))
    return Manifest(1, draw(st.binary(min_size=32, max_size=32)), draw(st.binary(min_size=16, max_size=16)),
                    size, segment_size, k, draw(st.integers(1, 255 - k)), draw(st.integers(1, MAX_CHUNK_SIZE)),
                    draw(st.booleans()), tuple(roots))


@given(manifests())
def test_codec_round_trips(m):
    assert Manifest.decode(m.encode()) == m


@given(manifests(), st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_the_content_digest_ignores_who_stored_the_file_and_its_salt(m, owner, salt):
    """Two uploads of the same bytes stored alike are two files with one content digest; any other field, or
    any root, makes another."""
    assert dataclasses.replace(m, owner=owner, salt=salt).content_digest() == m.content_digest()
    for changed in (dataclasses.replace(m, k=m.k + 1), dataclasses.replace(m, encrypted=not m.encrypted),
                    dataclasses.replace(m, size=m.size + 1, segment_roots=m.segment_roots + (bytes(32),))):
        assert changed.content_digest() != m.content_digest()
    if m.segment_roots:
        other = (bytes(b ^ 1 for b in m.segment_roots[0]),) + m.segment_roots[1:]
        assert dataclasses.replace(m, segment_roots=other).content_digest() != m.content_digest()
    assert m.content_digest() != m.file_id()


def test_layout_and_file_id():
    m = manifest(2500)
    encoded = m.encode()
    assert encoded == b"".join([
        b"\x01", OWNER, SALT, (2500).to_bytes(8, "little"), (1000).to_bytes(4, "little"), b"\x03\x02",
        (64).to_bytes(4, "little"), b"\x01", b"\x0c", bytes(32), b"\x01" * 32, b"\x02" * 32])
    assert m.file_id() == blake2_256(DOMAIN_STORAGE_FILE_ID + encoded)
    assert dataclasses.replace(m, salt=bytes(16)).file_id() != m.file_id()


def test_empty_file_has_no_segments():
    m = manifest(0)
    m.check()
    assert m.segment_count() == 0 and m.segment_roots == ()
    assert Manifest.decode(m.encode()) == m
    with pytest.raises(IndexError):
        m.segment_length(0)


def test_segment_lengths():
    m = manifest(2500, encrypted=True)
    assert [m.segment_length(i) for i in range(3)] == [1000, 1000, 500]
    assert [m.coded_length(i) for i in range(3)] == [1016, 1016, 516]
    assert [m.fragment_size(i) for i in range(3)] == [384, 384, 192]      # ceil(L / 3) up to 64 bytes
    assert [m.chunk_count(i) for i in range(3)] == [6, 6, 3]
    public = dataclasses.replace(m, encrypted=False)
    assert public.coded_length(2) == 500 and public.fragment_size(2) == 192
    assert manifest(1).segment_length(0) == 1
    with pytest.raises(IndexError):
        m.segment_length(3)


@pytest.mark.parametrize("k, m, size, encrypted", [
    (1, 1, 1, False), (1, 1, 1, True), (3, 2, 8 * 2**20, True), (4, 8, 777, False), (10, 4, 65, True)])
def test_fragment_size_is_the_coders_payload_length(k, m, size, encrypted):
    man = manifest(size, segment_size=size, k=k, m=m, encrypted=encrypted)
    fragments = ErasureCoder(k, m, "numpy").encode(os.urandom(man.coded_length(0)))
    assert {len(f.payload) for f in fragments} == {man.fragment_size(0)}
    roots = [fragment_root(f.payload, 4096) for f in fragments]       # a coder payload hashes as it is
    assert roots == [fragment_root(f.payload.tobytes(), 4096) for f in fragments]
    dataclasses.replace(man, segment_roots=(segment_root(roots),)).check()


def _with(**fields: object) -> Manifest:
    return dataclasses.replace(manifest(2500), **fields)


@pytest.mark.parametrize("fields", [
    {"version": 2},
    {"owner": b"short"},
    {"salt": b"short"},
    {"segment_size": 0},
    {"segment_size": MAX_SEGMENT_SIZE + 1, "size": MAX_SEGMENT_SIZE + 2},
    {"k": 0},
    {"m": 0},
    {"k": 200, "m": 56},
    {"chunk_size": 0},
    {"chunk_size": MAX_CHUNK_SIZE + 1},
    {"size": 2000},                                        # two segments, three roots
    {"size": 3001},                                        # four segments, three roots
    {"size": 0},
    {"size": 1 << 64},
    {"segment_roots": (bytes(32), bytes(32), b"short")},
], ids=str)
def test_inconsistent_fields_are_refused(fields):
    with pytest.raises(ManifestError):
        _with(**fields).check()


@pytest.mark.parametrize("field, value", [("version", 0), ("k", 0), ("m", 0), ("size", 3001), ("chunk_size", 0)])
def test_decode_checks(field, value):
    with pytest.raises(ManifestError):
        Manifest.decode(_with(**{field: value}).encode())


def test_truncated_and_extended_bytes_are_refused():
    encoded = manifest(2500).encode()
    for cut in range(len(encoded)):
        with pytest.raises(ManifestError):
            Manifest.decode(encoded[:cut])
    with pytest.raises(ManifestError):
        Manifest.decode(encoded + b"\x00")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_manifest_or_a_manifest_error(data):
    try:
        m = Manifest.decode(data)
    except ManifestError:
        return
    assert m.encode() == data
