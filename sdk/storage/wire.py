"""The storage node HTTP API's fragment body, shared by the clients that send and check it and the daemon.

The body of ``PUT`` and ``GET /v1/fragments/{file_id}/{segment}/{fragment}`` (format version 1)::

    u16 LE count ++ count x 32-byte fragment roots of the segment ++ the fragment's bytes

``count`` is the segment's k + m. The roots travel with every fragment so that a receiver checks the
fragment on its own: the roots' fragment-set root must equal the segment root on chain, and the
fragment's chunk-tree root must equal ``roots[fragment]``. :func:`check_fragment_body` does both, bounding
every length before it hashes anything; :func:`split_body` only takes a body apart, as a storage node reads
back the bodies it checked when it accepted them.

Ids travel in paths as ``0x`` + 64 lowercase hex digits (:func:`fragment_path`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

from storage_node.chunks import HASH_LENGTH, Hash32, fragment_root, segment_root

__all__ = ["BadFragment", "FragmentBody", "encode_body_prefix", "check_fragment_body", "split_body", "body_length",
           "fragment_path"]

_COUNT = struct.Struct("<H")


class BadFragment(ValueError):
    """A fragment body that does not check out: wrong length or count, roots that are not the segment's, or
    bytes that are not the fragment the roots name."""


@dataclass(frozen=True)
class FragmentBody:
    """A checked body: the segment's fragment roots and this fragment's bytes (a view of the body)."""

    roots: tuple[Hash32, ...]
    fragment: memoryview


def fragment_path(file_id: bytes, segment: int, fragment: int) -> str:
    """The HTTP path of one fragment, as signed and requested."""
    return f"/v1/fragments/0x{file_id.hex()}/{segment}/{fragment}"


def body_length(fragment_count: int, fragment_size: int) -> int:
    """Bytes of a body carrying ``fragment_count`` roots and a fragment of ``fragment_size`` bytes."""
    return _COUNT.size + HASH_LENGTH * fragment_count + fragment_size


def encode_body_prefix(roots: Sequence[Hash32]) -> bytes:
    """What precedes the fragment's bytes in a body: the count and the roots."""
    return _COUNT.pack(len(roots)) + b"".join(roots)


def split_body(body: bytes | bytearray | memoryview, fragment_count: int) -> FragmentBody:
    """The roots and the fragment's bytes of a body carrying ``fragment_count`` roots, checked against no root;
    :class:`BadFragment` if it does not carry them."""
    view = memoryview(body)
    end = body_length(fragment_count, 0)
    if len(view) < end:
        raise BadFragment(f"body of {len(view)} bytes, too short for the segment's {fragment_count} roots")
    (count,) = _COUNT.unpack_from(view)
    if count != fragment_count:
        raise BadFragment(f"body carries {count} roots, the segment has {fragment_count} fragments")
    return FragmentBody(tuple(bytes(view[i:i + HASH_LENGTH]) for i in range(_COUNT.size, end, HASH_LENGTH)),
                        view[end:])


def check_fragment_body(body: bytes | bytearray | memoryview, *, fragment: int, fragment_count: int,
                        fragment_size: int, chunk_size: int, expected_segment_root: Hash32,
                        known_roots: Sequence[Hash32] | None = None) -> FragmentBody:
    """The roots and bytes of ``body`` if it is fragment ``fragment`` of the segment whose root is
    ``expected_segment_root``; else :class:`BadFragment` saying why.

    ``known_roots``: the segment's roots already checked against ``expected_segment_root`` (from another
    fragment's body); the body's must equal them, which spares hashing the fragment-set tree again."""
    view = memoryview(body)
    if len(view) != body_length(fragment_count, fragment_size):
        raise BadFragment(f"body of {len(view)} bytes, expected {body_length(fragment_count, fragment_size)}")
    parts = split_body(view, fragment_count)
    if known_roots is not None:
        if parts.roots != tuple(known_roots):
            raise BadFragment("the body's fragment roots differ from the segment's")
    elif segment_root(parts.roots) != expected_segment_root:
        raise BadFragment("the body's fragment roots do not hash to the segment root on chain")
    if fragment_root(parts.fragment, chunk_size) != parts.roots[fragment]:
        raise BadFragment(f"the bytes are not fragment {fragment} (chunk-tree root mismatch)")
    return parts
