"""Weights of the storage pallets' calls and hooks, in the units of :mod:`runtime.weights`.

Each is the storage reads and writes the call does (``READ``/``WRITE``) plus its CPython time, measured on the
2-core reference VM (shared with other work, so the figures are upper-ish) with ``time.perf_counter`` around
dispatches on the pallet tests' mock runtime (``tests/storage_node/pallets/mock.py``) with the production
segment (8 MiB), chunk (16 KiB) and challenge (4 chunks) sizes, k = 3, m = 2, 6 nodes:

- ``submit_proof``: decoding and verifying one ``ChunkProof`` (a 16 KiB chunk under a 171-chunk fragment of
  an 8 MiB segment) takes 16 µs (``timeit``, 2,000 runs); a whole dispatch of 4 proofs (67,182 bytes on
  chain: each proof is 16,778 bytes, 16,384 of chunk and 12 hashes) takes 110-430 µs (an idle core
  to a loaded one), most of it the pass's bookkeeping (reward, reputation, events). Charged: 220 µs plus
  25 µs per proof, plus reads/writes (``benchmarks/storage_audit_cost.py``).
- ``declare``: 0.9 ms for one segment, 37 ms for 128 (a 1 GiB file), 190 ms for 512 (4 GiB): ~0.3-0.37 ms
  per segment of 5 fragments (a weighted pick and four index writes per fragment, three writes and an event
  per segment). Charged ~0.5 ms per segment at k + m = 5, plus one read per registered node: admitted for the
  most there may be (``MaxNodes``), charged for those the declaration read. Its manifest is decoded twice in a
  block (for its weight, then by the call), 7.7 ns a byte each (a 3.84 MB manifest of 120,000 roots, which
  ``check`` then refuses: 29.5 ms): charged 40 ns a byte (``DECODE_PER_BYTE``), which covers a manifest the
  declaration refuses before anything else, however long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runtime.primitives import Weight
from runtime.weights import READ, US, WRITE

__all__ = ["StorageNodesWeightInfo", "StorageNodesWeights", "FileBankWeightInfo", "FileBankWeights",
           "StorageAccessWeightInfo", "StorageAccessWeights", "PROOF_VERIFY"]

PROOF_VERIFY = 25 * US
DECODE_PER_BYTE = US // 25
"""Decoding a manifest, a byte (40 ns: see ``declare`` above)."""
"""Decoding and verifying one chunk proof (measured 16 µs, see the module docstring)."""
EXIT_FINISHED = 20 * US + 3 * READ + 5 * WRITE
"""A fragment moved or dropped that was a leaving node's last: its record taken and its history kept, the
node count, its stake's hold and account, an event. Any repair, expiry or reaping may be one."""
TREE_DEPTH = 20
"""Levels of a node's slot-size tree charged for (``storage_node.pallets.slot_weights``): a million fragments
on one node, 2.8 TB of full-segment fragments; a node holding more pays a few reads more than charged."""
TREE_ADD = TREE_DEPTH * READ + WRITE
"""A fragment's slot added to its node's tree (two prefix sums, one entry written)."""
TREE_REMOVE = 3 * TREE_DEPTH * READ + (TREE_DEPTH + 1) * WRITE
"""A fragment's slot removed (the last slot's size read, moved into the freed slot, the last entry taken)."""
AUDIT_DRAW = 2 * TREE_DEPTH * READ + 4 * READ
"""One byte-weighted draw of a node's fragment (the tree's total and search; the slot, file, flags, order)."""
QUEUE_CURSOR = READ + WRITE
"""A deadline queue's cursor, read and written each block it is drained (``runtime.frame.due``)."""


class StorageNodesWeightInfo(Protocol):
    def register(self) -> Weight: ...
    def update(self) -> Weight: ...
    def exit(self) -> Weight: ...


class StorageNodesWeights:
    def register(self) -> Weight:
        return Weight(30 * US + 5 * READ + 6 * WRITE, 400)  # and its past record taken

    def update(self) -> Weight:
        return Weight(15 * US + READ + WRITE, 300)

    def exit(self) -> Weight:
        return Weight(25 * US + 3 * READ + 5 * WRITE, 300)  # and its history kept, leaving at once


class FileBankWeightInfo(Protocol):
    def declare(self, segments: int, width: int, nodes: int | None = None, *, manifest_bytes: int) -> Weight: ...
    def declare_embargoed(self, segments: int, width: int, nodes: int | None = None, *,
                          manifest_bytes: int) -> Weight: ...
    def confirm(self, fragments: int) -> Weight: ...
    def delete(self) -> Weight: ...
    def renew(self) -> Weight: ...
    def submit_proof(self, proofs: int) -> Weight: ...
    def confirm_repair(self) -> Weight: ...
    def on_initialize(self, placed: bool, audited: bool, draws: int, expiries: int, reaped: int) -> Weight: ...


