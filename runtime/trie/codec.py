"""Node encoding and decoding for the state trie (byte layouts: see the ``runtime.trie`` docstring)."""

from __future__ import annotations

import hashlib
import operator
from typing import NamedTuple

from runtime.hashing import blake2_256
from runtime.scale import ScaleDecodeError, decode_compact

# -- constants -----------------------------------------------------------------------------------

HASHED_VALUE_THRESHOLD = 33
"""V1 stores values of at least this many bytes as separate value nodes (``TRIE_VALUE_NODE_THRESHOLD``)."""

MAX_KEY_LENGTH = 32767
"""Longest key in bytes: partial keys are bounded by 65535 nibbles (``NIBBLE_SIZE_BOUND``)."""

_HEX = "0123456789abcdef"
_blake2b = hashlib.blake2b  # = runtime.hashing.blake2_256 (house rule 6), inlined in the hot path
_get_ref = operator.attrgetter("ref")  # used with filter(None, children): nodes are always truthy
_NIB = {c: i for i, c in enumerate(_HEX)}
_MAX_NIBBLES = 65535


EMPTY_ROOT = blake2_256(b"\x00")
"""Root of the empty trie: ``0x03170a2e...1314``."""

# -- errors --------------------------------------------------------------------------------------


class TrieError(Exception):
    """Base class of this module's errors."""


class InvalidNode(TrieError, ValueError):
    """Bytes that are not a valid node encoding."""


class IncompleteDatabase(TrieError, KeyError):
    """``TrieState.from_nodes``: the lookup has no node for a referenced hash."""


