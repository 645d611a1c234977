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
    check_cell_layout,
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


CELL = 2048
"""Bytes of one cell (64 field elements): cell ``c`` of the first half is ``blob[c * CELL : (c + 1) * CELL]``."""


def cells_of(blob: bytes) -> list[bytes]:
    return [blob[c * CELL:(c + 1) * CELL] for c in range(BYTES_PER_BLOB // CELL)]


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, USABLE_BYTES_PER_BLOB), seed=st.integers(0, 2**32))
def test_a_cell_passes_the_layout_check_iff_its_bytes_fit_the_recorded_length(length, seed):
    blob = pack(payload(length, seed))[0]
    for index, cell in enumerate(cells_of(blob)):
        check_cell_layout(index, cell, length)  # what pack laid out always fits
    recorded = random.Random(seed).randrange(length)  # a submitter paying for fewer bytes than it sent
    data = payload(length, seed)
    refused = {index for index, cell in enumerate(cells_of(blob)) if not fits(index, cell, recorded)}
    carrying = {position // (31 * 64) for position in range(recorded, length) if data[position]}
    assert refused == carrying  # exactly the cells holding a non-zero byte past the recorded length
    for index in range(64, 128):  # the extension's cells are not the blob's bytes: nothing to check
        check_cell_layout(index, bytes(range(256)) * (CELL // 256), 1)


def fits(index: int, cell: bytes, length: int) -> bool:
    try:
        check_cell_layout(index, cell, length)
    except BadPadding as exc:
        assert f"past the blob's {length} bytes" in str(exc)
        return False
    return True


def test_a_cell_with_a_non_zero_leading_byte_fails_the_layout_check():
    cell = bytearray(cells_of(pack(payload(5000))[0])[1])
    cell[32 * 3] = 1
    with pytest.raises(NonCanonicalBlob, match="field element 67"):
        check_cell_layout(1, bytes(cell), 5000)
