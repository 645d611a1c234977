"""Arbitrary bytes in EIP-4844 blobs and back (layout version 1).

A blob is 4096 field elements of BLS12-381's scalar field, each 32 bytes big-endian: 131072 bytes. A field
element must be below the field modulus (~2^254.9), so not every 32 bytes are one; the layout keeps the
first byte of every element zero, which makes every element canonical whatever the payload, and carries
31 payload bytes in the other 31:

=========  ====  ================================================================================
offset     size  content (element ``e`` of the blob, ``0 <= e < 4096``)
=========  ====  ================================================================================
32·e       1     ``0x00``
32·e + 1   31    payload bytes ``31·e .. 31·e + 30`` of the blob's piece
=========  ====  ================================================================================

A payload of ``L`` bytes is cut into pieces of :data:`USABLE_BYTES_PER_BLOB` (126976) bytes, the last one
shorter; piece ``i`` fills blob ``i`` and the bytes after its end are zero (padding). The length is not
in the blob: the chain records each blob's piece length when it is submitted, and :func:`unpack` takes the
payload's total length. An empty payload is zero blobs. So a 1 MiB payload spans 9 blobs, the last one
holding 32 768 bytes.

:func:`unpack` refuses anything :func:`pack` cannot have produced (a non-zero first byte, non-zero
padding, a wrong count or size of blobs), with a typed error: a blob reconstructed from cells is therefore
either the exact payload or an error, never garbage that happened to decode.

The chain's fee is per recorded payload byte, so the bytes past a blob's recorded length must be zero: else
a submitter could record one byte and store a whole blob. The first half of a blob's cells are the blob
itself, so a DA node holding one of them checks its part of the layout (:func:`check_cell_layout`) before it
attests, and refuses a blob whose cells carry more than was paid for. Only those custodians can tell: the
check bounds what a submitter can store unpaid (the cells whose custodians hold under a third of the stake)
rather than ending it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "FIELD_ELEMENTS_PER_BLOB",
    "BYTES_PER_FIELD_ELEMENT",
    "BYTES_PER_BLOB",
    "USABLE_BYTES_PER_ELEMENT",
    "USABLE_BYTES_PER_BLOB",
    "MalformedBlobs",
    "BlobLengthMismatch",
    "NonCanonicalBlob",
    "BadPadding",
    "blob_count",
    "piece_lengths",
    "pack",
    "unpack",
    "check_cell_layout",
]

FIELD_ELEMENTS_PER_BLOB = 4096
BYTES_PER_FIELD_ELEMENT = 32
BYTES_PER_BLOB = FIELD_ELEMENTS_PER_BLOB * BYTES_PER_FIELD_ELEMENT
USABLE_BYTES_PER_ELEMENT = 31
"""Payload bytes per element: all but the leading zero byte."""
USABLE_BYTES_PER_BLOB = FIELD_ELEMENTS_PER_BLOB * USABLE_BYTES_PER_ELEMENT


class MalformedBlobs(ValueError):
    """Blobs that :func:`pack` cannot have produced for the given length."""


class BlobLengthMismatch(MalformedBlobs):
    """The number of blobs, or a blob's size, does not fit the payload length."""


class NonCanonicalBlob(MalformedBlobs):
    """A field element's first byte is not zero (layout version 1 keeps it zero)."""


class BadPadding(MalformedBlobs):
    """A byte past the end of the payload is not zero."""


def blob_count(length: int) -> int:
    """How many blobs a payload of ``length`` bytes takes (0 for an empty payload)."""
    if length < 0:
        raise ValueError(f"a payload length is not negative: {length}")
    return -(-length // USABLE_BYTES_PER_BLOB)


def piece_lengths(length: int) -> list[int]:
    """The payload bytes in each blob of a ``length``-byte payload: the per-blob ``length`` the chain records."""
    count = blob_count(length)
    return [min(USABLE_BYTES_PER_BLOB, length - i * USABLE_BYTES_PER_BLOB) for i in range(count)]


def pack(data: bytes | bytearray | memoryview) -> list[bytes]:
    """``data`` laid out in blobs of :data:`BYTES_PER_BLOB` bytes (see the module docstring)."""
    payload = np.frombuffer(data, dtype=np.uint8)
    count = blob_count(len(payload))
    elements = np.zeros((count * FIELD_ELEMENTS_PER_BLOB, BYTES_PER_FIELD_ELEMENT), dtype=np.uint8)
    usable = elements[:, 1:].reshape(-1)  # (a copy: the slice is not contiguous)
    usable[: len(payload)] = payload
    elements[:, 1:] = usable.reshape(-1, USABLE_BYTES_PER_ELEMENT)
    flat = elements.tobytes()
    return [flat[i * BYTES_PER_BLOB : (i + 1) * BYTES_PER_BLOB] for i in range(count)]


def unpack(blobs: Sequence[bytes | bytearray | memoryview], length: int) -> bytes:
    """The ``length``-byte payload that :func:`pack` laid out in ``blobs``; raises :class:`BlobLengthMismatch`,
    :class:`NonCanonicalBlob` or :class:`BadPadding` for blobs it cannot have produced."""
    if len(blobs) != blob_count(length):
        raise BlobLengthMismatch(f"a {length}-byte payload takes {blob_count(length)} blobs, not {len(blobs)}")
    for index, blob in enumerate(blobs):
        if len(blob) != BYTES_PER_BLOB:
            raise BlobLengthMismatch(f"blob {index} is {len(blob)} bytes, not {BYTES_PER_BLOB}")
    if not blobs:
        return b""
    elements = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(-1, BYTES_PER_FIELD_ELEMENT)
    leading = np.flatnonzero(elements[:, 0])
    if len(leading):
        blob, element = divmod(int(leading[0]), FIELD_ELEMENTS_PER_BLOB)
        raise NonCanonicalBlob(f"blob {blob}, field element {element}: first byte is not zero")
    usable = elements[:, 1:].reshape(-1)
    padding = np.flatnonzero(usable[length:])
    if len(padding):
        blob, offset = divmod(length + int(padding[0]), USABLE_BYTES_PER_BLOB)
        raise BadPadding(f"blob {blob}: payload byte {offset} is past the end of the payload but not zero")
    return usable[:length].tobytes()


def check_cell_layout(index: int, cell: bytes | bytearray | memoryview, length: int) -> None:
    """Raise :class:`NonCanonicalBlob` or :class:`BadPadding` if cell ``index`` of a blob holding ``length``
    payload bytes is not what :func:`pack` lays out there. A cell of the first half is ``len(cell) // 32``
    consecutive field elements of the blob, the first half's cells in order; the second half's cells are the
    extension, which the layout does not constrain, so they always pass."""
    elements = np.frombuffer(cell, dtype=np.uint8).reshape(-1, BYTES_PER_FIELD_ELEMENT)
    first = index * len(elements)
    if first >= FIELD_ELEMENTS_PER_BLOB:
        return
    leading = np.flatnonzero(elements[:, 0])
    if len(leading):
        raise NonCanonicalBlob(f"field element {first + int(leading[0])}: first byte is not zero")
    usable = elements[:, 1:].reshape(-1)
    past_end = max(0, length - first * USABLE_BYTES_PER_ELEMENT)
    padding = np.flatnonzero(usable[past_end:])
    if len(padding):
        offset = first * USABLE_BYTES_PER_ELEMENT + past_end + int(padding[0])
        raise BadPadding(f"payload byte {offset} is past the blob's {length} bytes but not zero")
