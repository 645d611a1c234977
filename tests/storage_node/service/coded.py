"""Files coded as an uploader codes them (public: no encryption), for the storage node's tests.

``code_file(data, owner, ...)`` cuts ``data`` into segments, codes each with RS(k, m), computes every
fragment's root and each segment's root, and returns the manifest with the body (the API's layout) of every
fragment, so a test can upload exactly what a real client would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from storage_node.chunks import fragment_root, segment_root
from storage_node.erasure import ErasureCoder
from storage_node.manifest import Manifest
from storage_node.params import GCM_TAG_LENGTH, MANIFEST_VERSION
from sdk.storage.wire import encode_body_prefix


@dataclass(frozen=True)
class CodedFile:
    manifest: Manifest
    bodies: dict[tuple[int, int], bytes]
    """(segment, fragment) -> the PUT body."""

    @property
    def file_id(self) -> bytes:
        return self.manifest.file_id()


def code_file(data: bytes, owner: bytes, *, segment_size: int, k: int, m: int, chunk_size: int,
              encrypted: bool = False) -> CodedFile:
    """``encrypted`` only sets the manifest's flag (a private file): nodes never see the plaintext, so the
    bytes coded need not be ciphertext for what these tests check."""
    coder = ErasureCoder(k, m)
    bodies: dict[tuple[int, int], bytes] = {}
    segment_roots = []
    for index, start in enumerate(range(0, len(data), segment_size)):
        segment = data[start:start + segment_size] + (bytes(GCM_TAG_LENGTH) if encrypted else b"")
        payloads = [np.asarray(f.payload).tobytes() for f in coder.encode(segment, segment_index=index)]
        roots = [fragment_root(payload, chunk_size) for payload in payloads]
        segment_roots.append(segment_root(roots))
        for number, payload in enumerate(payloads):
            bodies[(index, number)] = encode_body_prefix(roots) + payload
    manifest = Manifest(MANIFEST_VERSION, owner, os.urandom(16), len(data), segment_size, k, m, chunk_size, encrypted,
                        tuple(segment_roots))
    manifest.check()
    return CodedFile(manifest, bodies)