@dataclass(frozen=True)
class FileBankWeights:
    max_nodes: int
    """Placement and audit rounds read every node: their weight assumes the most there may be."""
    max_fragments: int
    """A leaving node's fragment let go of reads every fragment of its segment under repair (its order, its node,
    whether it holds it): the copies leaving nodes still hold may be what the segment needs to be rebuilt."""

    def declare(self, segments: int, width: int, nodes: int | None = None, *, manifest_bytes: int) -> Weight:
        """``nodes``: the registered nodes read to place the fragments; before the call runs, the most there may
        be (``max_nodes``), and it returns its weight for the nodes it read (none for an empty file, or for a
        declaration refused before placing). ``manifest_bytes``: its manifest's length (decoded twice)."""
        nodes = self.max_nodes if nodes is None else nodes
        per_fragment = 25 * US + 3 * READ + 4 * WRITE + TREE_ADD  # its node's live status read when it is drawn
        per_segment = 20 * US + READ + 4 * WRITE + width * per_fragment  # its root, placement, flags, deadline
        return Weight(100 * US + 7 * READ + 6 * WRITE + nodes * (READ + 2 * US) + segments * per_segment
                      + manifest_bytes * DECODE_PER_BYTE, 1_000 + segments * (100 + 40 * width))

    def declare_embargoed(self, segments: int, width: int, nodes: int | None = None, *,
                          manifest_bytes: int) -> Weight:
        return self.declare(segments, width, nodes, manifest_bytes=manifest_bytes) + Weight(WRITE, 0)  # the embargo

    def confirm(self, fragments: int) -> Weight:
        # the node's status, the file; each fragment's placement and flags
        return Weight(30 * US + 3 * READ + WRITE + fragments * (5 * US + 2 * READ + 2 * WRITE), 500 + 80 * fragments)

    def delete(self) -> Weight:
        return Weight(40 * US + 6 * READ + 9 * WRITE, 500)  # and whether it is in use or locked; its id retired

    def renew(self) -> Weight:
        return Weight(40 * US + 4 * READ + 5 * WRITE, 500)  # the file, the payer's balance, the pool, the queue

    def submit_proof(self, proofs: int) -> Weight:
        # the challenge, the placement, the file, its segment root, the node's record; a pass pays and writes it; a
        # failure writes twice as much (the miss and the slash recorded, the fragment's order opened and queued)
        return Weight(220 * US + 24 * READ + 14 * WRITE + proofs * PROOF_VERIFY, 1_000 + 17_000 * proofs)

    def confirm_repair(self) -> Weight:
        # and whether it is challenged; the fragment leaves one node's tree for another's
        return Weight(60 * US + 11 * READ + 12 * WRITE + EXIT_FINISHED + TREE_ADD + TREE_REMOVE, 1_500)

    def on_initialize(self, placed: bool, audited: bool, draws: int, expiries: int, reaped: int) -> Weight:
        """``placed``: the nodes were read to draw one for a fragment (as ``declare`` reads them); ``audited``:
        an audit round began (every node and its fragment count read); ``draws``: the fragments it drew (a
        challenge issued for some); ``expiries``: deadlines handled, any of which may move a fragment (a
        reassignment, a release)."""
        copies = READ + self.max_fragments * (3 * READ + US)  # a leaving node's copy needed or not
        return Weight(10 * US + 4 * READ + 4 * QUEUE_CURSOR + placed * self.max_nodes * (READ + 2 * US)
                      + audited * self.max_nodes * (2 * READ + US)
                      + draws * (30 * US + AUDIT_DRAW + 5 * WRITE)
                      + expiries * (40 * US + 27 * READ + 13 * WRITE + EXIT_FINISHED + TREE_ADD + TREE_REMOVE + copies)
                      + reaped * (10 * US + 3 * READ + 4 * WRITE + EXIT_FINISHED + TREE_REMOVE), 0)


class StorageAccessWeightInfo(Protocol):
    def register_key(self) -> Weight: ...
    def grant(self) -> Weight: ...
    def revoke(self) -> Weight: ...
    def record_access(self) -> Weight: ...
    def grant_and_record(self) -> Weight: ...
    def on_initialize(self, learned: int, removed: int) -> Weight: ...


class StorageAccessWeights:
    def register_key(self) -> Weight:
        return Weight(15 * US + WRITE, 100)

    def grant(self) -> Weight:
        return Weight(20 * US + 4 * READ + WRITE, 300)  # the owner, the grantee's key, the lock, the grant it replaces

    def revoke(self) -> Weight:
        return Weight(20 * US + 3 * READ + 2 * WRITE, 200)  # the owner, the grant, the lock

    def record_access(self) -> Weight:
        return Weight(25 * US + 3 * READ + 3 * WRITE, 300)

    def grant_and_record(self) -> Weight:
        return Weight(40 * US + 5 * READ + 4 * WRITE, 400)

    def on_initialize(self, learned: int, removed: int) -> Weight:
        return Weight(5 * US + 2 * READ + learned * WRITE + removed * (10 * US + 2 * READ + 2 * WRITE), 0)
