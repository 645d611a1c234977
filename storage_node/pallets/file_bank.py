"""FileBank: files, where their fragments live, the audits that prove they are still there, and repairs.

**Declare.** The owner submits a file's manifest (:class:`storage_node.manifest.Manifest`, SCALE). The
pallet checks it against the presets (segment and chunk size, at most ``max_fragments`` per segment and
``max_segments`` per file), takes a fee (``fee_per_byte_period`` × stored bytes × ``prepaid_periods``, into
the reward pool) and holds a deposit (``deposit_per_file``, ``deposit_per_fragment`` per fragment and
``deposit_per_byte`` per stored byte, back on ``delete``), where *stored bytes* are the k + m fragments of
every segment: the first two pay for the state a file holds on every validator, so that even an empty file or
a swarm of tiny ones costs its owner. It places each segment's fragments on k + m
distinct active nodes, weighted by stake × reputation among those with room, drawn from the parent block's
hash (:mod:`storage_node.pallets.selection`): ``FragmentsAssigned`` per segment.

**Confirm.** Each node confirms the fragments it stored. When every fragment is confirmed the file is
``Active`` (``FileActivated``). A fragment still unconfirmed ``confirm_deadline`` blocks after the latest
assignment in its segment is replaced: by a repair order when its segment already has k healthy fragments
(the repairer rebuilds it from them), otherwise by another node (``FragmentReassigned``) to which the
uploader pushes. Each segment has one deadline (``ConfirmDue``) however many of its fragments are late. An
upload that stops for good is not reassigned until its paid time ends: a pending file with no confirmation
for ``upload_timeout`` blocks, at a deadline of a segment that still lacks k, is dropped
(``UploadAbandoned``) and deleted as its owner's ``delete`` would.

**Audits.** Every ``audit_period`` blocks ``on_initialize`` draws, from the parent block's hash under
``DOMAIN_STORAGE_CHALLENGE``, up to ``challenges_per_audit`` nodes holding fragments, one fragment of each,
drawn by bytes (:mod:`storage_node.pallets.slot_weights`: a pass pays for every byte, so a node dropping its
largest fragment must be as likely caught as the share of its bytes it dropped; drawn again, up to
``AUDIT_DRAWS`` times, past one it need not answer for: not confirmed, under repair or challenged already),
and ``chunks_per_challenge`` chunks of it (``Challenged``). The node answers with ``submit_proof``
by the deadline, while the fragment is still placed on it; the runtime checks each chunk's Merkle path up
to the segment root on chain (:func:`storage_node.chunks.verify_chunk_proof`). A pass pays
``fee_per_byte_period`` × the node's *proven* bytes out of the reward pool (pro rata to bytes stored): the
fragments it confirmed and still holds, not those it was assigned and has not confirmed, nor those under
repair (``Proven``). In a network of more holders than ``challenges_per_audit`` a pass pays for as many
rounds as there are holders per challenge (``Challenge.rounds_ppm``), so rewards match fees in expectation.
A passing answer pays no transaction fee. A proof that does not verify, or none by the deadline, counts as a
miss in ``StorageNodes`` (slash, and a forced exit after repeated misses) and orders the fragment repaired
(a failed answer's order names its repairer from the next block on: drawing one reads every node, which that
block's ``on_initialize`` pays for once, where ``submit_proof``'s weight would charge it to every answer).
A fragment under repair is not drawn, except a leaving node's (its exit's orders): it is audited on what it
confirmed until the repairs move it, once at most for each fragment it fails.

**Repairs.** A repair order names a node that does not hold the segment (drawn like a placement); it fetches
any k fragments from the others, rebuilds the lost one, checks it against the root, stores it and calls
``confirm_repair``: the placement moves to it and it is paid ``repair_reward_per_byte`` × the fragment's
size out of the slashed stake. Where every active node holds the segment already, the order names the
fragment's own node, which rebuilds it in place, unpaid. An order not completed by its deadline goes to
another node. Exits and forced exits order every fragment of the leaving node repaired; an exit's repair of a
fragment under an open challenge is confirmed only once the challenge closes (``UnderChallenge``): moved
before, the challenge of a node that dropped its data and then left lapsed unpunished, and its stake went
back to it. A repairer copies a fragment straight from its node when that node still serves it (a leaving
node's, checked against its root like any), else rebuilds it from k others. A leaving node's fragment still
unrepaired ``exit_patience`` blocks after its order (no spare node, or one that cannot be rebuilt and is not
served) is let go of at its order's next deadline (``FragmentReleased``), unless under a challenge or unless
its copy is what the segment needs to keep k (with the healthy fragments and the copies other leaving nodes
hold, confirmed and not failed since): the order stays open and the fragment unhealthy, but the exit no longer
waits for it, so nobody can hold a node's stake for ever with a file that cannot be rebuilt. A copy the segment
needs holds its node until a node joins to move it to.

**Expiry.** The declare fee pays for ``prepaid_periods`` audit periods (``FileInfo.paid_until``). Anyone may
``renew`` a file, paying the same fee per period for more, up to ``max_paid_periods`` ahead; a file whose
paid time ends expires (``FileExpired``) and is deleted as its owner's ``delete`` would, so storage is paid
for as long as it is kept.

**Deletion.** ``delete`` gives the owner its deposit back, the nodes drop the fragments (``FileDeleted``) and
StorageAccess removes the file's grants (it learns of the deletion from ``take_deleted`` and reports the end
with ``forgotten``; until then the id is ``Retired`` and cannot be declared again, so no old grant ever
applies to a new file), unless the file is in use: other pallets :meth:`FileBank.pin` a file while something they run reads it (a
compute job its inputs, a federated round its delivered updates) and :meth:`FileBank.unpin` it after. The
owner's deletion of a pinned file waits for its last use to end (``FileDeletionDeferred``); meanwhile the
file is readable as before but takes no new use. A use is bounded by its job's or round's deadline, so the
wait is too. Another pallet may also :meth:`FileBank.lock` a file that others paid for (a verified compute
job's outputs, which belong to the provider that uploaded them and were bought by the job's submitter): its
owner may not delete it any more (``FileLocked``) nor revoke its grants, and it goes only when its paid time
ends, which anyone may extend.

**Health.** ``Confirmed`` marks the fragments that are stored and not awaiting repair. Once active, a file is
``Active`` while all are, ``Degraded`` while every segment keeps at least k, ``Lost`` while one has fewer.

``on_initialize`` is bounded: at most ``max_expiries_per_block`` deadlines (challenges, confirmations,
repairs, leaving nodes' fragments) and ``max_reaped_per_block`` fragments of deleted files per block; what
is left waits for the next block, queued where it was (:mod:`runtime.frame.due`: a backlog is not rewritten at
every block).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from dataclasses import dataclass
from typing import Annotated, Callable, Container, Iterable, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.due import DueQueue
from runtime.frame.pallet import (
    FEE_WAIVED, Constant, DispatchError, Origin, Pallet, PostDispatchInfo, call, ensure_signed, refusals_weigh)
from runtime.frame.storage import Hasher, StorageDoubleMap, StorageMap, StorageValue
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, BlockNumber, Bytes, Weight
from runtime.scale import BOOL, BYTES, H256, U16, U32, U64, U128, UNIT, Option, Tuple, Vec
from storage_node.chunks import ChunkProof, ProofFormatError, verify_chunk_proof
from storage_node.manifest import Manifest, ManifestError
from storage_node.pallets.rpc import FILE_BANK_RPC
from storage_node.pallets.selection import Candidates, challenge_seed, draw, placement_seed, sample_indices
from storage_node.pallets.slot_weights import SlotWeights
from storage_node.pallets.types import (
    ACCOUNTS,
    FRAGMENT_KEY,
    Challenge,
    FileId,
    FileInfo,
    FileStatus,
    FragmentIndex,
    FragmentKey,
    NodeInfo,
    NodeStatus,
    RepairOrder,
    RepairReason,
    FILE_STATUS,
    REPAIR_REASON,
    Segment,
    file_info_from,
)
from storage_node.pallets.weights import FileBankWeightInfo, FileBankWeights

__all__ = ["FileBank", "FileBankConfig", "FileBankParams", "HoldReason", "DEFINITION", "NodeRegistry", "BlockHashes",
           "FileCurrency", "FileDeclared", "FragmentsAssigned", "FileActivated", "FileStatusChanged",
           "FragmentReassigned", "FileDeleted", "FileExpired", "FileRenewed", "UploadAbandoned", "Challenged", "AuditPassed", "AuditFailed", "AuditMissed",
           "RepairOrdered", "RepairCompleted", "BadManifest", "NotFileOwner", "FileExists", "UnknownFile",
           "WrongSegmentSize", "WrongChunkSize", "TooManyFragments", "TooManySegments", "NotEnoughNodes",
           "InsufficientFunds", "BadFragmentIndex", "NotAssigned", "AlreadyConfirmed", "DuplicateFragment",
           "TooManyConfirmations", "UnderRepair", "UnknownChallenge", "NotChallenged", "ChallengeExpired",
           "WrongProofCount", "MalformedProof", "WrongChunk", "NoRepairOrder", "NotRepairer", "NoCapacity",
           "AlreadyHoldsSegment", "FileLocked"]


class HoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    FileDeposit = 0


PPM = 1_000_000
"""Millionths: the unit of ``Challenge.rounds_ppm`` (1,000 nodes over 64 challenges is 15.6 rounds)."""


class NodeRegistry(Protocol):
    """What FileBank needs of ``StorageNodes``."""

    def max_nodes(self) -> int: ...
    def node(self, who: bytes) -> NodeInfo | None: ...
    def all_nodes(self) -> list[tuple[bytes, NodeInfo]]: ...
    def assign(self, who: bytes, size: int) -> None: ...
    def unassign(self, who: bytes, size: int) -> None: ...
    def record_pass(self, who: bytes) -> None: ...
    def record_miss(self, who: bytes) -> None: ...
    def record_repair(self, who: bytes) -> None: ...
    def pay_from_slashed(self, who: bytes, amount: int) -> int: ...
    def take_leaving(self) -> tuple[bytes, ...]: ...


class BlockHashes(Protocol):
    """Recent block hashes (System): the chain's randomness."""

    def known_block_hash(self, number: int) -> bytes | None: ...


