"""The DA node HTTP API's byte formats, shared by the daemon that serves them and the clients that call it.

A cell set (the body of ``PUT /v1/blobs/{blob_id}/cells``, and a node's on-disk record of one blob)::

    u16 LE count ++ count x (u16 LE cell index ++ 2048-byte cell ++ 48-byte KZG proof)

with the indices strictly increasing and below 128, so one set has one encoding and a set's length says how
many cells it holds before anything is decoded. ``GET /v1/blobs/{blob_id}/cells`` answers the cells a node
holds as a cell set (``?indices=3,17,90``: only those of them), ``GET /v1/blobs/{blob_id}/cells/{index}``
one cell's ``2048-byte cell ++ 48-byte proof``. Blob ids travel in paths as ``0x`` + 64 lowercase or uppercase
hex digits; anything else is malformed. Errors are JSON ``{"error": "<Kind>", "message": "..."}`` with the
status of :data:`ERRORS`, so a client can tell "this node does not custody that cell" from "this node is
withholding" without parsing prose.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Mapping

from da_layer.kzg import BYTES_PER_CELL, BYTES_PER_PROOF, CELLS_PER_BLOB
from sdk.chain.keys import hash_id

__all__ = ["Cell", "CellSet", "MalformedCells", "CELL_RECORD", "CELL_RESPONSE", "MAX_CELL_SET",
           "encode_cells", "decode_cells", "encode_cell", "decode_cell", "parse_blob_id", "blob_id_hex",
           "ERRORS"]

CELL_RECORD = 2 + BYTES_PER_CELL + BYTES_PER_PROOF
"""Bytes one cell takes in a cell set: its index, the cell, its proof."""
CELL_RESPONSE = BYTES_PER_CELL + BYTES_PER_PROOF
"""Bytes of one served cell: the cell, its proof."""
MAX_CELL_SET = 2 + CELLS_PER_BLOB * CELL_RECORD
"""The largest cell set: every cell of a blob (a bound checked before a body is read)."""



class MalformedCells(ValueError):
    """Bytes that are not a cell set (or a served cell): wrong length, repeated or out-of-range indices."""


@dataclass(frozen=True)
class Cell:
    """One cell of an extended blob with the KZG proof that it is the commitment's cell ``index``."""

    index: int
    data: bytes
    """The 2048 cell bytes (64 field elements)."""
    proof: bytes
    """The 48-byte compressed G1 proof."""


CellSet = Mapping[int, Cell]
"""Cells of one blob by index."""


def encode_cells(cells: Iterable[Cell]) -> bytes:
    ordered = sorted(cells, key=lambda cell: cell.index)
    parts = [struct.pack("<H", len(ordered))]
    previous = -1
    for cell in ordered:
        _check_cell(cell)
        if cell.index == previous:
            raise MalformedCells(f"cell {cell.index} given twice")
        previous = cell.index
        parts += [struct.pack("<H", cell.index), cell.data, cell.proof]
    return b"".join(parts)


def decode_cells(data: bytes | memoryview) -> dict[int, Cell]:
    """The cells of a cell set, by index; raises :class:`MalformedCells`."""
    view = memoryview(data)
    if len(view) < 2:
        raise MalformedCells("a cell set starts with a 2-byte count")
    (count,) = struct.unpack_from("<H", view)
    if count > CELLS_PER_BLOB:
        raise MalformedCells(f"{count} cells: a blob has {CELLS_PER_BLOB}")
    if len(view) != 2 + count * CELL_RECORD:
        raise MalformedCells(f"{len(view)} bytes for {count} cells (expected {2 + count * CELL_RECORD})")
    cells: dict[int, Cell] = {}
    previous = -1
    for offset in range(2, len(view), CELL_RECORD):
        (index,) = struct.unpack_from("<H", view, offset)
        if index >= CELLS_PER_BLOB or index <= previous:
            raise MalformedCells(f"cell index {index} after {previous}: indices rise strictly and stay below "
                                 f"{CELLS_PER_BLOB}")
        previous = index
        start = offset + 2
        cells[index] = Cell(index, bytes(view[start:start + BYTES_PER_CELL]),
                            bytes(view[start + BYTES_PER_CELL:offset + CELL_RECORD]))
    return cells


def encode_cell(cell: Cell) -> bytes:
    _check_cell(cell)
    return cell.data + cell.proof


def decode_cell(index: int, data: bytes) -> Cell:
    """The served cell ``index`` (unverified: check it against the commitment); raises :class:`MalformedCells`."""
    if len(data) != CELL_RESPONSE:
        raise MalformedCells(f"a served cell is {CELL_RESPONSE} bytes, got {len(data)}")
    return Cell(index, data[:BYTES_PER_CELL], data[BYTES_PER_CELL:])


def _check_cell(cell: Cell) -> None:
    if not 0 <= cell.index < CELLS_PER_BLOB or len(cell.data) != BYTES_PER_CELL or len(cell.proof) != BYTES_PER_PROOF:
        raise MalformedCells(f"cell {cell.index}: {len(cell.data)} data and {len(cell.proof)} proof bytes")


def parse_blob_id(text: str) -> bytes:
    """A blob id from ``0x`` + 64 hex digits (as a path names it); :class:`~sdk.chain.errors.BadArgument` (a
    ``ValueError``) for anything else."""
    return hash_id(text, "blob id")


def blob_id_hex(blob_id: bytes) -> str:
    return "0x" + blob_id.hex()


ERRORS: dict[str, int] = {
    "Malformed": 400,         # a path, query or body that is not what the API takes
    "NotFound": 404,          # no such path
    "UnknownBlob": 404,       # the chain (or this node) knows no such blob
    "NotCustodied": 404,      # this node does not hold that cell
    "MethodNotAllowed": 405,
    "NotAssigned": 409,       # this node is not in the blob's node set, or the cells are not its custody
    "IncompleteCustody": 409,  # some of this node's custody cells are missing from the upload: nothing signed
    "BlobNotPending": 409,    # the blob is no longer waiting for attestations
    "TooLarge": 413,
    "InvalidProof": 422,      # a cell does not verify against the on-chain commitment: nothing signed
    "BadLayout": 422,         # a cell carries bytes past the blob's recorded (paid) length: nothing signed
    "StoreFailed": 507,       # the node's disk refused the write (full): nothing stored, nothing signed
    "Withholding": 503,       # the node was told to stop serving (fault injection)
    "ChainUnavailable": 503,  # the node cannot read the chain right now
}
"""Every error kind the DA node API answers, with its HTTP status."""
