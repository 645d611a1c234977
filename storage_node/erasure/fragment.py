"""Fragments and their wire format (version 1).

A :class:`Fragment` is one coded shard in memory: the segment it belongs to (:class:`SegmentInfo`), its
index (``0 .. k-1`` data, ``k .. k+m-1`` parity) and its payload, a 1-D ``uint8`` NumPy or CuPy array.
Stored or sent, a fragment is a 96-byte header followed by the payload. All integers little-endian.

=======  ====  ===============  ==================================================================
offset   size  field            meaning
=======  ====  ===============  ==================================================================
0        4     magic            ``b"CRNF"`` (Cairn fragment)
4        1     version          1
5        1     k                data fragments, 1..255
6        1     m                parity fragments, 1..255, k + m <= 256
7        1     index            this fragment, 0..k+m-1
8        1     flags            bit 0 ``FINAL``: last segment of its object; bits 1-7 zero
9        7     reserved         zero
16       8     segment_index    u64, position of the segment in its object (0 for a lone segment)
24       8     segment_length   u64, bytes of original data in the segment, before padding
32       32    segment_id       BLAKE2b-256 naming the coded segment (below)
64       32    checksum         BLAKE2b-256 over this header's bytes 0..63 and the payload (below)
96       S     payload          S = shard_length(segment_length) (see :mod:`.params`), not stored
=======  ====  ===============  ==================================================================

Hashes (every hash is BLAKE2b with a 32-byte digest over a domain tag followed by the fields)::

    digest(i)  = H(DOMAIN_PAYLOAD  || payload_i)
    segment_id = H(DOMAIN_SEGMENT  || version, k, m, flags (u8 each) || segment_index || segment_length
                                   || digest(0) || ... || digest(k+m-1))
    checksum   = H(DOMAIN_FRAGMENT || header[0:64] || digest(index))

The checksum makes any change to one fragment, header or payload, detectable on its own: a fragment
that fails it is treated as missing. The segment id ties the k+m fragments of one coding together, so a
fragment of another segment or object (even with the same parameters and length) is recognised as
mismatched rather than decoded into garbage. Checking a fragment hashes its payload once.

The payload starts 96 bytes (a multiple of 16) into the fragment, so a fragment read into an aligned
buffer has an aligned payload. An object coded as a stream is a sequence of segments; each fragment
file holds that fragment index of every segment, in order, the last flagged ``FINAL``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage_node.erasure.arrays import Array, as_byte_vector, to_host
from storage_node.erasure.errors import (
    CorruptedFragmentError,
    FragmentFormatError,
    FragmentLengthError,
    InvalidFragmentIndexError,
    InvalidParametersError,
    TruncatedFragmentError,
)
from runtime.hashing import DOMAIN_EC_FRAGMENT as DOMAIN_FRAGMENT
from runtime.hashing import DOMAIN_EC_PAYLOAD as DOMAIN_PAYLOAD
from runtime.hashing import DOMAIN_EC_SEGMENT as DOMAIN_SEGMENT
from storage_node.erasure.params import CodeParams

MAGIC = b"CRNF"
FORMAT_VERSION = 1
HEADER_SIZE = 96
FLAG_FINAL = 0x01
DIGEST_SIZE = 32


_FIXED_FIELDS = struct.Struct("<4sBBBBB7sQQ")        # magic .. segment_length: header bytes 0..31
_SEGMENT_ID_FIELDS = struct.Struct("<BBBBQQ")         # version, k, m, flags, segment_index, segment_length
_RESERVED = bytes(7)
_MAX_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class SegmentInfo:
    """What all fragments of one coded segment share."""

    params: CodeParams
    """The code the segment was coded with."""
    segment_length: int
    """Bytes of original data in the segment (before padding to k shards)."""
    segment_index: int = 0
    """Position of the segment in its object; 0 for data coded on its own."""
    final: bool = True
    """Whether this is the last segment of its object."""

    def __post_init__(self) -> None:
        for name in ("segment_length", "segment_index"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= _MAX_U64:
                raise InvalidParametersError(f"{name} must be an integer in 0..2^64-1, got {value!r}")

    @property
    def shard_length(self) -> int:
        """Payload bytes of every fragment of this segment."""
        return self.params.shard_length(self.segment_length)

    @property
    def flags(self) -> int:
        return FLAG_FINAL if self.final else 0


@dataclass(frozen=True)
class Fragment:
    """One coded shard of a segment; checked for a consistent index and payload length when built."""

    segment: SegmentInfo
    """The segment this fragment belongs to."""
    index: int
    """0..k-1 for data fragments, k..k+m-1 for parity."""
    payload: Array
    """The shard: a 1-D ``uint8`` NumPy or CuPy array of ``segment.shard_length`` bytes."""
    segment_id: bytes | None = None
    """The segment id from the wire format; ``None`` for fresh fragments from an encoder (see :func:`seal`)."""

    def __post_init__(self) -> None:
        self.segment.params.check_index(self.index)
        object.__setattr__(self, "payload", as_byte_vector(self.payload))
        if self.payload.size != self.segment.shard_length:
            raise FragmentLengthError(
                f"fragment {self.index}: payload is {self.payload.size} bytes, a {self.segment.segment_length}"
                f"-byte segment under {self.segment.params} has {self.segment.shard_length}-byte shards")
        if self.segment_id is not None and len(self.segment_id) != DIGEST_SIZE:
            raise InvalidParametersError(f"segment_id must be {DIGEST_SIZE} bytes")

    def header(self) -> bytes:
        """The 96-byte header of a sealed fragment (hashes the payload)."""
        if self.segment_id is None:
            raise InvalidParametersError("fresh fragment: get the headers of its whole set from seal()")
        return _pack_header(self.segment, self.index, self.segment_id, payload_digest(self.payload))

    def to_bytes(self) -> bytes:
        """Header and payload of a sealed fragment, in one new ``bytes``."""
        return self.header() + to_host(self.payload).tobytes()


@dataclass(frozen=True)
class FragmentHeader:
    """A parsed header, before its payload has been read and checked."""

    segment: SegmentInfo
    index: int
    segment_id: bytes
    checksum: bytes

    @property
    def payload_length(self) -> int:
        return self.segment.shard_length

    @classmethod
    def unpack(cls, header: bytes | memoryview) -> FragmentHeader:
        """Parse and sanity-check the first :data:`HEADER_SIZE` bytes of ``header``."""
        if len(header) < HEADER_SIZE:
            raise TruncatedFragmentError(f"header is {len(header)} bytes, needs {HEADER_SIZE}")
        magic, version, k, m, index, flags, reserved, segment_index, segment_length = (
            _FIXED_FIELDS.unpack_from(header))
        if magic != MAGIC:
            raise FragmentFormatError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
        if version != FORMAT_VERSION:
            raise FragmentFormatError(f"unsupported fragment format version {version}")
        if flags & ~FLAG_FINAL or reserved != _RESERVED:
            raise FragmentFormatError("unknown flags or non-zero reserved bytes")
        try:
            params = CodeParams(k, m)
            params.check_index(index)
        except (InvalidParametersError, InvalidFragmentIndexError) as error:
            raise FragmentFormatError(f"invalid header: {error}") from error
        segment = SegmentInfo(params, segment_length, segment_index, bool(flags & FLAG_FINAL))
        segment_id = bytes(header[32:64])
        checksum = bytes(header[64:HEADER_SIZE])
        return cls(segment, index, segment_id, checksum)

    def verify(self, payload: Array) -> Fragment:
        """The fragment made of this header and ``payload``, if the checksum matches both."""
        fragment = Fragment(self.segment, self.index, payload, self.segment_id)
        expected = _pack_header(self.segment, self.index, self.segment_id, payload_digest(fragment.payload))
        if expected[64:] != self.checksum:
            raise CorruptedFragmentError(f"fragment {self.index}: checksum mismatch")
        return fragment


def payload_digest(payload: Array) -> bytes:
    """``H(DOMAIN_PAYLOAD || payload)``; a GPU payload is copied to the host to be hashed."""
    hasher = hashlib.blake2b(DOMAIN_PAYLOAD, digest_size=DIGEST_SIZE)
    hasher.update(to_host(payload))
    return hasher.digest()


def segment_id(segment: SegmentInfo, digests: Sequence[bytes]) -> bytes:
    """The id of a coded segment whose fragments' payloads have ``digests``, in index order."""
    hasher = hashlib.blake2b(DOMAIN_SEGMENT, digest_size=DIGEST_SIZE)
    hasher.update(_SEGMENT_ID_FIELDS.pack(FORMAT_VERSION, segment.params.k, segment.params.m, segment.flags,
                                          segment.segment_index, segment.segment_length))
    for digest in digests:
        hasher.update(digest)
    return hasher.digest()


