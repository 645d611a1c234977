"""One segment's way through the upload and download pipelines: the CPU work, run in worker threads.

Upload: a plaintext segment → AES-256-GCM under the file's data key (private files) → RS(k, m) with the
storage coder → k + m fragment payloads → each fragment's chunk-tree root → the segment root the manifest
commits to. Download: the fragments fetched and checked (:mod:`sdk.storage.wire`) → decode from any k →
decrypt.

Encryption is deterministic per (key, salt, segment index): the nonce is the segment index. The upload
relies on it: its first pass computes the roots, its second pass encodes the same segment again to push
it, and both give the same bytes.

Nothing here does I/O. AES (``cryptography``), ISA-L and BLAKE3 run in C with the GIL released for the
bulk of the work, so the async layer runs these functions through ``anyio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from storage_node.chunks import Hash32, fragment_root, segment_root
from storage_node.crypto import decrypt_segment, encrypt_segment
from storage_node.erasure import ErasureCoder, Fragment, SegmentInfo
from storage_node.erasure.arrays import to_host
from storage_node.manifest import Manifest

__all__ = ["CodedSegment", "SegmentCodec", "InconsistentSegment"]

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class CodedSegment:
    """A segment's k + m fragment payloads and their roots, in fragment order."""

    index: int
    fragments: tuple[np.ndarray, ...]
    roots: tuple[Hash32, ...]

    @property
    def root(self) -> Hash32:
        """The segment root: the fragment-set tree over :attr:`roots`."""
        return segment_root(self.roots)


class InconsistentSegment(ValueError):
    """A segment's fragments, each matching its root, are not one erasure codeword: which k are read decides
    the bytes (an owner stored data fragments of one plaintext and parity of another)."""


class SegmentCodec:
    """Encodes and decodes the segments of one file: its code (k, m), chunk size, salt and data key.

    ``data_key`` is the 32-byte AES key of a private file, ``None`` for a public one. Safe to call from
    several threads at once (the coder's tables are read-only after construction)."""

    def __init__(self, *, k: int, m: int, chunk_size: int, salt: bytes, data_key: bytes | None,
                 backend: str = "auto") -> None:
        self.coder = ErasureCoder(k, m, backend)
        self.chunk_size = chunk_size
        self.salt = salt
        self.data_key = data_key

    @classmethod
    def for_manifest(cls, manifest: Manifest, data_key: bytes | None, backend: str = "auto") -> "SegmentCodec":
        return cls(k=manifest.k, m=manifest.m, chunk_size=manifest.chunk_size, salt=manifest.salt,
                   data_key=data_key, backend=backend)

    def encode(self, index: int, plaintext: Buffer) -> CodedSegment:
        """Segment ``index``'s fragments and roots."""
        payloads = self.encode_fragments(index, plaintext)
        roots = tuple(fragment_root(memoryview(payload), self.chunk_size) for payload in payloads)
        return CodedSegment(index, payloads, roots)

    def encode_fragments(self, index: int, plaintext: Buffer) -> tuple[np.ndarray, ...]:
        """Segment ``index``'s k + m fragment payloads (encrypted first for a private file)."""
        coded = plaintext if self.data_key is None else encrypt_segment(self.data_key, self.salt, index, plaintext)
        return tuple(to_host(fragment.payload) for fragment in self.coder.encode(coded))

    def decode(self, manifest: Manifest, index: int, fragments: Mapping[int, Buffer],
               roots: tuple[Hash32, ...] | None = None) -> bytes:
        """Segment ``index``'s plaintext from k of its checked fragments (by fragment index); raises
        ``storage_node.crypto.DecryptionError`` if the data key is not the file's. Given the segment's fragment
        ``roots``, a segment rebuilt with parity is encoded again and must give every root back
        (:class:`InconsistentSegment` if not): read from its k data fragments it is what they hold, but from
        others it is only what those imply, and a file id must name the same bytes whichever nodes answer. A
        private segment is no exception: its owner holds the key, and may encrypt two plaintexts (encryption
        is deterministic, so the honest one encodes back to its roots)."""
        info = SegmentInfo(self.coder.params, manifest.coded_length(index), index,
                           index == manifest.segment_count() - 1)
        coded = self.coder.decode({i: Fragment(info, i, np.frombuffer(data, dtype=np.uint8))
                                   for i, data in fragments.items()})
        data = to_host(coded)
        if self.data_key is None:
            plaintext = data.tobytes()
        else:
            plaintext = decrypt_segment(self.data_key, self.salt, index, memoryview(data))
        if roots is not None and max(fragments) >= manifest.k and self.encode(index, plaintext).roots != roots:
            raise InconsistentSegment(f"segment {index}: its fragments decode to other bytes from other fragments")
        return plaintext
