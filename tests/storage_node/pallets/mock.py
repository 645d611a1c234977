"""A mock runtime for the storage pallets: System, Balances, StorageNodes, FileBank and StorageAccess at their Cairn
indices, wired as ``runtime.cairn`` wires them, with small parameters so that every deadline is a few blocks
away. Files are real manifests over random fragment bytes (no erasure coding needed: the chain checks Merkle
paths, not codes), so the proofs the tests submit are the ones a storage node would.

    ext = new_ext(nodes=6)
    with ext:
        stored = declare(ext, ALICE, size=3000)
        confirm_all(ext, stored)
        assert ext.pallet(FileBank).files.get(stored.file_id).status is FileStatus.Active
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from runtime.frame.composition import PalletSlot
from runtime.frame.pallet import Origin
from runtime.frame.testing import TestExternalities, new_test_ext
from runtime.hashing import blake2_256
from runtime.pallets import balances
from runtime.pallets.balances import Balances, BalancesGenesis
from runtime.pallets.system import System
from runtime.primitives import Digest
from storage_node.chunks import ChunkProof, fragment_tree, segment_path, segment_root
from storage_node.manifest import Manifest
from storage_node.pallets import access, file_bank, nodes
from storage_node.pallets.file_bank import FileBank
from storage_node.pallets.nodes import StorageNodes

__all__ = ["ALICE", "BOB", "CHARLIE", "NODES", "ENDOWMENT", "STAKE", "CAPACITY", "PARAMS", "new_ext", "StoredFile",
           "make_file", "declare", "confirm_all", "next_block", "run_to", "proofs_for", "free", "held"]

ALICE, BOB, CHARLIE = (bytes([i]) * 32 for i in range(1, 4))
NODES = tuple(bytes([0x10 + i]) * 32 for i in range(8))
"""Storage node accounts (``new_ext(nodes=n)`` registers the first n)."""
ENDOWMENT = 10**9
STAKE = 10_000
CAPACITY = 1 << 20

PARAMS = {
    "Balances": {"existential_deposit": 1},
    "StorageNodes": {"min_stake": 1_000, "slash_fraction": 100_000_000, "max_consecutive_misses": 3,
                     "max_nodes": 16},
    "FileBank": {"segment_size": 2048, "chunk_size": 256, "audit_period": 10, "challenges_per_audit": 8,
                 "chunks_per_challenge": 2, "proof_deadline": 3, "confirm_deadline": 5, "repair_deadline": 5,
                 "exit_patience": 15,
                 "fee_per_byte_period": 1, "prepaid_periods": 100, "max_paid_periods": 300, "deposit_per_byte": 2,
                 "deposit_per_file": 50, "deposit_per_fragment": 3,
                 "repair_reward_per_byte": 1, "max_expiries_per_block": 64, "max_reaped_per_block": 64},
    "StorageAccess": {"access_window": 20},
}
"""2 KiB segments of 256-byte chunks: a 3 KB file has two segments of a few chunks per fragment. Slashes are
10% so that arithmetic in tests stays readable. Files are paid for 1,000 blocks: longer than any test but the
expiry's own runs."""