class FileCurrency(HoldCurrency, Protocol):
    """Deposits on hold, fees withdrawn, rewards minted (Balances)."""

    def can_withdraw(self, who: bytes, amount: int) -> bool: ...
    def withdraw(self, who: bytes, amount: int) -> None: ...
    def deposit(self, who: bytes, amount: int) -> None: ...


@dataclass(frozen=True)
class FileBankParams:
    segment_size: int = 8 << 20
    """8 MiB of plaintext per segment: a client codes, and a node serves, one segment's fragments from memory,
    and a 1 GiB file needs 128 segments (128 × 32 bytes of roots on chain)."""
    default_k: int = 3
    """Any 3 fragments rebuild a segment (the SDK's default; a manifest may choose other k and m)."""
    default_m: int = 2
    """Two parity fragments: 5 fragments per segment on a 6-node devnet leave one node free to take a repair,
    and a segment survives two lost nodes at 1.67x overhead."""
    chunk_size: int = 16384
    """Bytes per audited chunk, 16 KiB: every chunk is a Merkle leaf that the uploader, each storage node
    and each download hash on their own, and CPython's BLAKE3 hashes 16 KiB leaves at ~5 GB/s against ~1.5 at
    4 KiB (a call per leaf, fewer SIMD lanes per call). At 4 KiB the hashing was the largest CPU item of an
    upload and kept a 1 GiB upload a slot longer. A proof carries the chunk plus 12 hashes (16.8 KB on chain,
    16 µs to verify)."""
    max_fragments: int = 16
    """Most k + m: placement needs that many distinct nodes, and a declare's weight grows with it."""
    max_segments: int = 1024
    """Segments per file (8 GiB at 8 MiB): a declare places every fragment in one extrinsic, ~0.5 ms per
    segment at k + m = 5, so larger files are declared as several."""
    max_confirmations: int = 256
    """Fragments one ``confirm`` may name (a node batches its confirmations)."""
    audit_period: int = 300
    """Blocks between audit rounds: 10 minutes at 2 s blocks, 144 rounds a day."""
    challenges_per_audit: int = 64
    """Nodes challenged per round: every node of a network up to this size is audited each round, and a
    round's weight stays ~5 ms."""
    chunks_per_challenge: int = 4
    """Chunks per challenge: four random chunks catch a node that dropped 50% of a fragment with probability
    94%, for 67 KB of proof."""
    proof_deadline: int = 50
    """Blocks a node has to answer (100 s): it waits for finality, reads 4 chunks and submits."""
    confirm_deadline: int = 150
    """Blocks after assignment by which a node confirms its fragment (5 min): enough to receive a full 8 MiB
    segment's fragment on a slow link; after it, the fragment goes elsewhere."""
    upload_timeout: int = 900
    """Blocks a pending file may go without any confirmation, while one of its segments lacks k, before its
    declaration is dropped (30 min, six confirm deadlines; the SDK stops waiting after 10): its uploader is gone,
    and without this its fragments would be reassigned every ``confirm_deadline`` until its paid time ends."""
    repair_deadline: int = 300
    """Blocks a repairer has to fetch k fragments, rebuild, store and confirm (10 min)."""
    exit_patience: int = 900
    """Blocks a leaving node's fragment waits for its repair before the node is let go of it (30 min, three
    repair deadlines): a segment nobody can rebuild (below k, or fragments that do not decode as one code)
    or with no spare node must not hold the node's stake for ever. The fragment stays unhealthy, ordered."""
    fee_per_byte_period: int = 6
    """Planck per stored byte per audit period: ~1 token per GiB of fragments per day (144 periods), what
    a node earns per passed audit per byte it stores."""
    prepaid_periods: int = 4_320
    """Audit periods the declare fee pays for: 30 days; ``renew`` pays for more."""
    max_paid_periods: int = 52_560
    """Audit periods a file may be paid for ahead at most (a year): bounds how far the expiry queue reaches."""
    deposit_per_byte: int = 1_000
    """Planck held per stored byte (~1 token per GiB) until the file is deleted: makes abandoned files cost
    their owner."""
    deposit_per_file: int = 10_000_000_000
    """Planck held per file (0.01 token): its record and manifest summary (~300 bytes of state on every
    validator), which a byte-priced deposit alone leaves free for an empty file."""
    deposit_per_fragment: int = 100_000_000
    """Planck held per fragment (0.0001 token): its placement, confirmation and node index (~110 bytes of
    state), which the bytes of a small file's fragment hold next to nothing for."""
    repair_reward_per_byte: int = 1_000
    """Planck per rebuilt byte paid to a repairer out of the slashed stake: a 2.8 MB fragment earns ~2.8
    milli-tokens, so one 5% slash of the least stake (5 tokens) pays ~1,800 repairs."""
    max_expiries_per_block: int = 64
    """Deadlines handled per block (each a few writes and maybe a placement): bounds ``on_initialize`` to
    ~5 ms; the rest wait a block."""
    max_reaped_per_block: int = 256
    """Fragments of deleted files unindexed per block."""


@dataclass(frozen=True)
class FileBankConfig:
    nodes: NodeRegistry
    chain: BlockHashes
    currency: FileCurrency
    weights: FileBankWeightInfo
    segment_size: int
    default_k: int
    default_m: int
    chunk_size: int
    max_fragments: int
    max_segments: int
    max_confirmations: int
    audit_period: int
    challenges_per_audit: int
    chunks_per_challenge: int
    proof_deadline: int
    confirm_deadline: int
    upload_timeout: int
    repair_deadline: int
    exit_patience: int
    fee_per_byte_period: int
    prepaid_periods: int
    max_paid_periods: int
    deposit_per_byte: int
    deposit_per_file: int
    deposit_per_fragment: int
    repair_reward_per_byte: int
    max_expiries_per_block: int
    max_reaped_per_block: int


AUDIT_DRAWS = 4
"""Fragments drawn per challenged node until one it must answer for (confirmed, not under repair, not
challenged already): a node with many uploads still unconfirmed is audited on what it holds all the same."""


# --- events ---------------------------------------------------------------------------------------

ChallengeId = Annotated[int, U64, "u64"]
Reward = Annotated[int, U128, "Balance"]


@dataclass(frozen=True)
class FileDeclared:
    """A file was declared; its fragments are assigned (``FragmentsAssigned`` follows, one per segment)."""

    file_id: FileId
    owner: AccountId
    size: Annotated[int, U64, "u64"]


@dataclass(frozen=True)
class FragmentsAssigned:
    """Segment ``segment``'s fragments go to ``nodes`` (index = fragment index)."""

    file_id: FileId
    segment: Segment
    nodes: Annotated[tuple[bytes, ...], ACCOUNTS, "Vec<AccountId>"]


@dataclass(frozen=True)
class FileActivated:
    """Every fragment of the file is confirmed."""

    file_id: FileId


@dataclass(frozen=True)
class FileStatusChanged:
    """An active file became degraded or lost, or recovered."""

    file_id: FileId
    status: Annotated[FileStatus, FILE_STATUS, "FileStatus"]


@dataclass(frozen=True)
class _FragmentEvent:
    """The ``{ file_id, segment, fragment }`` fields the events about one fragment start with (each event stays
    its own class)."""

    file_id: FileId
    segment: Segment
    fragment: FragmentIndex


@dataclass(frozen=True)
class FragmentReassigned(_FragmentEvent):
    """A fragment not confirmed in time moves from ``from`` to ``to``; the uploader pushes it there."""

    from_: AccountId
    to: AccountId
    WIRE_NAMES = {"from_": "from"}


@dataclass(frozen=True)
class FileDeleted:
    """The owner deleted the file: nodes drop its fragments."""

    file_id: FileId


@dataclass(frozen=True)
class UploadAbandoned:
    """No fragment of the pending file was confirmed for ``UploadTimeout`` blocks while a segment still lacked
    k: its uploader is gone. It is deleted as ``delete`` would (the deposit goes back; the fee stays paid)."""

    file_id: FileId


@dataclass(frozen=True)
class FileExpired:
    """The file's paid storage ended without a renewal: it is deleted (or, in use, once its last use ends)."""

    file_id: FileId


@dataclass(frozen=True)
class FileRenewed:
    """``payer`` paid for more of the file's storage: it is now paid until block ``paid_until``."""

    file_id: FileId
    payer: AccountId
    paid_until: BlockNumber


@dataclass(frozen=True)
class FileDeletionDeferred:
    """The owner deleted the file while ``uses`` runs read it: it is deleted when the last of them ends."""

    file_id: FileId
    uses: Annotated[int, U32, "u32"]