class InvalidProof(TrieError):
    """A read proof does not prove the requested keys against the given root."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- codec ---------------------------------------------------------------------------------------

_COMPACT1 = [bytes((n << 2,)) for n in range(64)]


def _compact(n: int) -> bytes:
    """SCALE ``Compact<u32>`` of a length."""
    if n < 1 << 6:
        return _COMPACT1[n]
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    return b"\x03" + n.to_bytes(4, "little")


def _size_header(prefix: int, bits: int, n: int) -> bytes:
    maxv = 0xFF >> bits
    if n < maxv:
        return bytes((prefix | n,))
    out = bytearray((prefix | maxv,))
    rem = n - (maxv - 1)
    while rem >= 256:
        out.append(255)
        rem -= 255
    out.append(rem - 1)
    return bytes(out)


# node kinds: index into _KINDS, whose entries are (prefix, bit count of the prefix)
_LEAF, _BRANCH, _BRANCH_V, _LEAF_H, _BRANCH_H = range(5)
_KINDS = [(0x40, 2), (0x80, 2), (0xC0, 2), (0x20, 3), (0x10, 4)]
_HEADERS = [[_size_header(prefix, bits, n) for n in range(256)] for prefix, bits in _KINDS]


class _Node:
    """A trie node. ``children`` is None for a leaf, else a list of 16 (node or None). Nodes are
    never mutated once built, except to fill the ``ref`` cache. ``gen`` is the generation (apply
    count) that created the node."""

    __slots__ = ("partial", "value", "children", "bitmap", "ref", "gen")

    def __init__(self, partial: str, value: bytes | None, children: list | None, bitmap: int, gen: int):
        self.partial = partial  # nibbles as lowercase hex digits
        self.value = value
        self.children = children
        self.bitmap = bitmap  # bit i set iff children[i] is not None
        self.ref: bytes | None = None  # compact(len) ++ (encoding if < 32 bytes else hash)
        self.gen = gen


def _encode(node: _Node, threshold: int | None) -> bytes:
    """The node's encoding. Its children's ``ref`` caches must be filled (``_ref`` does that)."""
    p = node.partial
    n = len(p)
    pk = (bytes.fromhex(p) if not n & 1 else bytes.fromhex("0" + p)) if n else b""
    v = node.value
    hashed = v is not None and threshold is not None and len(v) >= threshold
    if v is None:
        body = b""
    elif hashed:
        body = _blake2b(v, digest_size=32).digest()
    else:
        body = (_COMPACT1[len(v)] if len(v) < 64 else _compact(len(v))) + v
    ch = node.children
    if ch is None:
        kind = _LEAF_H if hashed else _LEAF
    else:
        kind = _BRANCH if v is None else _BRANCH_H if hashed else _BRANCH_V
    header = _HEADERS[kind][n] if n < 256 else _size_header(*_KINDS[kind], n)
    if ch is None:
        return header + pk + body
    return b"".join((header, pk, node.bitmap.to_bytes(2, "little"), body, *map(_get_ref, filter(None, ch))))


def _ref(node: _Node, threshold: int | None) -> bytes:
    """Fill and return ``node.ref`` (and those of its descendants that lack one)."""
    ch = node.children
    if ch is not None:
        for c in filter(None, ch):
            if c.ref is None:
                _ref(c, threshold)
    enc = _encode(node, threshold)
    r = _COMPACT1[len(enc)] + enc if len(enc) < 32 else b"\x80" + _blake2b(enc, digest_size=32).digest()
    node.ref = r
    return r


class DecodedNode(NamedTuple):
    """A node decoded by ``decode_node``."""

    kind: str
    """``"empty"``, ``"leaf"`` or ``"branch"``."""
    partial: str
    """The partial key, one lowercase hex digit per nibble."""
    value: bytes | None
    """The inline value, if the node has one."""
    value_hash: bytes | None
    """The hash of the value, for V1 hashed-value nodes (the value is a separate node)."""
    children: tuple[bytes | None, ...] | None
    """Branches: 16 child references, each None, a 32-byte hash or an inline encoding (< 32 bytes)."""


def _take_compact(enc: bytes, i: int) -> tuple[int, int]:
    """A node's ``Compact<u32>`` length at ``i``: canonical, and within u32 (Substrate's node codec)."""
    try:
        n, end = decode_compact(enc, i)
    except ScaleDecodeError as exc:
        raise InvalidNode(f"bad length: {exc}") from None
    if n >= 1 << 32:
        raise InvalidNode("length out of range")
    return n, end


def decode_node(encoding: bytes) -> DecodedNode:
    """Decode one node (the inverse of the encodings described in the module docstring).

    Strict: besides what Substrate rejects (bad header, bad padding, empty bitmap, truncation) it also
    rejects trailing bytes, non-canonical lengths and inline children longer than 32 bytes, none of
    which an honest encoder produces. Raises ``InvalidNode``.
    """
    enc = encoding if type(encoding) is bytes else _as_bytes(encoding, "encoding")
    if not enc:
        raise InvalidNode("empty input")
    b0 = enc[0]
    if b0 == 0:
        if len(enc) != 1:
            raise InvalidNode("trailing bytes after empty node")
        return DecodedNode("empty", "", None, None, None)
    top = b0 >> 6
    if top:
        is_branch, has_value, hashed, bits = top != 1, top != 2, False, 2
    elif b0 >> 5 == 1:
        is_branch, has_value, hashed, bits = False, True, True, 3
    elif b0 >> 4 == 1:
        is_branch, has_value, hashed, bits = True, True, True, 4
    else:
        raise InvalidNode(f"invalid header byte 0x{b0:02x}")
    maxv = 0xFF >> bits
    n = b0 & maxv
    i = 1
    if n == maxv:
        n -= 1
        while True:
            if i >= len(enc):
                raise InvalidNode("truncated nibble count")
            b = enc[i]
            i += 1
            n += b + 1 if b < 255 else 255
            if n > _MAX_NIBBLES:
                raise InvalidNode("partial key too long")
            if b < 255:
                break
    nbytes = (n + 1) >> 1
    if i + nbytes > len(enc):
        raise InvalidNode("truncated partial key")
    partial = enc[i : i + nbytes].hex()
    if n & 1:
        if partial[0] != "0":
            raise InvalidNode("bad partial key padding")
        partial = partial[1:]
    i += nbytes
    children = None
    if is_branch:
        if i + 2 > len(enc):
            raise InvalidNode("truncated bitmap")
        bitmap = enc[i] | enc[i + 1] << 8
        i += 2
        if bitmap == 0:
            raise InvalidNode("branch without children")
    value = value_hash = None
    if has_value:
        if hashed:
            if i + 32 > len(enc):
                raise InvalidNode("truncated value hash")
            value_hash = enc[i : i + 32]
            i += 32
        else:
            size, i = _take_compact(enc, i)
            if i + size > len(enc):
                raise InvalidNode("truncated value")
            value = enc[i : i + size]
            i += size
    if is_branch:
        refs: list[bytes | None] = [None] * 16
        for c in range(16):
            if bitmap >> c & 1:
                size, i = _take_compact(enc, i)
                if size > 32:
                    raise InvalidNode("child reference longer than 32 bytes")
                if i + size > len(enc):
                    raise InvalidNode("truncated child reference")
                refs[c] = enc[i : i + size]
                i += size
        children = tuple(refs)
    if i != len(enc):
        raise InvalidNode("trailing bytes")
    return DecodedNode("branch" if is_branch else "leaf", partial, value, value_hash, children)


def _as_bytes(x: object, what: str) -> bytes:
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be bytes, not {type(x).__name__}")
