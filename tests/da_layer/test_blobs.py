"""The blob layout: every payload length round-trips, and unpack refuses what pack cannot produce."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from da_layer.blobs import (
    BYTES_PER_BLOB,
    USABLE_BYTES_PER_BLOB,
    BadPadding,
    BlobLengthMismatch,
    NonCanonicalBlob,
    blob_count,
    pack,
    piece_lengths,
    unpack,
)


def payload(length: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(length)


@settings(max_examples=60, deadline=None)
@given(length=st.one_of(st.integers(0, 200), st.integers(0, 3 * USABLE_BYTES_PER_BLOB + 5),
                        st.sampled_from([USABLE_BYTES_PER_BLOB - 1, USABLE_BYTES_PER_BLOB, USABLE_BYTES_PER_BLOB + 1,
                                         2 * USABLE_BYTES_PER_BLOB])),
       seed=st.integers(0, 2**32))
def test_every_length_round_trips(length, seed):
    data = payload(length, seed)
    blobs = pack(data)
    assert len(blobs) == blob_count(length) and all(len(b) == BYTES_PER_BLOB for b in blobs)
    assert sum(piece_lengths(length)) == length
    assert all(b[i] == 0 for b in blobs for i in range(0, BYTES_PER_BLOB, 32))
    assert unpack(blobs, length) == data


def test_empty_payload_is_no_blobs():
    assert pack(b"") == [] and unpack([], 0) == b"" and piece_lengths(0) == []


def test_a_mebibyte_spans_nine_blobs_the_last_partly_filled():
    data = payload(1 << 20)
    blobs = pack(data)
    assert len(blobs) == 9
    assert piece_lengths(1 << 20) == [USABLE_BYTES_PER_BLOB] * 8 + [(1 << 20) - 8 * USABLE_BYTES_PER_BLOB]
    assert unpack(blobs, 1 << 20) == data


def test_layout_puts_31_bytes_after_a_zero_byte():
    blob = pack(bytes(range(62)))[0]
    assert blob[:64] == b"\x00" + bytes(range(31)) + b"\x00" + bytes(range(31, 62))
    assert blob[64:] == bytes(BYTES_PER_BLOB - 64)


def test_non_zero_leading_byte_is_refused():
    blob = bytearray(pack(payload(1000))[0])
    blob[32 * 7] = 1
    with pytest.raises(NonCanonicalBlob, match="element 7"):
        unpack([bytes(blob)], 1000)


def test_non_zero_padding_is_refused():
    blobs = pack(payload(1000))
    blob = bytearray(blobs[0])
    blob[-1] = 9
    with pytest.raises(BadPadding):
        unpack([bytes(blob)], 1000)
    with pytest.raises(BadPadding):  # a shorter length leaves payload bytes in the padding
        unpack(blobs, 999)


def test_wrong_blob_count_or_size_is_refused():
    blobs = pack(payload(USABLE_BYTES_PER_BLOB + 1))
    with pytest.raises(BlobLengthMismatch):
        unpack(blobs[:1], USABLE_BYTES_PER_BLOB + 1)
    with pytest.raises(BlobLengthMismatch):
        unpack(blobs, USABLE_BYTES_PER_BLOB)
    with pytest.raises(BlobLengthMismatch):
        unpack([blobs[0], blobs[1][:-1]], USABLE_BYTES_PER_BLOB + 1)
    with pytest.raises(ValueError):
        blob_count(-1)
