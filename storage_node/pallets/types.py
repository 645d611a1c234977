"""The storage pallets' on-chain types: what ``StorageNodes``, ``FileBank`` and ``StorageAccess`` keep in state.

Pure, and shared on purpose: the daemon and the SDK decode the pallets' storage with these same codecs
(``NodeInfo.SCALE.decode(raw)``), so the bytes a client reads can never drift from the ones the runtime
writes. Field order is wire format (the metadata snapshot pins it).

SCALE layouts (version 1):

- ``NodeInfo``: ``endpoint: Vec<u8>, capacity: u64, used: u64, stake: u128, status: NodeStatus,
  audits_passed: u32, audits_missed: u32, consecutive_misses: u32, repairs_done: u32, registered_at: u32``;
- ``FileInfo``: the manifest's fields except its roots (``owner, version, salt, size, segment_size, k, m,
  chunk_size, encrypted``), then ``segment_count: u32, fragment_size: u32, last_fragment_size: u32,
  status: FileStatus, declared_at: u32, deposit: u128, healthy: u32, lost_segments: u32``;
- ``Challenge``: ``node, file_id, segment: u32, fragment: u16, chunk_indices: Vec<u32>, deadline: u32``;
- ``RepairOrder``: ``repairer: Option<AccountId>, created_at: u32, deadline: u32, reason: RepairReason``.

The manifest's segment roots live in ``FileBank.SegmentRoots`` (one entry per segment), so that checking one
audit proof reads one root, not a file's whole manifest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Annotated

from runtime.primitives import ACCOUNT_ID, AccountId, Balance, BlockNumber, Bytes
from runtime.scale import BOOL, H256, U8, U16, U32, U64, CEnum, FixedBytes, Option, Tuple, Vec, scale_struct
from storage_node.manifest import Manifest
from storage_node.params import SALT_LENGTH

__all__ = ["NodeStatus", "FileStatus", "RepairReason", "NodeHistory", "NodeInfo", "FileInfo", "Challenge",
           "RepairOrder",
           "FileId", "Segment", "FragmentIndex", "FragmentKey", "FRAGMENT_KEY", "NODE_STATUS", "FILE_STATUS", "REPAIR_REASON", "ACCOUNTS",
           "file_info_from"]

FileId = Annotated[bytes, H256, "FileId"]
Segment = Annotated[int, U32, "u32"]
FragmentIndex = Annotated[int, U16, "u16"]
ACCOUNTS = Vec(ACCOUNT_ID)
FRAGMENT_KEY = Tuple(H256, U32, U16)
"""``(file_id, segment, fragment)``: one stored fragment."""
FragmentKey = tuple[bytes, int, int]


class NodeStatus(enum.IntEnum):
    """Where a storage node stands: taking new fragments, leaving by choice, or pushed out by audits."""

    Active = 0
    Exiting = 1
    ForcedOut = 2


class FileStatus(enum.IntEnum):
    """``Pending`` until every fragment is confirmed once; then ``Active`` while every fragment is healthy,
    ``Degraded`` while some are missing but every segment keeps at least k, ``Lost`` while one has fewer."""

    Pending = 0
    Active = 1
    Degraded = 2
    Lost = 3

    @property
    def readable(self) -> bool:
        """Every segment keeps at least k confirmed fragments, so the file can be read (and be a job's input)."""
        return self in (FileStatus.Active, FileStatus.Degraded)


class RepairReason(enum.IntEnum):
    """Why a fragment is being rebuilt on another node."""

    AuditFailed = 0
    AuditMissed = 1
    NodeExit = 2
    ConfirmationMissed = 3


NODE_STATUS = CEnum(NodeStatus, ("pallet_storage_nodes", "types", "NodeStatus"))
FILE_STATUS = CEnum(FileStatus, ("pallet_file_bank", "types", "FileStatus"))
REPAIR_REASON = CEnum(RepairReason, ("pallet_file_bank", "types", "RepairReason"))

U32Count = Annotated[int, U32, "u32"]


@scale_struct("pallet_storage_nodes::types::NodeHistory")
@dataclass(frozen=True)
class NodeHistory:
    """The audit history an account keeps after its node left, restored when it registers a node again:
    leaving (or being forced out) must not wipe a bad record (a new node starts at the best reputation)."""

    audits_passed: U32Count
    audits_missed: U32Count
    repairs_done: U32Count


@scale_struct("pallet_storage_nodes::types::NodeInfo")
@dataclass(frozen=True)
class NodeInfo:
    """A registered storage node: where to reach it, what it offers and has taken, its stake and its audit
    history (the reputation placement weighs)."""

    endpoint: Bytes
    """Its HTTP base URL, UTF-8 (``http://host:port``)."""
    capacity: Annotated[int, U64, "u64"]
    """Bytes it offers."""
    used: Annotated[int, U64, "u64"]
    """Bytes of fragments assigned to it (confirmed or not)."""
    stake: Balance
    """Balance it has on hold as ``StorageNodes::NodeStake`` (less what was slashed)."""
    status: Annotated[NodeStatus, NODE_STATUS, "NodeStatus"]
    audits_passed: U32Count
    audits_missed: U32Count
    """Audits missed or failed, in all."""
    consecutive_misses: U32Count
    """Audits missed or failed since the last pass: ``MaxConsecutiveMisses`` of them force the node out."""
    repairs_done: U32Count
    registered_at: BlockNumber

    def free_capacity(self) -> int:
        return max(0, self.capacity - self.used)

    def reputation_permill(self) -> int:
        """Audits passed out of those taken, in thousandths, with one pass granted up front so a new node
        starts at 1000: ``1000 * (passed + 1) // (passed + missed + 1)``."""
        return 1000 * (self.audits_passed + 1) // (self.audits_passed + self.audits_missed + 1)

    def with_(self, **changes: object) -> "NodeInfo":
        return replace(self, **changes)

    def history(self) -> NodeHistory:
        return NodeHistory(self.audits_passed, self.audits_missed, self.repairs_done)


@scale_struct("pallet_file_bank::types::FileInfo")
@dataclass(frozen=True)
class FileInfo:
    """A declared file: its manifest's fields (less the segment roots), what it paid, and its health."""

    owner: AccountId
    version: Annotated[int, U8, "u8"]
    salt: Annotated[bytes, FixedBytes(SALT_LENGTH), "[u8; 16]"]
    size: Annotated[int, U64, "u64"]
    segment_size: U32Count
    k: Annotated[int, U8, "u8"]
    m: Annotated[int, U8, "u8"]
    chunk_size: U32Count
    encrypted: Annotated[bool, BOOL, "bool"]
    segment_count: U32Count
    fragment_size: U32Count
    """Bytes of each fragment of a full segment."""
    last_fragment_size: U32Count
    """Bytes of each fragment of the last segment."""
    status: Annotated[FileStatus, FILE_STATUS, "FileStatus"]
    declared_at: BlockNumber
    deposit: Balance
    """Held from the owner as ``FileBank::FileDeposit``; released by ``delete``."""
    healthy: U32Count
    """Fragments confirmed and not awaiting repair, over all segments."""
    lost_segments: U32Count
    """Segments with fewer than k healthy fragments (counted once the file was active)."""
    paid_until: BlockNumber = 0
    """The last block its storage is paid for: after it the file expires, unless someone renews it (``renew``)."""
    progress_at: BlockNumber = 0
    """While ``Pending``: the block of its latest confirmation, or of its declaration. An upload that makes none
    for ``UploadTimeout`` blocks is abandoned."""
    content: Annotated[bytes, H256, "H256"] = bytes(32)
    """The manifest's content digest (``Manifest.content_digest``): the same for two public files of the same
    bytes stored alike, whoever stored them. What lets the chain tell whether providers that agreed on a
    result's digest named files of those bytes."""

    @property
    def width(self) -> int:
        """Fragments per segment: k + m."""
        return self.k + self.m

    def fragment_size_of(self, segment: int) -> int:
        return self.last_fragment_size if segment == self.segment_count - 1 else self.fragment_size

    def chunk_count_of(self, segment: int) -> int:
        return -(-self.fragment_size_of(segment) // self.chunk_size)

    def stored_bytes(self) -> int:
        """Bytes of fragments the file occupies on nodes: (k + m) fragments per segment."""
        if self.segment_count == 0:
            return 0
        return self.width * ((self.segment_count - 1) * self.fragment_size + self.last_fragment_size)

    def manifest(self, segment_roots: tuple[bytes, ...]) -> Manifest:
        """The declared manifest again, given the roots from ``SegmentRoots`` (its id is the file id)."""
        return Manifest(self.version, self.owner, self.salt, self.size, self.segment_size, self.k, self.m,
                        self.chunk_size, self.encrypted, tuple(segment_roots))

    def with_(self, **changes: object) -> "FileInfo":
        return replace(self, **changes)


def file_info_from(manifest: Manifest, *, declared_at: int, deposit: int) -> FileInfo:
    """A new file's record: ``Pending``, nothing confirmed yet (an empty file is ``Active`` at once)."""
    count = manifest.segment_count()
    return FileInfo(
        owner=manifest.owner, version=manifest.version, salt=manifest.salt, size=manifest.size,
        segment_size=manifest.segment_size, k=manifest.k, m=manifest.m, chunk_size=manifest.chunk_size,
        encrypted=manifest.encrypted, segment_count=count,
        fragment_size=manifest.fragment_size(0) if count else 0,
        last_fragment_size=manifest.fragment_size(count - 1) if count else 0,
        status=FileStatus.Active if count == 0 else FileStatus.Pending, declared_at=declared_at, deposit=deposit,
        healthy=0, lost_segments=0, progress_at=declared_at, content=manifest.content_digest())


@scale_struct("pallet_file_bank::types::Challenge")
@dataclass(frozen=True)
class Challenge:
    """An open audit: ``node`` must prove chunks ``chunk_indices`` of one fragment by block ``deadline``."""

    node: AccountId
    file_id: FileId
    segment: Segment
    fragment: FragmentIndex
    chunk_indices: Annotated[tuple[int, ...], Vec(U32), "Vec<u32>"]
    deadline: BlockNumber
    """The last block in which ``submit_proof`` is accepted."""
    rounds_ppm: Annotated[int, U32, "u32"] = 1_000_000
    """The audit rounds a pass pays for, in millionths: the nodes that held fragments per node challenged in
    its round (1 while every holder is challenged each round), so that a node challenged one round in N is
    paid for N rounds and its expected reward is its bytes' fee, whatever the network's size."""


@scale_struct("pallet_file_bank::types::RepairOrder")
@dataclass(frozen=True)
class RepairOrder:
    """A fragment to rebuild: ``repairer`` fetches any k of the segment's fragments, rebuilds this one,
    stores it and calls ``confirm_repair`` by ``deadline``; otherwise another node is picked."""

    repairer: Annotated[bytes | None, Option(ACCOUNT_ID), "Option<AccountId>"]
    """``None`` while no node is eligible (all hold the segment or lack room), re-picked at the deadline; or not
    drawn yet (a failed proof's order, drawn at the next block's start)."""
    created_at: BlockNumber
    deadline: BlockNumber
    reason: Annotated[RepairReason, REPAIR_REASON, "RepairReason"]