def seal(fragments: Sequence[Fragment]) -> list[bytes]:
    """The wire headers of a complete set of fresh fragments (all k+m of one segment), in index order.

    Hashes every payload once. Fragments that already carry a segment id (parsed or rebuilt ones) have
    their own :meth:`Fragment.header`.
    """
    ordered = sorted(fragments, key=lambda fragment: fragment.index)
    segment = ordered[0].segment if ordered else None
    if segment is None or [f.index for f in ordered] != list(range(segment.params.n)) or any(
            f.segment != segment for f in ordered):
        raise InvalidParametersError("seal needs all k+m fragments of one segment")
    digests = [payload_digest(fragment.payload) for fragment in ordered]
    identity = segment_id(segment, digests)
    return [_pack_header(segment, f.index, identity, digest) for f, digest in zip(ordered, digests, strict=True)]


def serialize(fragments: Sequence[Fragment]) -> list[bytes]:
    """A complete set of fresh fragments in the wire format, header and payload, in index order."""
    ordered = sorted(fragments, key=lambda fragment: fragment.index)
    return [header + to_host(f.payload).tobytes() for header, f in zip(seal(ordered), ordered, strict=True)]


def parse_fragment(buffer: bytes | bytearray | memoryview | np.ndarray) -> Fragment:
    """The fragment serialised in ``buffer`` (header then exactly one payload), its checksum verified.

    The payload is a view into ``buffer``, not a copy. Raises :class:`TruncatedFragmentError`,
    :class:`FragmentFormatError`, :class:`FragmentLengthError` or :class:`CorruptedFragmentError`.
    """
    vector = as_byte_vector(buffer)
    header = FragmentHeader.unpack(memoryview(to_host(vector[:HEADER_SIZE])))
    payload = vector[HEADER_SIZE:]
    if payload.size < header.payload_length:
        raise TruncatedFragmentError(
            f"fragment {header.index}: payload is {payload.size} bytes, header says {header.payload_length}")
    if payload.size > header.payload_length:
        raise FragmentLengthError(
            f"fragment {header.index}: {payload.size - header.payload_length} bytes after the payload")
    return header.verify(payload)


def _pack_header(segment: SegmentInfo, index: int, identity: bytes, digest: bytes) -> bytes:
    fields = _FIXED_FIELDS.pack(MAGIC, FORMAT_VERSION, segment.params.k, segment.params.m, index,
                                segment.flags, _RESERVED, segment.segment_index, segment.segment_length)
    unsigned = fields + identity
    checksum = hashlib.blake2b(DOMAIN_FRAGMENT + unsigned + digest, digest_size=DIGEST_SIZE).digest()
    return unsigned + checksum
