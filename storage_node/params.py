"""Protocol constants of the storage network's formats: bounds every node, client and the runtime share.

These never change without a new format version (DESIGN rule 7, first tier). The values a deployment
chooses (segment size, k and m, chunk size, deadlines) are presets in the storage pallets' parameters;
the constants here only bound them, so that every byte that crosses a trust boundary has a size limit
before it is decoded or hashed.
"""

from __future__ import annotations

MANIFEST_VERSION = 1
"""The manifest format this code writes and reads."""

SALT_LENGTH = 16
"""Random bytes in a manifest: two uploads of the same bytes by the same owner get different ids and keys."""

GCM_TAG_LENGTH = 16
"""AES-GCM appends this many bytes to each encrypted segment."""

MAX_FRAGMENTS = 255
"""Largest k + m of a manifest (both are u8 on the wire; the coder's GF(2^8) allows 256)."""

MAX_CHUNK_SIZE = 1 << 16
"""Largest chunk: an audit proof carries whole chunks in an extrinsic, so 64 KiB bounds one proof's bytes."""

MAX_SEGMENT_SIZE = 1 << 28
"""Largest plaintext segment (256 MiB): a node and a client hold a segment's fragments in memory at once,
and AES-GCM here takes at most 2**31 - 1 bytes per call."""

MAX_SEGMENTS = 1 << 24
"""Most segments in one manifest (the SCALE decoder's sequence bound): 128 TiB at 8 MiB segments."""

MAX_CHUNKS = 1 << 32
"""Chunk indices are u32 in proofs."""