@dataclass(frozen=True)
class Challenged:
    """``node`` must prove ``chunk_indices`` of one of its fragments by block ``deadline``."""

    challenge_id: ChallengeId
    node: AccountId
    file_id: FileId
    segment: Segment
    fragment: FragmentIndex
    chunk_indices: Annotated[tuple[int, ...], Vec(U32), "Vec<u32>"]
    deadline: Annotated[int, U32, "BlockNumberFor<T>"]


@dataclass(frozen=True)
class AuditPassed:
    """A proof verified; ``node`` was paid ``reward`` for the bytes it stores."""

    challenge_id: ChallengeId
    node: AccountId
    reward: Reward


@dataclass(frozen=True)
class AuditFailed:
    """A proof did not verify: the node is slashed and the fragment repaired."""

    challenge_id: ChallengeId
    node: AccountId


@dataclass(frozen=True)
class AuditMissed:
    """No proof by the deadline: the node is slashed and the fragment repaired."""

    challenge_id: ChallengeId
    node: AccountId


@dataclass(frozen=True)
class RepairOrdered(_FragmentEvent):
    """A fragment is to be rebuilt by ``repairer`` (``None``: no node is eligible yet, retried later; or, for a
    failed proof, one is drawn at the next block's start)."""

    repairer: Annotated[bytes | None, Option(ACCOUNT_ID), "Option<AccountId>"]
    reason: Annotated[RepairReason, REPAIR_REASON, "RepairReason"]


@dataclass(frozen=True)
class RepairCompleted(_FragmentEvent):
    """``repairer`` rebuilt and stored a fragment; the placement moved to it and it was paid ``reward``."""

    repairer: AccountId
    reward: Reward


@dataclass(frozen=True)
class FragmentReleased(_FragmentEvent):
    """A leaving ``node`` waited ``ExitPatience`` for the fragment's repair and no longer holds it (its exit may
    end); the fragment stays unhealthy, its repair ordered."""

    node: AccountId


# --- errors ---------------------------------------------------------------------------------------


class BadManifest(DispatchError):
    """The manifest does not decode, or its fields contradict each other."""


class NotFileOwner(DispatchError):
    """Only the file's owner may do this (and a manifest's owner must be its signer)."""


class FileExists(DispatchError):
    """A file with this manifest is already declared (or, deleted, is still being reaped or its grants
    removed)."""


class UnknownFile(DispatchError):
    """No such file."""


class WrongSegmentSize(DispatchError):
    """The manifest's segment size is not ``SegmentSize``."""


class WrongChunkSize(DispatchError):
    """The manifest's chunk size is not ``ChunkSize``."""


class TooManyFragments(DispatchError):
    """k + m exceeds ``MaxFragments``."""


class TooManySegments(DispatchError):
    """The file has more than ``MaxSegments`` segments."""


class NotEnoughNodes(DispatchError):
    """Too few active nodes with room to place k + m distinct fragments per segment."""


class InsufficientFunds(DispatchError):
    """The owner cannot pay the fee and the deposit."""


class BadFragmentIndex(DispatchError):
    """No such segment or fragment in this file."""


class NotAssigned(DispatchError):
    """The fragment is not assigned to the signer (or the signer is no longer an active node: a leaving or
    forced-out node's unconfirmed fragments go to other nodes, or are rebuilt there)."""


class AlreadyConfirmed(DispatchError):
    """The fragment is already confirmed."""


class DuplicateFragment(DispatchError):
    """The same fragment is named twice."""


class TooManyConfirmations(DispatchError):
    """A confirmation names no fragment, or more than ``MaxConfirmations``."""


class UnderRepair(DispatchError):
    """The fragment awaits repair by another node."""


class UnknownChallenge(DispatchError):
    """No open challenge with this id."""


class NotChallenged(DispatchError):
    """The challenge is addressed to another node."""


class ChallengeExpired(DispatchError):
    """The challenge's deadline has passed."""


class WrongProofCount(DispatchError):
    """One proof per challenged chunk, in order."""


class MalformedProof(DispatchError):
    """A proof does not decode as a chunk proof."""


class WrongChunk(DispatchError):
    """A proof is for another chunk than the one challenged at its position."""


class NoRepairOrder(DispatchError):
    """No open repair order for this fragment."""


class NotRepairer(DispatchError):
    """The repair order names another node (or the signer is no longer an active node)."""


class NoCapacity(DispatchError):
    """The repairer has no room left for the fragment."""


class AlreadyHoldsSegment(DispatchError):
    """The repairer already holds another fragment of this segment."""


class DeletionPending(DispatchError):
    """The file is already to be deleted once its last use ends."""


class BadPeriods(DispatchError):
    """A renewal of no period, or one that would pay further ahead than ``MaxPaidPeriods``."""


class FileLocked(DispatchError):
    """The file is locked (a verified job's output): its owner may not delete it; it goes when its paid time
    ends, which anyone may extend with ``renew``."""


class UnderChallenge(DispatchError):
    """The fragment's leaving node has an open challenge of it: the repair may move it once the challenge is
    answered or expired (moved before, the node that dropped its data escaped the miss by leaving)."""


class NoLongerHeld(DispatchError):
    """The challenged fragment has moved off this node since (repaired elsewhere): there is nothing left for
    it to prove, and no proof of it, good or bad, counts."""


# --- placement over one block's view of the nodes --------------------------------------------------


class _Placer:
    """The active nodes as one block sees them, with their free capacity as fragments are placed. A node
    that stops being active during the block (forced out by a missed audit) is passed over: ``still_active``
    reads its status when it is drawn."""

    def __init__(self, nodes: list[tuple[bytes, NodeInfo]], parent_hash: bytes,
                 still_active: Callable[[bytes], bool]) -> None:
        self.nodes_read = len(nodes)
        active = [(who, node) for who, node in nodes if node.status is NodeStatus.Active]
        self.candidates = Candidates.of((who, node.stake * node.reputation_permill()) for who, node in active)
        self.free = {who: node.free_capacity() for who, node in active}
        self.parent_hash = parent_hash
        self.still_active = still_active

    def pick(self, file_id: bytes, label: bytes, excluded: Container[bytes], size: int) -> bytes | None:
        """A node for a ``size``-byte fragment, not in ``excluded``; its free capacity is taken."""
        chosen = self.candidates.pick(placement_seed(self.parent_hash, file_id), label, excluded,
                                      lambda who: self.free[who] >= size and self.still_active(who))
        if chosen is not None:
            self.free[chosen] -= size
        return chosen


def _label(segment: int, fragment: int, block: int = 0) -> bytes:
    return segment.to_bytes(4, "little") + fragment.to_bytes(2, "little") + block.to_bytes(4, "little")


@dataclass(frozen=True)
class _Declared:
    """A declared file's id and, for its call's actual weight, ``(segments, k + m, registered nodes read)``."""

    file_id: bytes
    shape: tuple[int, int, int]


def _declare_shape(manifest: bytes) -> tuple[int, int]:
    """(segments, k + m) of a manifest, for its weight; (0, 0) if it does not decode (the call fails early)."""
    try:
        parsed = Manifest.decode(manifest)
    except ManifestError:
        return 0, 0
    return parsed.segment_count(), parsed.fragment_count


FragmentList = Annotated[tuple[tuple[int, int], ...], Vec(Tuple(U32, U16)), "Vec<(u32, u16)>"]
Proofs = Annotated[tuple[bytes, ...], Vec(BYTES), "Vec<Vec<u8>>"]


