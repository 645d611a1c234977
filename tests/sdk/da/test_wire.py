"""The DA node API's byte formats: cell sets round-trip, and every malformed one is refused with a typed error."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from da_layer.kzg import BYTES_PER_CELL, BYTES_PER_PROOF, CELLS_PER_BLOB
from sdk.da.wire import (
    CELL_RECORD,
    MAX_CELL_SET,
    Cell,
    MalformedCells,
    decode_cell,
    decode_cells,
    encode_cell,
    encode_cells,
    parse_blob_id,
)


def cell(index: int) -> Cell:
    return Cell(index, bytes([index]) * BYTES_PER_CELL, bytes([255 - index]) * BYTES_PER_PROOF)


@given(st.sets(st.integers(0, CELLS_PER_BLOB - 1), max_size=CELLS_PER_BLOB))
def test_cell_sets_round_trip_in_any_order(indices):
    cells = [cell(i) for i in indices]
    encoded = encode_cells(reversed(cells))
    assert len(encoded) == 2 + len(cells) * CELL_RECORD <= MAX_CELL_SET
    assert decode_cells(encoded) == {c.index: c for c in cells}


def test_one_served_cell_round_trips():
    assert decode_cell(7, encode_cell(cell(7))) == cell(7)


@pytest.mark.parametrize("data", [
    b"",                                                                   # no count
    b"\x01",                                                               # half a count
    struct.pack("<H", 1),                                                  # a count without its cell
    struct.pack("<H", 1) + bytes(CELL_RECORD + 1),                         # a trailing byte
    struct.pack("<H", CELLS_PER_BLOB + 1) + bytes(CELL_RECORD * (CELLS_PER_BLOB + 1)),  # too many cells
    struct.pack("<HH", 1, CELLS_PER_BLOB) + bytes(CELL_RECORD - 2),        # an index past the blob
    struct.pack("<H", 2) + (struct.pack("<H", 3) + bytes(CELL_RECORD - 2)) * 2,  # the same index twice
    struct.pack("<H", 2) + struct.pack("<H", 4) + bytes(CELL_RECORD - 2)
    + struct.pack("<H", 3) + bytes(CELL_RECORD - 2),                       # indices falling
])
def test_malformed_cell_sets_are_refused(data):
    with pytest.raises(MalformedCells):
        decode_cells(data)


def test_encoding_refuses_what_it_could_not_decode():
    with pytest.raises(MalformedCells):
        encode_cells([cell(1), cell(1)])
    with pytest.raises(MalformedCells):
        encode_cells([Cell(0, b"short", bytes(BYTES_PER_PROOF))])
    with pytest.raises(MalformedCells):
        decode_cell(0, bytes(BYTES_PER_CELL))


@pytest.mark.parametrize("text", ["", "0x", "0x" + "ab" * 31, "0x" + "ab" * 33, "ab" * 32, "0x" + "zz" * 32,
                                  "0x" + "ab" * 31 + "/.", "0x" + "ab" * 32 + "\n"])
def test_blob_ids_are_0x_and_64_hex_digits(text):
    with pytest.raises(ValueError):
        parse_blob_id(text)


def test_blob_id_parses_either_case():
    assert parse_blob_id("0x" + "Ab" * 32) == bytes([0xAB]) * 32
