"""The fragment wire format: byte layout, checksums, and every way a fragment can be broken."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_node.erasure import (
    CorruptedFragmentError,
    ErasureCoder,
    FragmentError,
    FragmentFormatError,
    FragmentHeader,
    FragmentLengthError,
    InvalidParametersError,
    NotEnoughFragmentsError,
    TruncatedFragmentError,
    parse_fragment,
    seal,
    serialize,
)
from storage_node.erasure.fragment import DOMAIN_FRAGMENT, DOMAIN_PAYLOAD, DOMAIN_SEGMENT, HEADER_SIZE

CODER = ErasureCoder(3, 2, "isal")
DATA = bytes(range(256)) * 3 + b"tail"          # 772 bytes: 3 shards of 320 (padded)
BLOBS = serialize(CODER.encode(DATA, segment_index=5, final=False))


def test_header_layout_byte_by_byte():
    blob = BLOBS[4]
    assert len(blob) == HEADER_SIZE + 320
    assert blob[0:4] == b"CRNF"
    assert blob[4:9] == bytes([1, 3, 2, 4, 0])                  # version, k, m, index, flags (not final)
    assert blob[9:16] == bytes(7)
    assert struct.unpack_from("<QQ", blob, 16) == (5, len(DATA))
    digests = [hashlib.blake2b(DOMAIN_PAYLOAD + b[HEADER_SIZE:], digest_size=32).digest() for b in BLOBS]
    expected_id = hashlib.blake2b(DOMAIN_SEGMENT + struct.pack("<BBBBQQ", 1, 3, 2, 0, 5, len(DATA))
                                  + b"".join(digests), digest_size=32).digest()
    assert blob[32:64] == expected_id
    assert blob[64:96] == hashlib.blake2b(DOMAIN_FRAGMENT + blob[:64] + digests[4], digest_size=32).digest()


def test_final_flag():
    assert serialize(CODER.encode(DATA))[0][8] == 1


def test_parse_round_trip_and_payload_is_a_view():
    buffer = bytearray(BLOBS[1])
    fragment = parse_fragment(buffer)
    assert (fragment.index, fragment.segment.segment_index, fragment.segment.final) == (1, 5, False)
    assert fragment.payload.tobytes() == bytes(buffer[HEADER_SIZE:])
    assert np.shares_memory(fragment.payload, np.frombuffer(buffer, dtype=np.uint8))
    assert fragment.to_bytes() == BLOBS[1]


def test_repaired_fragments_serialise_identically():
    parsed = {index: parse_fragment(blob) for index, blob in enumerate(BLOBS) if index not in (0, 3)}
    rebuilt = CODER.reconstruct(parsed, wanted=[0, 3])
    assert rebuilt[0].to_bytes() == BLOBS[0]
    assert rebuilt[3].to_bytes() == BLOBS[3]


def test_fresh_fragment_has_no_header_of_its_own():
    with pytest.raises(InvalidParametersError):
        CODER.encode(DATA)[0].header()
    with pytest.raises(InvalidParametersError):
        seal(CODER.encode(DATA)[:4])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(BLOBS))), st.data())
def test_any_single_byte_change_is_detected(index, data):
    blob = bytearray(BLOBS[index])
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(FragmentError):
        parse_fragment(blob)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(BLOBS[0]) - 1))
def test_truncation_is_detected(length):
    with pytest.raises(TruncatedFragmentError):
        parse_fragment(BLOBS[0][:length])


def test_trailing_bytes_are_refused():
    with pytest.raises(FragmentLengthError):
        parse_fragment(BLOBS[0] + b"\0")


@pytest.mark.parametrize("position, value, error", [
    (0, ord("X"), FragmentFormatError),         # magic
    (4, 2, FragmentFormatError),                # version
    (5, 0, FragmentFormatError),                # k = 0
    (7, 5, FragmentFormatError),                # index beyond k + m
    (8, 2, FragmentFormatError),                # unknown flag
    (12, 1, FragmentFormatError),               # reserved byte
    (40, 0xFF, CorruptedFragmentError),         # segment id
    (HEADER_SIZE + 7, 0xFF, CorruptedFragmentError),
])
def test_each_header_problem_has_its_error(position, value, error):
    blob = bytearray(BLOBS[2])
    blob[position] = value
    with pytest.raises(error):
        parse_fragment(blob)


def test_header_unpack_needs_whole_header():
    with pytest.raises(TruncatedFragmentError):
        FragmentHeader.unpack(BLOBS[0][: HEADER_SIZE - 1])


def test_corrupted_fragments_are_treated_as_missing():
    corrupted = [bytearray(blob) for blob in BLOBS]
    corrupted[0][HEADER_SIZE] ^= 1
    corrupted[3][20] ^= 1
    given_ = dict(enumerate(corrupted))
    assert CODER.decode(given_).tobytes() == DATA
    given_[4] = corrupted[4][:50]
    with pytest.raises(NotEnoughFragmentsError) as raised:
        CODER.decode(given_)
    assert {index: type(error) for index, error in raised.value.rejected.items()} == {
        0: CorruptedFragmentError, 3: CorruptedFragmentError, 4: TruncatedFragmentError}