class FileBank(Pallet[FileBankConfig]):
    NAME = "FileBank"
    CRATE = "pallet_file_bank"
    HOLD_REASONS = HoldReason
    EVENTS = (FileDeclared, FragmentsAssigned, FileActivated, FileStatusChanged, FragmentReassigned, FileDeleted,
              FileDeletionDeferred, Challenged, AuditPassed, AuditFailed, AuditMissed, RepairOrdered, RepairCompleted,
              FileExpired, FileRenewed, UploadAbandoned, FragmentReleased)
    ERRORS = (BadManifest, NotFileOwner, FileExists, UnknownFile, WrongSegmentSize, WrongChunkSize, TooManyFragments,
              TooManySegments, NotEnoughNodes, InsufficientFunds, BadFragmentIndex, NotAssigned, AlreadyConfirmed,
              DuplicateFragment, TooManyConfirmations, UnderRepair, UnknownChallenge, NotChallenged,
              ChallengeExpired, WrongProofCount, MalformedProof, WrongChunk, NoRepairOrder, NotRepairer, NoCapacity,
              AlreadyHoldsSegment, DeletionPending, NoLongerHeld, BadPeriods, FileLocked, UnderChallenge)
    CONSTANTS = tuple(Constant(name, codec, (lambda c, f=field: getattr(c, f)), doc) for name, field, codec, doc in (
        ("SegmentSize", "segment_size", U32, "Plaintext bytes per segment a manifest must use."),
        ("DefaultK", "default_k", U32, "Data fragments per segment the SDK uses by default."),
        ("DefaultM", "default_m", U32, "Parity fragments per segment the SDK uses by default."),
        ("ChunkSize", "chunk_size", U32, "Bytes per audited chunk a manifest must use."),
        ("MaxFragments", "max_fragments", U32, "Most k + m."),
        ("MaxSegments", "max_segments", U32, "Most segments per file."),
        ("MaxConfirmations", "max_confirmations", U32, "Fragments one confirm may name at most."),
        ("AuditPeriod", "audit_period", U32, "Blocks between audit rounds."),
        ("ChunksPerChallenge", "chunks_per_challenge", U32, "Chunks each challenge asks for."),
        ("ProofDeadline", "proof_deadline", U32, "Blocks a node has to answer a challenge."),
        ("ConfirmDeadline", "confirm_deadline", U32, "Blocks a node has to confirm an assigned fragment."),
        ("UploadTimeout", "upload_timeout", U32, "Blocks a pending file may go without a confirmation before it is "
                                                 "abandoned."),
        ("RepairDeadline", "repair_deadline", U32, "Blocks a repairer has to confirm a repair."),
        ("ExitPatience", "exit_patience", U32, "Blocks a leaving node's fragment waits for its repair before the "
                                               "node is let go of it."),
        ("FeePerBytePeriod", "fee_per_byte_period", U128, "Fee per stored byte per audit period."),
        ("PrepaidPeriods", "prepaid_periods", U32, "Audit periods the declare fee pays for."),
        ("MaxPaidPeriods", "max_paid_periods", U32, "Audit periods a file may be paid for ahead at most."),
        ("DepositPerByte", "deposit_per_byte", U128, "Deposit held per stored byte until deletion."),
        ("DepositPerFile", "deposit_per_file", U128, "Deposit held per file until deletion."),
        ("DepositPerFragment", "deposit_per_fragment", U128, "Deposit held per fragment until deletion."),
    ))

    files = StorageMap(H256, FileInfo, docs="Every declared file, by id.")
    files_of = StorageDoubleMap(ACCOUNT_ID, H256, UNIT, docs="The files of each owner.")
    segment_roots = StorageDoubleMap(H256, U32, H256, docs="Each segment's root (the manifest's `segment_roots`).")
    placements = StorageDoubleMap(H256, U32, ACCOUNTS, docs="The node of each fragment of a segment (index = fragment).")
    confirmed = StorageDoubleMap(H256, U32, Vec(BOOL),
                                 docs="Which fragments of a segment are stored and not awaiting repair.")
    challenges = StorageMap(U64, Challenge, hasher=Hasher.Twox64Concat, docs="Open audit challenges.")
    challenged = StorageDoubleMap(H256, Tuple(U32, U16), U32, default=0,
                                  docs="Open challenges of each fragment: a leaving node's repair may not move one "
                                       "before they close.")
    next_challenge_id = StorageValue(U64, default=0, docs="The id the next challenge gets.")
    repair_orders = StorageDoubleMap(H256, Tuple(U32, U16), RepairOrder,
                                     docs="Open repair orders by (file, (segment, fragment)).")
    fragments_of = StorageDoubleMap(ACCOUNT_ID, FRAGMENT_KEY, U32,
                                    docs="Each node's fragments, with their slot in `NodeFragments`.")
    node_fragments = StorageDoubleMap(ACCOUNT_ID, U32, FRAGMENT_KEY, hasher2=Hasher.Twox64Concat,
                                      docs="Each node's fragments by slot 0..`FragmentCount` (audits draw a slot).")
    fragment_count = StorageMap(ACCOUNT_ID, U32, default=0, docs="How many fragments each node holds.")
    slot_weights = StorageDoubleMap(ACCOUNT_ID, U32, U64, hasher2=Hasher.Twox64Concat, default=0,
                                    docs="Each node's fragment sizes by slot, as a Fenwick tree (entries "
                                         "1..`FragmentCount`): audits draw a slot by bytes.")
    proven = StorageMap(ACCOUNT_ID, U64, default=0,
                        docs="Bytes of the fragments each node confirmed and still holds, none under repair: "
                             "what an audit pass pays for.")
    reward_pool = StorageValue(U128, default=0, docs="Fees collected and not yet paid to audited nodes.")
    exits = StorageMap(ACCOUNT_ID, U32, docs="Leaving nodes, with how many of their fragments are still to order repaired.")
    reaping = StorageMap(H256, Tuple(FileInfo.SCALE, U32),  # type: ignore[attr-defined]
                         docs="Deleted files whose fragments are being unindexed, with the segments left.")
    pins = StorageMap(H256, U32, default=0, docs="Files in use by other pallets' runs, with how many uses.")
    deleting = StorageMap(H256, UNIT, docs="Pinned files their owner deleted: deleted at their last unpin.")
    locked = StorageMap(H256, UNIT, docs="Files their owner may not delete (verified jobs' outputs): they go when "
                                         "their paid time ends.")
    embargoed = StorageMap(H256, UNIT, docs="Files their nodes serve to their owner and repairers only, until "
                                            "released (job outputs until their job ends).")
    deleted = StorageValue(Vec(H256), default=(),
                           docs="Files deleted since StorageAccess last looked (it then removes their grants).")
    retired = StorageMap(H256, UNIT, docs="Deleted files whose grants StorageAccess has not finished removing: "
                                          "their ids may not be declared again until it has.")
    file_expiries = StorageMap(U32, Vec(H256), hasher=Hasher.Twox64Concat, default=(),
                               docs="Files whose paid storage ended at the block before each block (a renewed "
                                    "file's earlier entry is skipped).")
    challenge_expiries = StorageMap(U32, Vec(U64), hasher=Hasher.Twox64Concat, default=(),
                                    docs="Challenges whose deadline passed by each block.")
    confirm_expiries = StorageMap(U32, Vec(Tuple(H256, U32)), hasher=Hasher.Twox64Concat, default=(),
                                  docs="Segments whose fragments must be confirmed by each block.")
    confirm_due = StorageDoubleMap(H256, U32, U32, docs="Each uploading segment's confirmation deadline: a segment "
                                   "queued in `ConfirmExpiries` for an earlier block is not due yet.")
    repair_expiries = StorageMap(U32, Vec(FRAGMENT_KEY), hasher=Hasher.Twox64Concat, default=(),
                                 docs="Repair orders whose deadline passes at each block.")
    file_expiries_cursor = StorageValue(U32, docs="The oldest block of `FileExpiries` that may still hold files.")
    challenge_expiries_cursor = StorageValue(U32, docs="The oldest block of `ChallengeExpiries` that may still hold "
                                                       "challenges.")
    confirm_expiries_cursor = StorageValue(U32, docs="The oldest block of `ConfirmExpiries` that may still hold "
                                                     "segments.")
    repair_expiries_cursor = StorageValue(U32, docs="The oldest block of `RepairExpiries` that may still hold "
                                                    "orders.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, manifest: w.declare(*_declare_shape(manifest), manifest_bytes=len(manifest)))
    def declare(self, origin: Origin, manifest: Bytes) -> PostDispatchInfo:
        """Declare a file by its SCALE manifest: pay its fee, hold its deposit, place its fragments."""
        declared = self._declare(ensure_signed(origin), manifest, self.config.weights.declare)
        return PostDispatchInfo(actual_weight=self.config.weights.declare(*declared.shape,
                                                                          manifest_bytes=len(manifest)))

    @call(6, weight=lambda w, manifest: w.declare_embargoed(*_declare_shape(manifest), manifest_bytes=len(manifest)))
    def declare_embargoed(self, origin: Origin, manifest: Bytes) -> PostDispatchInfo:
        """:meth:`declare` a file under embargo: its nodes serve it to its owner and its repairers only, public or
        not, until a pallet releases it (ComputeJobs does when the job naming it ends). A provider uploads a public
        job output so during the commit phase: readable then, it let a co-assigned provider that had not
        committed yet copy the result rather than run the job."""
        declared = self._declare(ensure_signed(origin), manifest, self.config.weights.declare_embargoed)
        self.embargoed.insert(declared.file_id, ())
        return PostDispatchInfo(actual_weight=self.config.weights.declare_embargoed(*declared.shape,
                                                                                    manifest_bytes=len(manifest)))

    def _declare(self, owner: bytes, manifest: bytes, weight_of: Callable[..., Weight]) -> _Declared:
        """The checks and effects of a declaration. A refusal says what it used (``weight_of(segments, k + m,
        nodes read, manifest_bytes=...)``, its call's weight): a manifest that does not decode, only its decoding;
        no node record read before the placing, every one from then on."""
        cfg = self.config
        length = len(manifest)
        try:
            parsed = Manifest.decode(manifest)
        except ManifestError as exc:
            raise BadManifest(str(exc)).with_actual_weight(weight_of(0, 0, 0, manifest_bytes=length)) from None
        with refusals_weigh(lambda: weight_of(parsed.segment_count(), parsed.fragment_count, 0, manifest_bytes=length)):
            if parsed.owner != owner:
                raise NotFileOwner()
            if parsed.segment_size != cfg.segment_size:
                raise WrongSegmentSize()
            if parsed.chunk_size != cfg.chunk_size:
                raise WrongChunkSize()
            if parsed.fragment_count > cfg.max_fragments:
                raise TooManyFragments()
            if parsed.segment_count() > cfg.max_segments:
                raise TooManySegments()
            file_id = parsed.file_id()
            if self.files.contains(file_id) or self.reaping.contains(file_id) or self.retired.contains(file_id):
                raise FileExists()
            n = self.block_number()
            info = file_info_from(parsed, declared_at=n, deposit=0)
            stored = info.stored_bytes()
            fee = cfg.fee_per_byte_period * stored * cfg.prepaid_periods
            deposit = (cfg.deposit_per_file + cfg.deposit_per_fragment * info.segment_count * info.width
                       + cfg.deposit_per_byte * stored)
            if not cfg.currency.can_withdraw(owner, fee + deposit):
                raise InsufficientFunds()
        placer = self._placer() if info.segment_count else None
        shape = (info.segment_count, info.width, 0 if placer is None else placer.nodes_read)
        with refusals_weigh(lambda: weight_of(*shape, manifest_bytes=length)):
            placements = []
            for segment in range(info.segment_count):
                assert placer is not None
                chosen: list[bytes] = []
                for fragment in range(info.width):
                    node = placer.pick(file_id, _label(segment, fragment), chosen, info.fragment_size_of(segment))
                    if node is None:
                        raise NotEnoughNodes()
                    chosen.append(node)
                placements.append(tuple(chosen))
            # EFFECTS
            if fee:
                cfg.currency.withdraw(owner, fee)
                self.reward_pool.put(self.reward_pool.get() + fee)
            cfg.currency.hold(HoldReason.FileDeposit, owner, deposit)
        paid_until = n + cfg.prepaid_periods * cfg.audit_period
        self.files.insert(file_id, info.with_(deposit=deposit, paid_until=paid_until))
        self._expire_at(file_id, paid_until)
        self.files_of.insert(owner, file_id, ())
        self.deposit_event(FileDeclared(file_id, owner, parsed.size))
        for segment, nodes in enumerate(placements):
            self.segment_roots.insert(file_id, segment, parsed.segment_roots[segment])
            self.placements.insert(file_id, segment, nodes)
            self.confirmed.insert(file_id, segment, (False,) * info.width)
            for fragment, node in enumerate(nodes):
                self._add_fragment(node, (file_id, segment, fragment), info.fragment_size_of(segment))
            self.deposit_event(FragmentsAssigned(file_id, segment, nodes))
        if placements:
            self._await_confirmations(file_id, range(len(placements)), n + cfg.confirm_deadline)
        else:
            self.deposit_event(FileActivated(file_id))
        return _Declared(file_id, shape)

    @call(1, weight=lambda w, file_id, fragments: w.confirm(len(fragments)))
    def confirm(self, origin: Origin, file_id: FileId, fragments: FragmentList) -> None:
        """Confirm that the signer stored these fragments of ``file_id`` (``(segment, fragment)`` pairs)."""
        who = ensure_signed(origin)
        if not 0 < len(fragments) <= self.config.max_confirmations:
            raise TooManyConfirmations()
        if len(set(fragments)) != len(fragments):
            raise DuplicateFragment()
        info = self._file(file_id)
        node = self.config.nodes.node(who)
        if node is None or node.status is not NodeStatus.Active:
            raise NotAssigned()  # its confirmation would leave a fragment on a node audits or exits pass over
        by_segment: dict[int, list[int]] = {}
        for segment, fragment in fragments:
            if not (segment < info.segment_count and fragment < info.width):
                raise BadFragmentIndex()
            if self.placements.get(file_id, segment)[fragment] != who:
                raise NotAssigned()
            if self.confirmed.get(file_id, segment)[fragment]:
                raise AlreadyConfirmed()
            if self.repair_orders.contains(file_id, (segment, fragment)):
                raise UnderRepair()
            by_segment.setdefault(segment, []).append(fragment)
        for segment, indices in by_segment.items():
            info = self._set_confirmed(file_id, info, segment, indices, True)
        self._store_file(file_id, info)

    @call(2, weight=lambda w, file_id: w.delete())
    def delete(self, origin: Origin, file_id: FileId) -> None:
        """Delete a file (owner only): its deposit is released; nodes drop its fragments. A file in use is
        deleted when its last use ends."""
        who = ensure_signed(origin)
        info = self._file(file_id)
        if info.owner != who:
            raise NotFileOwner()
        if self.deleting.contains(file_id):
            raise DeletionPending()
        if self.locked.contains(file_id):
            raise FileLocked()
        # EFFECTS
        self._delete(file_id, info)

    @call(5, weight=lambda w, file_id, periods: w.renew())
    def renew(self, origin: Origin, file_id: FileId, periods: Annotated[int, U32, "u32"]) -> None:
        """Pay for ``periods`` more audit periods of the file's storage (anyone may: a public dataset's users
        can keep it), at the declare fee's rate."""
        payer = ensure_signed(origin)
        cfg = self.config
        info = self._file(file_id)
        if self.deleting.contains(file_id):
            raise DeletionPending()
        paid_until = info.paid_until + periods * cfg.audit_period
        if periods == 0 or paid_until > self.block_number() + cfg.max_paid_periods * cfg.audit_period:
            raise BadPeriods()
        fee = cfg.fee_per_byte_period * info.stored_bytes() * periods
        if not cfg.currency.can_withdraw(payer, fee):
            raise InsufficientFunds()
        # EFFECTS
        if fee:
            cfg.currency.withdraw(payer, fee)
            self.reward_pool.put(self.reward_pool.get() + fee)
        self.files.insert(file_id, info.with_(paid_until=paid_until))
        self._expire_at(file_id, paid_until)
        self.deposit_event(FileRenewed(file_id, payer, paid_until))

    @call(3, weight=lambda w, challenge_id, proofs: w.submit_proof(len(proofs)))
    def submit_proof(self, origin: Origin, challenge_id: ChallengeId, proofs: Proofs) -> PostDispatchInfo | None:
        """Answer a challenge: one SCALE ``ChunkProof`` per challenged chunk, in the challenge's order. A passing
        answer pays no fee (all of a 67 KB answer's length fee would otherwise go against a pass's reward); a
        failing or refused one pays as usual."""
        who = ensure_signed(origin)
        challenge = self.challenges.get(challenge_id)
        if challenge is None:
            raise UnknownChallenge()
        if challenge.node != who:
            raise NotChallenged()
        if self.block_number() > challenge.deadline:
            raise ChallengeExpired()
        info = self.files.get(challenge.file_id)
        if info is None or not self._still_holds(challenge, info):
            raise NoLongerHeld()  # paying it, or ordering a repair from the fragment's new holder, would be wrong
        if len(proofs) != len(challenge.chunk_indices):
            raise WrongProofCount()
        decoded = []
        for raw, index in zip(proofs, challenge.chunk_indices):
            try:
                proof = ChunkProof.decode(raw)
            except ProofFormatError as exc:
                raise MalformedProof(str(exc)) from None
            if proof.chunk_index != index:
                raise WrongChunk()
            decoded.append(proof)
        root = self.segment_roots.get(challenge.file_id, challenge.segment)
        chunks = info.chunk_count_of(challenge.segment)
        # EFFECTS
        self.challenges.remove(challenge_id)
        self._challenged(challenge.file_id, challenge.segment, challenge.fragment, -1)
        if all(verify_chunk_proof(proof, segment_root=root, fragment_index=challenge.fragment,
                                  fragment_count=info.width, chunk_count=chunks) for proof in decoded):
            earned = self.config.fee_per_byte_period * self.proven.get(who) * challenge.rounds_ppm // PPM
            reward = min(self.reward_pool.get(), earned)
            if reward:
                self.config.currency.deposit(who, reward)
                self.reward_pool.put(self.reward_pool.get() - reward)
            self.config.nodes.record_pass(who)
            self.deposit_event(AuditPassed(challenge_id, who, reward))
            return FEE_WAIVED  # proving storage is the node's duty: it must not cost more than it earns
        self.deposit_event(AuditFailed(challenge_id, who))
        # the repairer is drawn at the next block's start (placement reads every node: a cost on_initialize's
        # weight carries once a block, where this call's would charge it to every answer, passes included)
        self._punish(challenge, info, RepairReason.AuditFailed, None)
        return None

    @call(4, weight=lambda w, file_id, segment, fragment: w.confirm_repair())
    def confirm_repair(self, origin: Origin, file_id: FileId, segment: Segment, fragment: FragmentIndex) -> None:
        """The repairer of an open order stored the rebuilt fragment: the placement moves to it, it is paid."""
        who = ensure_signed(origin)
        info = self._file(file_id)
        order = self.repair_orders.get(file_id, (segment, fragment))
        if order is None:
            raise NoRepairOrder()
        node = self.config.nodes.node(who)
        if order.repairer != who or node is None or node.status is not NodeStatus.Active:
            raise NotRepairer()
        size = info.fragment_size_of(segment)
        placement = list(self.placements.get(file_id, segment))
        # the fragment's node rebuilt it: its space is counted already (unless it was let go of it since)
        own = placement[fragment] == who and self._holds(who, (file_id, segment, fragment))
        if not own and node.free_capacity() < size:
            raise NoCapacity()
        if any(holder == who for index, holder in enumerate(placement) if index != fragment):
            raise AlreadyHoldsSegment()
        if order.reason is RepairReason.NodeExit and self.challenged.get(file_id, (segment, fragment)):
            raise UnderChallenge()
        # EFFECTS
        self.repair_orders.remove(file_id, (segment, fragment))
        reward = 0
        if not own:  # a node repairing its own loss is neither paid nor credited with a repair
            key = (file_id, segment, fragment)
            old, placement[fragment] = placement[fragment], who
            self.placements.insert(file_id, segment, tuple(placement))
            self._remove_fragment(old, key, size)
            self._add_fragment(who, key, size)
            reward = self.config.nodes.pay_from_slashed(who, self.config.repair_reward_per_byte * size)
            self.config.nodes.record_repair(who)
        info = self._set_confirmed(file_id, info, segment, [fragment], True)
        self.deposit_event(RepairCompleted(file_id, segment, fragment, who, reward))
        self._store_file(file_id, info)

    # --- uses by other pallets ------------------------------------------------------------------

    def pin(self, file_id: bytes) -> None:
        """Keep the file until a matching :meth:`unpin` (its owner's deletion waits). The callers give a
        ``deleting`` file no new use, except to carry on one they already hold."""
        self.pins.insert(file_id, self.pins.get(file_id) + 1)

    def lock(self, file_id: bytes) -> None:
        """Refuse the owner's deletion of the file, and its revoking of grants, from now on (``FileLocked``,
        StorageAccess's ``GrantsLocked``): it goes when its paid time ends. A file no longer declared, or
        already deleted by its owner (kept for its last uses), is left alone."""
        if self.files.contains(file_id) and not self.deleting.contains(file_id):
            self.locked.insert(file_id, ())

    def release(self, file_id: bytes) -> None:
        """End the file's embargo, if any (see :meth:`declare_embargoed`)."""
        self.embargoed.remove(file_id)

    def is_embargoed(self, file_id: bytes) -> bool:
        return self.embargoed.contains(file_id)

    def unpin(self, file_id: bytes) -> None:
        """End one use of the file; the last use of a file its owner deleted deletes it."""
        uses = self.pins.get(file_id)
        if uses > 1:
            self.pins.insert(file_id, uses - 1)
            return
        self.pins.remove(file_id)
        if self.deleting.take(file_id) is not None:
            self._remove(file_id, self._file(file_id))

    # --- hooks ----------------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """New exits, the audit round (every ``audit_period`` blocks), due deadlines, deleted files' reaping."""
        for who in self.config.nodes.take_leaving():
            self.exits.insert(who, self.fragment_count.get(who))
        placer: list[_Placer] = []  # built on first use: one view of the nodes per block

        def lazy_placer() -> _Placer:
            if not placer:
                placer.append(self._placer())
            return placer[0]

        audited = n % self.config.audit_period == 0
        draws = self._audit(n) if audited else 0
        handlers = ((self._challenge_queue(), self._challenge_expired),
                    (self._confirm_queue(), self._confirmation_due),
                    (self._repair_queue(), self._repair_due),
                    (self._expiry_queue(), self._paid_time_ended))
        budget = self.config.max_expiries_per_block
        share = budget // (len(handlers) + 1)  # (the exits' repairs, after them, share it too while any are due)
        exiting = next(iter(self.exits.items()), None) is not None
        dues = [queue.peek(n, budget) for queue, _ in handlers]
        counts = _shared_out([len(due) for due in dues], budget - share if exiting else budget, share)
        for (queue, _), count in zip(handlers, counts):
            queue.drop(n, count)  # the rest stay queued, under their own blocks (before any handler queues more)
        for (_, handle), due, count in zip(handlers, dues, counts):
            for item in due[:count]:
                handle(item, n, lazy_placer)
        used = sum(counts) + self._order_exit_repairs(n, budget - sum(counts), lazy_placer)
        reaped = self._reap(self.config.max_reaped_per_block)
        return self.config.weights.on_initialize(bool(placer), audited, draws, used, reaped)

    def _challenge_queue(self) -> DueQueue:
        return DueQueue(self.challenge_expiries, self.challenge_expiries_cursor)

    def _confirm_queue(self) -> DueQueue:
        return DueQueue(self.confirm_expiries, self.confirm_expiries_cursor)

    def _repair_queue(self) -> DueQueue:
        return DueQueue(self.repair_expiries, self.repair_expiries_cursor)

    def _expiry_queue(self) -> DueQueue:
        return DueQueue(self.file_expiries, self.file_expiries_cursor)

    # --- audits ---------------------------------------------------------------------------------

    def _audit(self, n: int) -> int:
        """Draw this round's challenges from the parent block's hash; returns how many fragments it drew."""
        cfg = self.config
        seed = challenge_seed(self._parent_hash(n), n)
        holders = [who for who, node in cfg.nodes.all_nodes()
                   if node.status is not NodeStatus.ForcedOut and self.fragment_count.get(who)]
        draws = 0
        drawn = sample_indices(seed, b"nodes", len(holders), cfg.challenges_per_audit)
        rounds_ppm = len(holders) * PPM // max(1, len(drawn))
        weights = SlotWeights(self.slot_weights)
        for index in drawn:
            who = holders[index]
            count = self.fragment_count.get(who)
            total = weights.total(who, count)
            for attempt in range(AUDIT_DRAWS if total else 0):
                draws += 1
                slot = weights.find(who, count, draw(seed, b"byte", who, bytes([attempt])) % total)
                file_id, segment, fragment = self.node_fragments.get(who, slot)
                info = self.files.get(file_id)
                if (info is not None and self._answerable(file_id, segment, fragment)
                        and not self.challenged.get(file_id, (segment, fragment))):
                    break  # else: not stored yet, already being repaired, or its last challenge still open
            else:
                continue
            chunks = sample_indices(seed, b"chunks" + who, info.chunk_count_of(segment), cfg.chunks_per_challenge)
            challenge_id = self.next_challenge_id.get()
            deadline = n + cfg.proof_deadline
            self.next_challenge_id.put(challenge_id + 1)
            self.challenges.insert(challenge_id, Challenge(who, file_id, segment, fragment, chunks, deadline,
                                                           rounds_ppm))
            self._challenged(file_id, segment, fragment, +1)
            self._challenge_queue().push(deadline + 1, challenge_id)
            self.deposit_event(Challenged(challenge_id, who, file_id, segment, fragment, chunks, deadline))
        return draws

    def _challenged(self, file_id: bytes, segment: int, fragment: int, change: int) -> None:
        """Count a challenge of the fragment opened (+1) or closed (-1)."""
        count = self.challenged.get(file_id, (segment, fragment)) + change
        if count:
            self.challenged.insert(file_id, (segment, fragment), count)
        else:
            self.challenged.remove(file_id, (segment, fragment))

    def _answerable(self, file_id: bytes, segment: int, fragment: int) -> bool:
        """Whether the fragment's node must prove it holds it: it confirmed it, and no repair is rebuilding it
        for a failure already punished. A leaving node's fragments stay answerable until their repairs move
        them (their ``NodeExit`` orders are opened only for the fragments it confirmed): a node that dropped
        its data and then left must not get its stake back unaudited."""
        order = self.repair_orders.get(file_id, (segment, fragment))
        if order is not None:
            return order.reason is RepairReason.NodeExit
        return self.confirmed.get(file_id, segment)[fragment]

    def _challenge_expired(self, challenge_id: int, n: int, placer: Callable[[], _Placer]) -> None:
        challenge = self.challenges.take(challenge_id)
        if challenge is None:
            return  # answered
        self._challenged(challenge.file_id, challenge.segment, challenge.fragment, -1)
        info = self.files.get(challenge.file_id)
        if info is None or not self._still_holds(challenge, info):
            return  # the file was deleted or the fragment moved: nothing left to prove
        self.deposit_event(AuditMissed(challenge_id, challenge.node))
        self._punish(challenge, info, RepairReason.AuditMissed, placer())

    def _still_holds(self, challenge: Challenge, info: FileInfo) -> bool:
        """Whether the challenged fragment is still placed on the challenged node, in the declaration of the
        file (``info``) the challenge was drawn from: a file deleted and declared again under the same id (its
        owner may, once the old one is reaped) is placed anew, and its node may never have been sent the
        fragment it holds the same place of."""
        drawn_at = challenge.deadline - self.config.proof_deadline
        placement = self.placements.get(challenge.file_id, challenge.segment) or ()
        return (info.declared_at < drawn_at and challenge.fragment < len(placement)
                and placement[challenge.fragment] == challenge.node)

    def _punish(self, challenge: Challenge, info: FileInfo, reason: RepairReason, placer: _Placer | None) -> None:
        self.config.nodes.record_miss(challenge.node)
        key = (challenge.segment, challenge.fragment)
        order = self.repair_orders.get(challenge.file_id, key)
        if order is not None:  # a leaving node's fragment: now a failure punished, no longer answerable
            self.repair_orders.insert(challenge.file_id, key, dataclasses.replace(order, reason=reason))
            return
        info = self._order_repair(challenge.file_id, info, challenge.segment, challenge.fragment, reason, placer)
        self._store_file(challenge.file_id, info)

    # --- confirmations, repairs, exits ----------------------------------------------------------

    def _confirmation_due(self, item: tuple[bytes, int], n: int, placer: Callable[[], _Placer]) -> None:
        """Replace every fragment of a segment still unconfirmed at its deadline."""
        file_id, segment = item
        due = self.confirm_due.get(file_id, segment)
        if due is None or due > n:
            return  # handled already, or a fragment was reassigned since: the segment is due later
        self.confirm_due.remove(file_id, segment)
        info = self.files.get(file_id)
        if info is None:
            return
        confirmed = self.confirmed.get(file_id, segment)
        late = [fragment for fragment, done in enumerate(confirmed)
                if not done and not self.repair_orders.contains(file_id, (segment, fragment))]
        if not late:
            return
        if (info.status is FileStatus.Pending and sum(confirmed) < info.k
                and n - info.progress_at >= self.config.upload_timeout):
            self.deposit_event(UploadAbandoned(file_id))
            self._delete(file_id, info)
            return
        view = placer()
        placement = self.placements.get(file_id, segment)
        silent = frozenset(placement[fragment] for fragment in late)  # none of them gets another of these
        for fragment in late:
            info = self._replace(file_id, info, segment, fragment, RepairReason.ConfirmationMissed, view, n, silent)
        self._store_file(file_id, info)

    def _replace(self, file_id: bytes, info: FileInfo, segment: int, fragment: int, reason: RepairReason,
                 placer: _Placer, n: int, avoid: frozenset[bytes] = frozenset()) -> FileInfo:
        """Take a fragment off its node: a repair order if it is stored or its segment can be rebuilt (k
        healthy fragments), else a fresh assignment the uploader pushes to (by another deadline), never to a
        node in ``avoid``."""
        confirmed = self.confirmed.get(file_id, segment)
        if confirmed[fragment] or sum(confirmed) >= info.k:
            return self._order_repair(file_id, info, segment, fragment, reason, placer)
        placement = list(self.placements.get(file_id, segment))
        size = info.fragment_size_of(segment)
        new = placer.pick(file_id, _label(segment, fragment, n), avoid | self._segment_nodes(file_id, info, segment),
                          size)
        if new is not None:
            old, placement[fragment] = placement[fragment], new
            self.placements.insert(file_id, segment, tuple(placement))
            self._remove_fragment(old, (file_id, segment, fragment), size)
            self._add_fragment(new, (file_id, segment, fragment), size)
            self.deposit_event(FragmentReassigned(file_id, segment, fragment, old, new))
        self._await_confirmations(file_id, (segment,), n + self.config.confirm_deadline)
        return info

    def _await_confirmations(self, file_id: bytes, segments: Iterable[int], due: int) -> None:
        """Check the segments' fragments for confirmations at block ``due``. A segment is queued once per
        block and its deadline only moves later: a segment with several late fragments, each reassigned, is
        still handled once at its next deadline (not once per fragment, which would multiply every round)."""
        segments = [s for s in segments if self.confirm_due.get(file_id, s) != due]
        for segment in segments:
            self.confirm_due.insert(file_id, segment, due)
        if segments:
            self._confirm_queue().push(due, *((file_id, s) for s in segments))

    def _order_repair(self, file_id: bytes, info: FileInfo, segment: int, fragment: int, reason: RepairReason,
                      placer: _Placer | None) -> FileInfo:
        """Open a repair order for a fragment (the fragment stops counting as healthy). Without a ``placer`` the
        order names no repairer and is due at once: the next block's ``on_initialize`` draws one."""
        if self.repair_orders.contains(file_id, (segment, fragment)):
            return info
        n = self.block_number()
        if placer is None:
            order = RepairOrder(None, n, n, reason)
        else:
            repairer = self._pick_repairer(file_id, info, segment, fragment, None, placer, n)
            order = RepairOrder(repairer, n, n + self.config.repair_deadline, reason)
        self._open_order(file_id, segment, fragment, order)
        return self._set_confirmed(file_id, info, segment, [fragment], False)

    def _pick_repairer(self, file_id: bytes, info: FileInfo, segment: int, fragment: int, previous: bytes | None,
                       placer: _Placer, n: int) -> bytes | None:
        """A node for the order: none of :meth:`_segment_nodes`, nor ``previous``. Failing any (a file as wide
        as the network has no spare node), the fragment's own node while it is active: it rebuilds what it lost
        from the others, unpaid, rather than the order waiting for a node to join, the fragment unhealthy
        meanwhile. A leaving node is not active, so its exit's orders wait."""
        excluded = self._segment_nodes(file_id, info, segment, besides=fragment)
        if previous is not None:
            excluded.add(previous)
        chosen = placer.pick(file_id, _label(segment, fragment, n), excluded, info.fragment_size_of(segment))
        if chosen is None:
            own = self.placements.get(file_id, segment)[fragment]
            chosen = own if self._is_active(own) and self._holds(own, (file_id, segment, fragment)) else None
        return chosen

    def _holds(self, node: bytes, key: FragmentKey) -> bool:
        """Whether ``node`` holds the fragment it is placed on: not if it was let go of it (``FragmentReleased``),
        and its placement still names it (perhaps registered again since)."""
        return self.fragments_of.contains(node, key)

    def _segment_nodes(self, file_id: bytes, info: FileInfo, segment: int, besides: int | None = None) -> set[bytes]:
        """The nodes holding a fragment of the segment or rebuilding one (the repairers of its open orders but
        fragment ``besides``'s): none of them may take another of its fragments, since ``confirm_repair``
        refuses a second fragment of a segment on one node. (Not the node fragment ``besides``'s placement still
        names after letting it go of it: it may rebuild that one.)"""
        nodes = {node for index, node in enumerate(self.placements.get(file_id, segment))
                 if index != besides or self._holds(node, (file_id, segment, index))}
        for fragment in range(info.width):
            order = self.repair_orders.get(file_id, (segment, fragment)) if fragment != besides else None
            if order is not None and order.repairer is not None:
                nodes.add(order.repairer)
        return nodes

    def _open_order(self, file_id: bytes, segment: int, fragment: int, order: RepairOrder) -> None:
        self.repair_orders.insert(file_id, (segment, fragment), order)
        # due the block after its deadline: a repair confirmed at the deadline is in time (as a challenge's proof)
        self._repair_queue().push(order.deadline + 1, (file_id, segment, fragment))
        self.deposit_event(RepairOrdered(file_id, segment, fragment, order.repairer, order.reason))

    def _repair_due(self, key: FragmentKey, n: int, placer: Callable[[], _Placer]) -> None:
        """An order not completed by its deadline goes to another node. A leaving node waiting longer than
        ``exit_patience`` for it is let go of the fragment (``FragmentReleased``), unless the fragment is under
        a challenge (its exit must not outrun that) or its copy is what the segment needs to be rebuilt: the
        order stays open, the fragment unhealthy."""
        file_id, segment, fragment = key
        order = self.repair_orders.get(file_id, (segment, fragment))
        info = self.files.get(file_id)
        if order is None or order.deadline >= n or info is None:
            return  # completed, re-ordered since, or the file was deleted
        holder = self.placements.get(file_id, segment)[fragment]
        if (n - order.created_at >= self.config.exit_patience and self._holds(holder, key)
                and not self._is_active(holder) and not self.challenged.get(file_id, (segment, fragment))
                and self._copy_not_needed(file_id, info, segment, fragment)):
            self.deposit_event(FragmentReleased(file_id, segment, fragment, holder))
            self._remove_fragment(holder, key, info.fragment_size_of(segment))  # its last one ends its exit
        repairer = self._pick_repairer(file_id, info, segment, fragment, order.repairer, placer(), n)
        self._open_order(file_id, segment, fragment,
                         RepairOrder(repairer, order.created_at, n + self.config.repair_deadline, order.reason))

    def _copy_not_needed(self, file_id: bytes, info: FileInfo, segment: int, fragment: int) -> bool:
        """Whether the segment can do without a leaving node's copy of ``fragment``: without it, the healthy
        fragments and the copies other leaving nodes still hold keep k, or even with it they do not. Else the
        copy waits for a node to move it to: it is what makes the segment whole again. Copies count only under
        an exit's order (``NodeExit``): one that failed an audit, or was never confirmed, may not be there."""
        flags = self.confirmed.get(file_id, segment)  # (the leaving node's fragment is under repair)
        healthy = sum(flags)
        if healthy >= info.k:
            return True
        copies = {f for f, holder in enumerate(self.placements.get(file_id, segment))
                  if not flags[f] and self._exit_copy(holder, (file_id, segment, f))}
        return healthy + len(copies - {fragment}) >= info.k or healthy + len(copies) < info.k

    def _exit_copy(self, holder: bytes, key: FragmentKey) -> bool:
        """Whether ``holder``, leaving, still holds fragment ``key`` as it confirmed it, and an exit's order
        is what stands open on it."""
        file_id, segment, fragment = key
        order = self.repair_orders.get(file_id, (segment, fragment))
        return (order is not None and order.reason is RepairReason.NodeExit and self._holds(holder, key)
                and not self._is_active(holder))

    def _order_exit_repairs(self, n: int, budget: int, placer: Callable[[], _Placer]) -> int:
        """Order repairs of leaving nodes' fragments, from their last slot down; returns how many were
        looked at. (Slots below the cursor keep their fragments when others leave: a removal moves the last
        slot's fragment into the freed one, and the last slot is at or above the cursor or the cursor's own.)"""
        used = 0
        for who, left in list(self.exits.items()):
            node = self.config.nodes.node(who)
            if node is None or node.status is NodeStatus.Active:
                self.exits.remove(who)  # its exit ended (deletions emptied it) and it may have come back since
                continue
            left = min(left, self.fragment_count.get(who))
            while left and used < budget:
                left -= 1
                used += 1
                file_id, segment, fragment = self.node_fragments.get(who, left)
                info = self.files.get(file_id)
                if info is not None and not self.repair_orders.contains(file_id, (segment, fragment)):
                    # one it never confirmed is a confirmation it will not make: it is not audited on it
                    stored = self.confirmed.get(file_id, segment)[fragment]
                    reason = RepairReason.NodeExit if stored else RepairReason.ConfirmationMissed
                    self._store_file(file_id, self._replace(file_id, info, segment, fragment, reason, placer(), n))
            if left:
                self.exits.insert(who, left)
                break
            self.exits.remove(who)
        return used

    # --- expired and deleted files ----------------------------------------------------------------

    def _expire_at(self, file_id: bytes, paid_until: int) -> None:
        self._expiry_queue().push(paid_until + 1, file_id)

    def _paid_time_ended(self, file_id: bytes, n: int, placer: Callable[[], _Placer]) -> None:
        info = self.files.get(file_id)
        if info is None or info.paid_until >= n or self.deleting.contains(file_id):
            return  # deleted, renewed since this entry, or already to be deleted
        self.deposit_event(FileExpired(file_id))
        self._delete(file_id, info)

    def _delete(self, file_id: bytes, info: FileInfo) -> None:
        """Delete the file now, or, while it is in use, once its last use ends."""
        uses = self.pins.get(file_id)
        if uses:
            self.deleting.insert(file_id, ())
            self.deposit_event(FileDeletionDeferred(file_id, uses))
        else:
            self._remove(file_id, info)

    def _remove(self, file_id: bytes, info: FileInfo) -> None:
        """Delete the file now: its deposit back to its owner, its fragments unindexed by :meth:`_reap`."""
        who = info.owner
        self.files.remove(file_id)
        self.files_of.remove(who, file_id)
        self.locked.remove(file_id)
        self.embargoed.remove(file_id)
        self.config.currency.release(HoldReason.FileDeposit, who, info.deposit, best_effort=True)
        if info.segment_count:
            self.reaping.insert(file_id, (info, info.segment_count))
        self.deleted.append(H256, file_id)
        self.retired.insert(file_id, ())
        self.deposit_event(FileDeleted(file_id))

    def _reap(self, budget: int) -> int:
        """Unindex up to ~``budget`` fragments of deleted files; returns how many. At most ``budget`` files are
        read (a file's segments nearly always hold fragments): listing every file waiting, as it did, cost some
        30 µs a file each block, and declaring and deleting tiny files grew the list by about 50 a block."""
        reaped = 0
        for file_id, (info, left) in list(itertools.islice(self.reaping.items(), max(budget, 1))):
            while left and reaped < budget:
                left -= 1
                size = info.fragment_size_of(left)
                placement = self.placements.get(file_id, left) or ()
                confirmed = self.confirmed.get(file_id, left) or (False,) * len(placement)
                for fragment, node in enumerate(placement):
                    if confirmed[fragment]:
                        self._prove(node, -size)
                    self._remove_fragment(node, (file_id, left, fragment), size)
                    reaped += 1
                self.placements.remove(file_id, left)
                self.confirmed.remove(file_id, left)
                self.segment_roots.remove(file_id, left)
            if left:
                self.reaping.insert(file_id, (info, left))
                break
            self.reaping.remove(file_id)
            self.repair_orders.clear_prefix(file_id)
        return reaped

    # --- helpers --------------------------------------------------------------------------------

    def _file(self, file_id: bytes) -> FileInfo:
        info = self.files.get(file_id)
        if info is None:
            raise UnknownFile()
        return info

    def _parent_hash(self, n: int) -> bytes:
        return self.config.chain.known_block_hash(n - 1) or bytes(32)

    def _placer(self) -> _Placer:
        return _Placer(self.config.nodes.all_nodes(), self._parent_hash(self.block_number()), self._is_active)

    def _is_active(self, who: bytes) -> bool:
        node = self.config.nodes.node(who)
        return node is not None and node.status is NodeStatus.Active

    def _add_fragment(self, node: bytes, key: FragmentKey, size: int) -> None:
        slot = self.fragment_count.get(node)
        self.fragments_of.insert(node, key, slot)
        self.node_fragments.insert(node, slot, key)
        SlotWeights(self.slot_weights).append(node, slot, size)
        self.fragment_count.insert(node, slot + 1)
        self.config.nodes.assign(node, size)

    def _remove_fragment(self, node: bytes, key: FragmentKey, size: int) -> None:
        """Drop ``key`` from ``node``'s index: the last slot's fragment moves into the freed slot."""
        slot = self.fragments_of.get(node, key)
        if slot is None:
            return
        last = self.fragment_count.get(node) - 1
        weights = SlotWeights(self.slot_weights)
        if slot != last:
            moved = self.node_fragments.get(node, last)
            self.node_fragments.insert(node, slot, moved)
            self.fragments_of.insert(node, moved, slot)
            weights.set(node, slot, weights.size(node, last), last + 1)
        weights.pop(node, last + 1)
        self.node_fragments.remove(node, last)
        self.fragments_of.remove(node, key)
        self.fragment_count.insert(node, last or None)
        self.config.nodes.unassign(node, size)

    def _set_confirmed(self, file_id: bytes, info: FileInfo, segment: int, fragments: list[int],
                       value: bool) -> FileInfo:
        """Mark fragments of a segment healthy or not (their holders' ``Proven`` bytes with them); returns the
        file with its counters updated."""
        flags = list(self.confirmed.get(file_id, segment))
        before = sum(flags)
        placement = self.placements.get(file_id, segment)
        size = info.fragment_size_of(segment)
        for fragment in fragments:
            if flags[fragment] != value:
                self._prove(placement[fragment], size if value else -size)
            flags[fragment] = value
        after = sum(flags)
        self.confirmed.insert(file_id, segment, tuple(flags))
        lost, progress_at = info.lost_segments, info.progress_at
        if info.status is not FileStatus.Pending:
            lost += (after < info.k) - (before < info.k)
        elif value:
            progress_at = self.block_number()
        return info.with_(healthy=info.healthy + after - before, lost_segments=lost, progress_at=progress_at)

    def _prove(self, node: bytes, change: int) -> None:
        self.proven.insert(node, (self.proven.get(node) + change) or None)

    def _store_file(self, file_id: bytes, info: FileInfo) -> None:
        """Write ``info`` with its status recomputed from its counters, announcing a change."""
        total = info.segment_count * info.width
        if info.status is FileStatus.Pending:
            status = FileStatus.Active if info.healthy == total else FileStatus.Pending
        elif info.lost_segments:
            status = FileStatus.Lost
        else:
            status = FileStatus.Active if info.healthy == total else FileStatus.Degraded
        if status is not info.status:
            self.deposit_event(FileActivated(file_id) if info.status is FileStatus.Pending
                               else FileStatusChanged(file_id, status))
        self.files.insert(file_id, info.with_(status=status))

    # --- FileRegistry: what StorageAccess uses ---------------------------------------------------

    def file_owner(self, file_id: bytes) -> bytes | None:
        info = self.files.get(file_id)
        return None if info is None else info.owner

    def is_locked(self, file_id: bytes) -> bool:
        return self.locked.contains(file_id)

    def take_deleted(self) -> tuple[bytes, ...]:
        """The files deleted since the last call, each handed out once."""
        return self.deleted.take() or ()

    def forgotten(self, file_id: bytes) -> None:
        """The deleted file's grants are all gone: its id may be declared again."""
        self.retired.remove(file_id)

    def integrity_test(self) -> None:
        cfg = self.config
        assert cfg.audit_period > 0 and cfg.proof_deadline > 0, "audits need a period and a deadline"
        assert cfg.confirm_deadline > 0 and cfg.repair_deadline > 0
        assert cfg.exit_patience > cfg.repair_deadline, \
            "a leaving node's fragment waits out at least one repairer's deadline before it is let go of"
        assert cfg.upload_timeout >= cfg.confirm_deadline, "an upload gets one confirm deadline at least"
        assert 1 <= cfg.default_k and 1 <= cfg.default_m and cfg.default_k + cfg.default_m <= cfg.max_fragments
        assert cfg.chunk_size > 0 and cfg.segment_size > 0 and cfg.chunks_per_challenge > 0
        assert cfg.challenges_per_audit > 0 and cfg.nodes.max_nodes() * PPM // cfg.challenges_per_audit < 2**32, \
            "a challenge's rounds_ppm (holders per challenge, in ppm) must fit its u32, or audit blocks fail"
        assert cfg.max_expiries_per_block > 0 and cfg.max_reaped_per_block > 0
        assert 0 < cfg.prepaid_periods <= cfg.max_paid_periods, "a declaration pays for what a renewal may"


def _file_bank_config(config_type: type, params: FileBankParams, weights: None, wired: dict) -> FileBankConfig:
    weights = FileBankWeights(wired["nodes"].max_nodes(), params.max_fragments)
    return FileBankConfig(weights=weights, **wired, **dataclasses.asdict(params))


DEFINITION = PalletDefinition(pallet=FileBank, config=FileBankConfig, weights=None, params=FileBankParams,
                              build_config=_file_bank_config, rpc=FILE_BANK_RPC)


def _shared_out(wanted: list[int], budget: int, share: int) -> list[int]:
    """How many items of each queue (``wanted`` due) to handle out of ``budget``: first up to ``share`` each,
    then what is left in queue order. In queue order alone, a queue kept full (a stream of tiny uploads never
    confirmed re-queues its confirmation deadline again and again) took the whole budget, and the queues after
    it (repairs, paid time ending) waited without end."""
    counts = [min(each, share) for each in wanted]
    left = max(0, budget - sum(counts))
    for i, each in enumerate(wanted):
        extra = min(each - counts[i], left)
        counts[i] += extra
        left -= extra
    return counts
