"""The fragment API's wire shapes: the path that names a fragment and the body that carries it.

Path (version 1): ``/v1/fragments/0x<64 lowercase or uppercase hex>/<segment>/<fragment>``, the indices in
decimal without sign or leading zeros, ``segment`` < 2^32 and ``fragment`` < 2^16. Anything else (percent
escapes, dots, slashes, other lengths) is not a fragment's path: :class:`BadPath`, HTTP 400.

Body (version 1), the same for a PUT and a GET::

    u16 LE count ++ count × 32-byte fragment roots (the segment's, in fragment order) ++ the fragment's bytes

The roots let the node check an upload against the chain (their ``segment_root`` is on chain) and the
fragment against its own root, and let a reader or a repairer check what it fetched without asking the chain
for more than the segment root.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from storage_node.service.store import FragmentKey

__all__ = ["BadBody", "BadPath", "FragmentBody", "FRAGMENTS_PREFIX", "body_length", "encode_body",
           "parse_body", "parse_roots_header", "parse_fragment_path"]

FRAGMENTS_PREFIX = "/v1/fragments/"
HASH_SIZE = 32
_COUNT = struct.Struct("<H")
_PATH = re.compile(r"/v1/fragments/0x([0-9a-fA-F]{64})/(0|[1-9][0-9]{0,9})/(0|[1-9][0-9]{0,4})")
MAX_SEGMENT = 2**32 - 1
MAX_FRAGMENT = 2**16 - 1


class BadPath(ValueError):
    """Not the path of a fragment."""


class BadBody(ValueError):
    """A fragment body that does not have the layout of the module docstring."""


@dataclass(frozen=True)
class FragmentBody:
    roots: tuple[bytes, ...]
    """The fragment roots of the fragment's segment, in fragment order."""
    fragment: bytes
    """The fragment's bytes (the coder's shard payload)."""


def parse_fragment_path(path: str) -> FragmentKey:
    """The fragment a request path names (the raw path, before any percent-decoding)."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise BadPath(f"not a fragment path: expected {FRAGMENTS_PREFIX}0x<64 hex>/<segment>/<fragment>")
    segment, fragment = int(match[2]), int(match[3])
    if segment > MAX_SEGMENT or fragment > MAX_FRAGMENT:
        raise BadPath("segment must be below 2^32 and fragment below 2^16")
    return FragmentKey(bytes.fromhex(match[1]), segment, fragment)


def body_length(fragment_count: int, fragment_size: int) -> int:
    """The exact length of a body carrying ``fragment_count`` roots and a ``fragment_size``-byte fragment."""
    return _COUNT.size + HASH_SIZE * fragment_count + fragment_size


def encode_body(roots: tuple[bytes, ...] | list[bytes], fragment: bytes) -> bytes:
    if len(roots) > MAX_FRAGMENT or any(len(root) != HASH_SIZE for root in roots):
        raise BadBody("at most 65535 roots of 32 bytes each")
    return _COUNT.pack(len(roots)) + b"".join(roots) + bytes(fragment)


def parse_roots_header(data: bytes, expected_count: int) -> tuple[bytes, ...]:
    """The roots at the start of a body that should carry ``expected_count`` of them."""
    if len(data) < _COUNT.size:
        raise BadBody("body shorter than its root count")
    (count,) = _COUNT.unpack_from(data)
    if count != expected_count:
        raise BadBody(f"body carries {count} roots; the segment has {expected_count} fragments")
    end = _COUNT.size + HASH_SIZE * count
    if len(data) < end:
        raise BadBody(f"body shorter than its {count} roots")
    return tuple(data[offset:offset + HASH_SIZE] for offset in range(_COUNT.size, end, HASH_SIZE))


def parse_body(data: bytes, expected_count: int, fragment_size: int) -> FragmentBody:
    """A whole body, checked to carry ``expected_count`` roots and a ``fragment_size``-byte fragment."""
    roots = parse_roots_header(data, expected_count)
    offset = _COUNT.size + HASH_SIZE * expected_count
    if len(data) - offset != fragment_size:
        raise BadBody(f"fragment is {len(data) - offset} bytes; the manifest says {fragment_size}")
    return FragmentBody(roots, data[offset:])
