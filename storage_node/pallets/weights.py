"""Weights of the storage pallets' calls and hooks, in the units of :mod:`runtime.weights`.

Each is the storage reads and writes the call does (``READ``/``WRITE``) plus its CPython time, measured on the
2-core reference VM with ``timeit`` over the pallet tests' mock runtime (``tests/storage_node/pallets``):

- ``submit_proof``: decoding and verifying one ``ChunkProof`` (a 4 KiB chunk under a 683-chunk fragment of
  an 8 MiB segment, k = 3, m = 2) takes 19 µs; a proof is charged 25 µs plus its share of the challenge's
  reads. A proof is 4,424 bytes on chain (4,096 of chunk, 10 + 3 hashes of path).
- ``declare``: dominated by placement: per fragment one weighted pick (a few BLAKE2b draws and a bisect,
  ~10 µs) and four writes (the node's fragment index, its count and ``used``); per segment three writes
  (root, placements, confirmations) and an event; plus one read per registered node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.primitives import Weight
from runtime.weights import READ, US, WRITE

__all__ = ["StorageNodesWeightInfo", "StorageNodesWeights", "FileBankWeightInfo", "FileBankWeights",
           "StorageAccessWeightInfo", "StorageAccessWeights", "PROOF_VERIFY"]

PROOF_VERIFY = 25 * US
"""Decoding and verifying one chunk proof (measured 19 µs, see the module docstring)."""


class StorageNodesWeightInfo(Protocol):
    def register(self) -> Weight: ...
    def update(self) -> Weight: ...
    def exit(self) -> Weight: ...


class StorageNodesWeights:
    def register(self) -> Weight:
        return Weight(30 * US + 4 * READ + 5 * WRITE, 400)

    def update(self) -> Weight:
        return Weight(15 * US + READ + WRITE, 300)

    def exit(self) -> Weight:
        return Weight(25 * US + 3 * READ + 4 * WRITE, 300)


class FileBankWeightInfo(Protocol):
    def declare(self, segments: int, width: int) -> Weight: ...
    def confirm(self, fragments: int) -> Weight: ...
    def delete(self) -> Weight: ...
    def submit_proof(self, proofs: int) -> Weight: ...
    def confirm_repair(self) -> Weight: ...
    def on_initialize(self, read_nodes: bool, challenges: int, expiries: int, reaped: int) -> Weight: ...


@dataclass(frozen=True)
class FileBankWeights:
    max_nodes: int
    """Placement and audit rounds read every node: their weight assumes the most there may be."""

    def declare(self, segments: int, width: int) -> Weight:
        per_fragment = 10 * US + 2 * READ + 4 * WRITE
        per_segment = 20 * US + 3 * WRITE + width * per_fragment
        return Weight(100 * US + 6 * READ + 6 * WRITE + self.max_nodes * (READ + 2 * US) + segments * per_segment,
                      1_000 + segments * (100 + 40 * width))

    def confirm(self, fragments: int) -> Weight:
        return Weight(30 * US + 2 * READ + WRITE + fragments * (5 * US + 2 * READ + 2 * WRITE), 500 + 80 * fragments)

    def delete(self) -> Weight:
        return Weight(40 * US + 3 * READ + 6 * WRITE, 500)

    def submit_proof(self, proofs: int) -> Weight:
        # the challenge, the file, its segment root, the node's record; a pass pays and writes the record
        return Weight(40 * US + 6 * READ + 6 * WRITE + proofs * PROOF_VERIFY, 1_000 + 4_500 * proofs)

    def confirm_repair(self) -> Weight:
        return Weight(60 * US + 10 * READ + 12 * WRITE, 1_500)

    def on_initialize(self, read_nodes: bool, challenges: int, expiries: int, reaped: int) -> Weight:
        return Weight(10 * US + 4 * READ + read_nodes * self.max_nodes * READ + challenges * (30 * US + 4 * READ + 4 * WRITE)
                      + expiries * (40 * US + 8 * READ + 10 * WRITE) + reaped * (10 * US + 3 * READ + 4 * WRITE), 0)


class StorageAccessWeightInfo(Protocol):
    def register_key(self) -> Weight: ...
    def grant(self) -> Weight: ...
    def revoke(self) -> Weight: ...
    def record_access(self) -> Weight: ...


class StorageAccessWeights:
    def register_key(self) -> Weight:
        return Weight(15 * US + WRITE, 100)

    def grant(self) -> Weight:
        return Weight(20 * US + 2 * READ + WRITE, 300)

    def revoke(self) -> Weight:
        return Weight(20 * US + 2 * READ + 2 * WRITE, 200)

    def record_access(self) -> Weight:
        return Weight(25 * US + 3 * READ + 3 * WRITE, 300)