SLOTS = (
    PalletSlot(5, balances.DEFINITION, lambda r: {
        "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
    PalletSlot(20, nodes.DEFINITION, lambda r: {"currency": r.pallet(Balances)}),
    PalletSlot(21, file_bank.DEFINITION, lambda r: {
        "nodes": r.pallet(StorageNodes), "chain": r.pallet(System), "currency": r.pallet(Balances)}),
    PalletSlot(22, access.DEFINITION, lambda r: {"files": r.pallet(FileBank)}),
)


def new_ext(*, nodes: int = 6, params: dict | None = None) -> TestExternalities:
    """ALICE, BOB, CHARLIE and every node account endowed; the first ``nodes`` registered with ``STAKE`` and
    ``CAPACITY`` (at ``http://node-<i>``); block 1 begun."""
    merged = {pallet: {**fields, **(params or {}).get(pallet, {})} for pallet, fields in PARAMS.items()}
    ext = new_test_ext(*SLOTS, params=merged, genesis={
        "Balances": BalancesGenesis(tuple((who, ENDOWMENT) for who in (ALICE, BOB, CHARLIE, *NODES)))})
    with ext:
        for i, node in enumerate(NODES[:nodes]):
            ext.dispatch(Origin.signed(node), "StorageNodes", "register", endpoint=f"http://node-{i}".encode(),
                         capacity=CAPACITY, stake=STAKE)
    return ext


@dataclass(frozen=True)
class StoredFile:
    """A manifest and the fragment bytes behind it, by (segment, fragment)."""

    manifest: Manifest
    fragments: dict[tuple[int, int], bytes] = field(repr=False)

    @property
    def file_id(self) -> bytes:
        return self.manifest.file_id()


def make_file(owner: bytes, size: int, *, seed: int = 0, k: int = 3, m: int = 2, segment_size: int = 2048,
              chunk_size: int = 256, encrypted: bool = False) -> StoredFile:
    """A manifest whose roots commit to fragments of the sizes the manifest implies, pseudo-random from
    ``seed`` (the same on every run, so placements and audits are too; another seed, another file)."""
    rng = random.Random(seed)
    skeleton = Manifest(1, owner, rng.randbytes(16), size, segment_size, k, m, chunk_size, encrypted, ())
    fragments, roots = {}, []
    for segment in range(skeleton.segment_count()):
        frags = [rng.randbytes(skeleton.fragment_size(segment)) for _ in range(k + m)]
        fragments.update({(segment, j): data for j, data in enumerate(frags)})
        roots.append(segment_root([fragment_tree(data, chunk_size).root for data in frags]))
    return StoredFile(Manifest(1, owner, skeleton.salt, size, segment_size, k, m, chunk_size, encrypted,
                               tuple(roots)), fragments)


def declare(ext: TestExternalities, owner: bytes, size: int, *, embargoed: bool = False,
            **kwargs: object) -> StoredFile:
    """``make_file``'s file, declared by ``owner`` (``declare_embargoed`` if ``embargoed``)."""
    stored = make_file(owner, size, **kwargs)  # type: ignore[arg-type]
    ext.dispatch(Origin.signed(owner), "FileBank", "declare_embargoed" if embargoed else "declare",
                 manifest=stored.manifest.encode())
    return stored


def confirm_all(ext: TestExternalities, stored: StoredFile) -> None:
    """Every assigned node confirms its fragments of ``stored``."""
    bank = ext.pallet(FileBank)
    by_node: dict[bytes, list[tuple[int, int]]] = {}
    for segment in range(stored.manifest.segment_count()):
        for fragment, node in enumerate(bank.placements.get(stored.file_id, segment)):
            by_node.setdefault(node, []).append((segment, fragment))
    for node, fragments in by_node.items():
        ext.dispatch(Origin.signed(node), "FileBank", "confirm", file_id=stored.file_id, fragments=tuple(fragments))


def next_block(ext: TestExternalities) -> int:
    """Begin the next block as the executive does: System, then every pallet's ``on_initialize``."""
    system = ext.pallet(System)
    n = system.number.get() + 1
    system.initialize(n, blake2_256(b"mock block" + n.to_bytes(4, "little")), Digest())
    for pallet in ext.runtime.pallets.values():
        pallet.on_initialize(n)
    return n


def run_to(ext: TestExternalities, n: int) -> None:
    while ext.pallet(System).number.get() < n:
        next_block(ext)


def proofs_for(stored: StoredFile, segment: int, fragment: int, chunk_indices: tuple[int, ...]) -> tuple[bytes, ...]:
    """What an honest node holding ``stored``'s fragment submits for a challenge of these chunks."""
    manifest = stored.manifest
    data = stored.fragments[(segment, fragment)]
    tree = fragment_tree(data, manifest.chunk_size)
    roots = [fragment_tree(stored.fragments[(segment, j)], manifest.chunk_size).root
             for j in range(manifest.fragment_count)]
    size = manifest.chunk_size
    return tuple(ChunkProof(i, data[i * size:(i + 1) * size], tree.path(i), tree.root,
                            segment_path(roots, fragment)).encode() for i in chunk_indices)


def free(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(Balances).free_balance(who)


def held(ext: TestExternalities, reason: object, who: bytes) -> int:
    return ext.pallet(Balances).balance_on_hold(reason, who)  # type: ignore[arg-type]
