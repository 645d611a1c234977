"""A stored file's manifest: everything needed to fetch, check and decode it, and whose hash is its id.

A file of ``size`` bytes is cut into segments of ``segment_size`` plaintext bytes (the last one shorter).
Each segment is, if ``encrypted``, sealed with AES-256-GCM (:mod:`storage_node.crypto`: the coded bytes are
the plaintext plus a 16-byte tag), then erasure coded into ``k`` data and ``m`` parity fragments with the
existing coder. **The fragment bytes are the coder's shard payloads** (``Fragment.payload``), never its
96-byte-header serialization; the manifest says what such a header would. Each fragment is committed to by
its chunk tree (:mod:`storage_node.chunks`) and the segment by the tree over its k + m fragment roots:
``segment_roots`` holds one root per segment. An empty file has no segments.

SCALE layout (version 1, ``storage_node::Manifest``): ``version: u8``, ``owner: AccountId32``,
``salt: [u8; 16]``, ``size: u64``, ``segment_size: u32``, ``k: u8``, ``m: u8``, ``chunk_size: u32``,
``encrypted: bool``, ``segment_roots: Vec<H256>``. The file id is
``blake2_256(DOMAIN_STORAGE_FILE_ID ++ encode())``: the bytes on chain name the file exactly, and the
random salt makes two uploads of the same bytes two files. The *content digest* is the same hash with the
owner and salt zeroed (``DOMAIN_STORAGE_CONTENT``): a public file's fragments are its bytes coded, with no key
and no salt, so two public files of the same bytes stored alike (segment size, code, chunk size) have the same
content digest, whoever stored them, and its roots commit to those bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

from runtime.hashing import DOMAIN_STORAGE_CONTENT, DOMAIN_STORAGE_FILE_ID, blake2_256
from runtime.primitives import ACCOUNT_ID
from runtime.scale import BOOL, H256, U8, U32, U64, FixedBytes, ScaleDecodeError, Vec, scale_struct
from storage_node.chunks import HASH_LENGTH, Hash32, chunk_count
from storage_node.erasure.params import CodeParams
from storage_node.params import (
    GCM_TAG_LENGTH,
    MANIFEST_VERSION,
    MAX_CHUNK_SIZE,
    MAX_FRAGMENTS,
    MAX_SEGMENT_SIZE,
    MAX_SEGMENTS,
    SALT_LENGTH,
)

__all__ = ["Manifest", "ManifestError"]


class ManifestError(ValueError):
    """The bytes are not a manifest, or its fields contradict each other or the protocol bounds."""


@scale_struct("storage_node::Manifest")
@dataclass(frozen=True)
class Manifest:
    """What a file is: its owner, sizes, code parameters and the roots of its segments."""

    version: Annotated[int, U8, "u8"]
    """Format version: :data:`~storage_node.params.MANIFEST_VERSION`."""
    owner: Annotated[bytes, ACCOUNT_ID, "AccountId"]
    """The account that declared the file and pays for it."""
    salt: Annotated[bytes, FixedBytes(SALT_LENGTH), "[u8; 16]"]
    """Random bytes chosen by the uploader: two uploads of the same bytes get different ids."""
    size: Annotated[int, U64, "u64"]
    """Plaintext bytes of the file."""
    segment_size: Annotated[int, U32, "u32"]
    """Plaintext bytes per segment; the last segment is shorter."""
    k: Annotated[int, U8, "u8"]
    """Data fragments per segment: any k fragments rebuild it."""
    m: Annotated[int, U8, "u8"]
    """Parity fragments per segment: up to m may be lost."""
    chunk_size: Annotated[int, U32, "u32"]
    """Bytes per leaf of a fragment's chunk tree (the unit audits sample)."""
    encrypted: Annotated[bool, BOOL, "bool"]
    """Whether each segment was sealed with AES-256-GCM before coding (a private file)."""
    segment_roots: Annotated[tuple[Hash32, ...], Vec(H256), "Vec<H256>"]
    """One root per segment: the tree over its k + m fragment roots."""

    def encode(self) -> bytes:
        """SCALE bytes: what ``FileBank.declare`` carries and the file id hashes."""
        return Manifest.SCALE.encode(self)  # type: ignore[attr-defined]

    @classmethod
    def decode(cls, data: bytes) -> "Manifest":
        """The manifest in ``data``, checked (:meth:`check`); anything else is :class:`ManifestError`."""
        try:
            manifest: Manifest = cls.SCALE.decode(data)  # type: ignore[attr-defined]
        except ScaleDecodeError as exc:
            raise ManifestError(f"not a manifest: {exc}") from None
        manifest.check()
        return manifest

    def file_id(self) -> Hash32:
        """The file's id: ``blake2_256(DOMAIN_STORAGE_FILE_ID ++ encode())``."""
        return blake2_256(DOMAIN_STORAGE_FILE_ID + self.encode())

    def content_digest(self) -> Hash32:
        """What the file holds, as stored: ``blake2_256(DOMAIN_STORAGE_CONTENT ++ encode())`` with the owner and
        salt zeroed (see the module docstring)."""
        return blake2_256(DOMAIN_STORAGE_CONTENT + replace(self, owner=bytes(32), salt=bytes(SALT_LENGTH)).encode())

    def check(self) -> None:
        """Raise :class:`ManifestError` unless every field is in range and the roots match the size."""
        if self.version != MANIFEST_VERSION:
            raise ManifestError(f"unknown manifest version {self.version}")
        if len(self.owner) != 32:
            raise ManifestError("owner must be a 32-byte account id")
        if len(self.salt) != SALT_LENGTH:
            raise ManifestError(f"salt must be {SALT_LENGTH} bytes")
        if not 0 <= self.size < 1 << 64:
            raise ManifestError(f"size {self.size} is not a u64")
        if not 1 <= self.segment_size <= MAX_SEGMENT_SIZE:
            raise ManifestError(f"segment size must be in 1..{MAX_SEGMENT_SIZE}, got {self.segment_size}")
        # m >= 1: the coder has no m = 0 code, and a segment without parity could never be repaired.
        if not (1 <= self.k and 1 <= self.m and self.k + self.m <= MAX_FRAGMENTS):
            raise ManifestError(f"need 1 <= k, 1 <= m, k + m <= {MAX_FRAGMENTS}, got k={self.k} m={self.m}")
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ManifestError(f"chunk size must be in 1..{MAX_CHUNK_SIZE}, got {self.chunk_size}")
        if self.segment_count() > MAX_SEGMENTS:
            raise ManifestError(f"{self.segment_count()} segments exceed {MAX_SEGMENTS}")
        if len(self.segment_roots) != self.segment_count():
            raise ManifestError(
                f"{len(self.segment_roots)} segment roots for {self.segment_count()} segments of {self.size} bytes")
        if any(len(root) != HASH_LENGTH for root in self.segment_roots):
            raise ManifestError("segment roots are 32 bytes")

    @property
    def fragment_count(self) -> int:
        """Fragments per segment: k + m."""
        return self.k + self.m

    def segment_count(self) -> int:
        """``ceil(size / segment_size)``: 0 for an empty file."""
        return -(-self.size // self.segment_size)

    def segment_length(self, i: int) -> int:
        """Plaintext bytes of segment ``i``."""
        self._check_segment(i)
        return min(self.segment_size, self.size - i * self.segment_size)

    def coded_length(self, i: int) -> int:
        """Bytes of segment ``i`` that were erasure coded: the plaintext, plus the GCM tag if encrypted."""
        return self.segment_length(i) + (GCM_TAG_LENGTH if self.encrypted else 0)

    def fragment_size(self, i: int) -> int:
        """Bytes of each of segment ``i``'s fragments: the coder's shard length for ``coded_length(i)``."""
        return CodeParams(self.k, self.m).shard_length(self.coded_length(i))

    def chunk_count(self, i: int) -> int:
        """Chunks in each fragment of segment ``i``: what an audit proof's index ranges over."""
        return chunk_count(self.fragment_size(i), self.chunk_size)

    def _check_segment(self, i: int) -> None:
        if not 0 <= i < self.segment_count():
            raise IndexError(f"segment {i} outside 0..{self.segment_count() - 1}")
