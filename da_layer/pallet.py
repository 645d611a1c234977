"""DataAvailability: DA nodes, blobs, their attestations and sampling audits (pallet index 30).

The chain holds what lets anyone judge a blob's availability without its bytes:

- **DA nodes** register with a stake (held under :class:`DataAvailabilityHoldReason`), a BLS public key with
  its proof of possession (checked here, so aggregates are safe from rogue keys) and its signature over
  :func:`da_layer.attestation.registration_message` (this chain's genesis hash and the registering account,
  so a key and proof copied from another node's ``register`` cannot be registered from another account
  first), and an HTTP endpoint (``update_endpoint`` moves it).
  ``NodeSet`` lists them in registration order, at most ``max_nodes``; when it is full, a newcomer staking
  more than ``eviction_margin_perbill`` above the lowest stake in it evicts that node (``NodeEvicted``), so
  minimum-stake nodes cannot fill the set and keep better-staked ones out; a member raises its stake with
  ``bond_extra``. A node leaves with ``deregister`` (or is evicted): new blobs stop naming it at once, and
  its stake (slashable until then) is released ``retention_period`` blocks later, when no retained blob
  names it any more; then it may register again. Its audit record (passed, missed) is kept in
  ``PastRecords`` then, and restored if the account registers again: leaving does not wipe missed audits.
- **Blobs**: ``submit_blob`` records a blob's KZG commitment (refused unless it is a point of G1's subgroup,
  so no account pays for a blob nobody could attest or audit), its payload length (at most one blob's
  usable bytes, :mod:`da_layer.blobs`) and a namespace, and holds a fee of ``fee_per_byte`` per byte until
  the blob's verdict (see *Attestations*). It fixes the blob's node set (the members of ``NodeSet`` with their
  stakes at that block and ``custody_replication``, kept once in ``NodeSets`` for every blob naming them, until
  the last is pruned) and
  its custody seed ``blake2_256(DOMAIN_DA_CUSTODY ++ parent hash ++ blob_id)``, which the submitter cannot
  choose (only try many: :mod:`da_layer.custody`); from them :mod:`da_layer.custody` deals the columns in
  proportion to stake.
- **Attestations**: each custodian checks its cells and signs :func:`da_layer.attestation.attestation_message`;
  ``attest`` takes their aggregate and a bitfield over the blob's node set, checks the signers hold more
  than 2/3 of the set's stake (cheap, first; each member weighed at its stake now but no more than at
  submission, :func:`da_layer.attestation.quorum_weights`) and keep at least the half of the columns that
  rebuilds the blob between them (custody follows stake, so a quorum nearly always keeps them all; why a
  coalition of less than a third of the stake cannot make an unrecoverable blob available this way is
  :mod:`da_layer.custody`'s), then the aggregate with one ``fast_aggregate_verify`` (the fast BLS path), and
  marks the blob ``Available``; the signers then share ``attester_share_perbill`` of its fee pro rata to
  their weights (:func:`fee_shares`), the rest is burned. A blob still pending when block
  ``submitted + attestation_deadline`` begins becomes ``Unavailable`` and its whole fee is burned: its
  attestation must be in an earlier block. The fee is per recorded payload byte; custodians refuse cells that
  carry bytes past the recorded length (:func:`da_layer.blobs.check_cell_layout`), so a blob that records
  fewer bytes than it holds gets no quorum, unless the custodians of the unpaid cells hold less than a third of
  the stake: the check bounds underpaying (to a few cells in a large node set) rather than ending it.
- **Audits**: every ``audit_period`` blocks, ``audits_per_period`` challenges are drawn from the parent
  block's hash: an available blob, then one of its cells kept by a node that attested it, all such (cell,
  attester) pairs alike (so a node is audited in proportion to its custody, hence its stake). The
  node answers with the cell and its KZG proof (``answer_audit``, verified here with ``ckzg``) in a block
  before its deadline (``audit_deadline`` blocks after the challenge; the deadline block's ``on_initialize``
  closes it, before any transaction), or a ``slash_perbill`` share of its stake is burned. No audit's deadline
  outlives its blob's retention, so a node never needs cells past the retention period.
- **Retention**: ``retention_period`` blocks after submission a blob's record is pruned (and its
  custodians may drop its cells). Every per-block list (deadlines, expiries, audits) is bounded by
  ``max_blobs_per_block`` or ``audits_per_period``, so ``on_initialize`` does bounded work.

Wire shapes (SCALE, in field order): ``DaNode{bls_public [u8;48], endpoint Vec<u8>, stake u128,
registered_at u32, audits_passed u32, audits_missed u32}``; ``AuditHistory{audits_passed u32, audits_missed
u32}``; ``Blob{submitter AccountId, commitment [u8;48],
length u32, namespace u32, submitted_at u32, status BlobStatus(Pending|Available|Unavailable), node_set_id
H256, custody_seed H256, signers Vec<u8>, fee u128}`` (``node_set_id``: the key of its ``NodeSet{members
Vec<AccountId>, stakes Vec<u128>, replication u8}`` in ``NodeSets``, ``blake2_256(DOMAIN_DA_NODE_SET ++
SCALE(node set))``; ``signers``: the bitfield of the accepted attestation, empty until then; ``fee``: what the
submitter paid); ``Audit{node, blob_id, commitment, cell_index u16, deadline u32}``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Protocol

from da_layer import attestation, bls, kzg
from da_layer.blobs import USABLE_BYTES_PER_BLOB
from da_layer.custody import assignment, columns_kept
from da_layer.rpc import DA_RPC
from runtime.frame.composition import PalletDefinition
from runtime.frame.pallet import (
    FEE_WAIVED, Constant, DispatchError, Origin, Pallet, PostDispatchInfo, call, ensure_signed, refusals_weigh)
from runtime.frame.storage import StorageMap, StorageValue
from runtime.hashing import DOMAIN_DA_AUDIT, DOMAIN_DA_BLOB, DOMAIN_DA_CUSTODY, DOMAIN_DA_NODE_SET, blake2_256
from runtime.pallets.balances_types import HoldCurrency
from runtime.primitives import ACCOUNT_ID, AccountId, Balance, BlockNumber, Bytes, Hash, Weight, is_http_endpoint
from runtime.scale import BYTES, H256, U8, U16, U32, U64, U128, CEnum, FixedBytes, Vec, scale_struct
from runtime.weights import READ, US, WRITE

__all__ = [
    "DataAvailability", "DataAvailabilityConfig", "DataAvailabilityParams", "DataAvailabilityHoldReason",
    "DEFINITION", "DaNode", "AuditHistory", "Blob", "BlobStatus", "NodeSet", "Audit", "blob_id_of", "custody_seed_of",
    "node_set_id_of",
    "NodeRegistered", "BlobSubmitted", "BlobAvailable", "BlobUnavailable", "BlobPruned", "AuditStarted",
    "AuditPassed", "Slashed", "NodeDeregistered", "NodeEvicted", "StakeBonded", "StakeReleased", "NodeUpdated",
    "FeeSettled", "fee_shares",
]

BLS_PUBLIC = FixedBytes(bls.PUBLIC_KEY_BYTES)
BLS_SIGNATURE = FixedBytes(bls.SIGNATURE_BYTES)
KZG_COMMITMENT = FixedBytes(kzg.BYTES_PER_COMMITMENT)
KZG_PROOF = FixedBytes(kzg.BYTES_PER_PROOF)
BlsPublic = Annotated[bytes, BLS_PUBLIC, "[u8; 48]"]
BlsSignature = Annotated[bytes, BLS_SIGNATURE, "[u8; 96]"]
Commitment = Annotated[bytes, KZG_COMMITMENT, "[u8; 48]"]
CellProof = Annotated[bytes, KZG_PROOF, "[u8; 48]"]
AuditId = Annotated[int, U64, "AuditId"]
Namespace = Annotated[int, U32, "u32"]
CellIndex = Annotated[int, U16, "u16"]
AccountIds = Annotated[tuple, Vec(ACCOUNT_ID), "Vec<T::AccountId>"]
Ids = Vec(H256)
PERBILL = 10**9
AUDIT_DRAW_BYTES = 8
"""Bytes of an audit's random hash behind each of its two choices (blob, then cell and attester)."""


class DataAvailabilityHoldReason(enum.IntEnum):
    """Why this pallet holds balance."""

    NodeStake = 0
    BlobFee = 1
    """A blob's fee, from submission to its verdict."""


class BlobStatus(enum.IntEnum):
    Pending = 0
    """Submitted; not yet attested by a quorum, and its deadline has not come."""
    Available = 1
    """Attested by DA nodes holding more than 2/3 of the blob's node-set stake."""
    Unavailable = 2
    """Its attestation deadline passed without a quorum."""


BLOB_STATUS = CEnum(BlobStatus, ("pallet_data_availability", "BlobStatus"))


@scale_struct("pallet_data_availability::DaNode", params=[("AccountId", ACCOUNT_ID)])
@dataclass(frozen=True)
class DaNode:
    """A registered DA node."""

    bls_public: BlsPublic
    """Its attestation key (POP-checked at registration)."""
    endpoint: Annotated[bytes, BYTES, "Vec<u8>"]
    """Its HTTP base URL, UTF-8 (``http://host:port``)."""
    stake: Annotated[int, U128, "Balance"]
    """What it has on hold; slashes lower it, and attestation quorums count it."""
    registered_at: Annotated[int, U32, "BlockNumber"]
    audits_passed: Annotated[int, U32, "u32"] = 0
    audits_missed: Annotated[int, U32, "u32"] = 0

    def history(self) -> AuditHistory:
        return AuditHistory(self.audits_passed, self.audits_missed)


@scale_struct("pallet_data_availability::AuditHistory")
@dataclass(frozen=True)
class AuditHistory:
    """The audit record an account keeps after its DA node left, restored when it registers again."""

    audits_passed: Annotated[int, U32, "u32"]
    audits_missed: Annotated[int, U32, "u32"]


@scale_struct("pallet_data_availability::Blob", params=[("AccountId", ACCOUNT_ID)])
@dataclass(frozen=True)
class Blob:
    """A submitted blob: what the chain knows of it while it is retained."""

    submitter: Annotated[bytes, ACCOUNT_ID, "AccountId"]
    commitment: Commitment
    length: Annotated[int, U32, "u32"]
    """Payload bytes in this blob (:func:`da_layer.blobs.piece_lengths`)."""
    namespace: Namespace
    submitted_at: Annotated[int, U32, "BlockNumber"]
    status: Annotated[BlobStatus, BLOB_STATUS, "BlobStatus"]
    node_set_id: Annotated[bytes, H256, "H256"]
    """The id of the :class:`NodeSet` when it was submitted (in ``NodeSets``): custody and the signer bitfield
    index into its members."""
    custody_seed: Annotated[bytes, H256, "H256"]
    signers: Annotated[bytes, BYTES, "Vec<u8>"] = b""
    """The bitfield of the attestation that made it available (empty before)."""
    fee: Annotated[int, U128, "Balance"] = 0
    """What the submitter paid (held until the verdict, then shared by the attesters and burned)."""


@scale_struct("pallet_data_availability::NodeSet", params=[("AccountId", ACCOUNT_ID)])
@dataclass(frozen=True)
class NodeSet:
    """The DA nodes and their stakes as blobs were submitted, kept once for all the blobs that name it (a blob
    names it by :func:`node_set_id_of`): 6 KB at 128 nodes, where a copy in every blob record would grow the
    state by that much per blob."""

    members: AccountIds
    """``NodeSet`` (the storage value) then: registration order."""
    stakes: Annotated[tuple, Vec(U128), "Vec<Balance>"]
    """Their stakes then, in the same order: custody is dealt in proportion to them, and stays so while slashes
    and bonds change stakes; each member's weight in the quorum and the fee is at most its stake here."""
    replication: Annotated[int, U8, "u8"]
    """``CustodyReplication`` then, the custody draws per column: a runtime upgrade that changes it deals the
    blobs submitted after it anew and leaves the custody of those already retained as their nodes were given it."""


@scale_struct("pallet_data_availability::Audit", params=[("AccountId", ACCOUNT_ID)])
@dataclass(frozen=True)
class Audit:
    """An open sampling audit: ``node`` must answer with cell ``cell_index`` of ``blob_id`` in a block before
    ``deadline`` (block ``deadline`` closes it first thing)."""

    node: Annotated[bytes, ACCOUNT_ID, "AccountId"]
    blob_id: Annotated[bytes, H256, "H256"]
    commitment: Commitment
    """The blob's commitment (kept here: the answer is checked even if the blob is pruned meanwhile)."""
    cell_index: CellIndex
    deadline: Annotated[int, U32, "BlockNumber"]


# --- events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRegistered:
    """A DA node registered."""

    who: AccountId
    bls_public: BlsPublic
    endpoint: Bytes
    stake: Balance


@dataclass(frozen=True)
class BlobSubmitted:
    """A blob was submitted; its custodians may now be sent their cells."""

    blob_id: Hash
    submitter: AccountId
    commitment: Commitment
    length: Annotated[int, U32, "u32"]
    namespace: Namespace


@dataclass(frozen=True)
class BlobAvailable:
    """DA nodes holding more than 2/3 of the blob's node-set stake attested it."""

    blob_id: Hash


@dataclass(frozen=True)
class BlobUnavailable:
    """The blob's attestation deadline passed without a quorum."""

    blob_id: Hash


@dataclass(frozen=True)
class FeeSettled:
    """The blob's verdict settled its fee: ``rewarded`` went to the nodes that attested it, ``burned`` out of
    the issuance (all of it for an unavailable blob)."""

    blob_id: Hash
    rewarded: Balance
    burned: Balance


@dataclass(frozen=True)
class BlobPruned:
    """The blob's retention period ended: its record is gone and its custodians may drop its cells."""

    blob_id: Hash


@dataclass(frozen=True)
class AuditStarted:
    """``node`` must answer with cell ``cell_index`` of ``blob_id`` and its proof in a block before
    ``deadline``."""

    audit_id: AuditId
    node: AccountId
    blob_id: Hash
    cell_index: CellIndex
    deadline: BlockNumber


@dataclass(frozen=True)
class AuditPassed:
    """``node`` served the audited cell with a valid proof."""

    audit_id: AuditId
    node: AccountId


@dataclass(frozen=True)
class Slashed:
    """``node`` did not answer audit ``audit_id`` in time: ``amount`` of its stake was burned."""

    audit_id: AuditId
    node: AccountId
    amount: Balance


@dataclass(frozen=True)
class NodeDeregistered:
    """``who`` left the node set: new blobs no longer name it; its stake is released at ``unbonds_at``."""

    who: AccountId
    unbonds_at: BlockNumber


@dataclass(frozen=True)
class NodeEvicted:
    """The node set was full and ``by`` registered with a larger stake: ``who``, the lowest stake in it,
    left it as with ``deregister`` (new blobs no longer name it; its stake is released at ``unbonds_at``)."""

    who: AccountId
    by: AccountId
    unbonds_at: BlockNumber


@dataclass(frozen=True)
class StakeBonded:
    """``who`` put ``amount`` more on hold: its stake is ``stake`` now."""

    who: AccountId
    amount: Balance
    stake: Balance


@dataclass(frozen=True)
class StakeReleased:
    """A departed node's stake went back to its free balance: no retained blob names it any more."""

    who: AccountId
    amount: Balance


@dataclass(frozen=True)
class NodeUpdated:
    """A DA node moved: peers and clients find its cells at ``endpoint`` from now on."""

    who: AccountId
    endpoint: Bytes


# --- errors -----------------------------------------------------------------------------------------


class AlreadyRegistered(DispatchError):
    """This account is already a DA node."""


class StakeTooLow(DispatchError):
    """The stake is below ``MinStake``."""


class InvalidEndpoint(DispatchError):
    """The endpoint is no ``http(s)://`` URL of printable ASCII, or longer than ``MaxEndpointLength`` bytes."""


class TooManyNodes(DispatchError):
    """``MaxNodes`` DA nodes are in the node set and the stake does not exceed the lowest of theirs by
    ``EvictionMargin``."""


class BlsKeyInUse(DispatchError):
    """Another DA node registered this BLS key (one key would count its stake twice)."""


class InvalidProofOfPossession(DispatchError):
    """The proof of possession does not verify against the BLS key."""


class InvalidRegistrationSignature(DispatchError):
    """The registration signature is not the BLS key's over this chain's registration message for the calling
    account (:func:`da_layer.attestation.registration_message`): a key copied from another node's registration
    cannot be registered by another account."""


class ZeroLength(DispatchError):
    """A blob carries at least one byte."""


class BlobTooLarge(DispatchError):
    """The length exceeds ``MaxBlobLength`` (one blob's usable bytes)."""


class NoDaNodes(DispatchError):
    """No DA node is registered: nobody could attest the blob."""


class TooManyBlobs(DispatchError):
    """``MaxBlobsPerBlock`` blobs were already submitted in this block."""


class UnknownBlob(DispatchError):
    """No blob with this id is retained."""


class AlreadyAvailable(DispatchError):
    """The blob was already attested."""


class DeadlinePassed(DispatchError):
    """The blob's attestation deadline passed: it is unavailable."""


class MalformedSigners(DispatchError):
    """The signer bitfield has the wrong length for the blob's node set, or bits past it."""


class BelowQuorum(DispatchError):
    """The signers hold no more than 2/3 of the blob's node-set stake."""


class TooFewColumns(DispatchError):
    """The signers keep fewer than half the blob's columns between them: what they hold could not rebuild it
    (custody is dealt by stake at random, so a stake quorum keeps that half but for a vanishing chance)."""


class InvalidAggregate(DispatchError):
    """The aggregate signature does not verify for the signers and the blob's attestation message."""


class UnknownAudit(DispatchError):
    """No open audit has this id."""


class NotAudited(DispatchError):
    """The audit is addressed to another node."""


class InvalidCell(DispatchError):
    """The cell is not 2048 bytes of canonical field elements."""


class InvalidCellProof(DispatchError):
    """The cell and proof do not verify against the blob's commitment at the audited index."""


class NotRegistered(DispatchError):
    """This account is not a DA node."""


class AlreadyLeaving(DispatchError):
    """This node has deregistered already; its stake is unbonding."""


class NothingToBond(DispatchError):
    """``bond_extra`` of 0."""


class InvalidCommitment(DispatchError):
    """The commitment is not a compressed G1 point of the BLS12-381 subgroup: no blob commits to it, so no
    cell could ever verify against it."""


# --- config -----------------------------------------------------------------------------------------


class ChainHashes(Protocol):
    """Block hashes the runtime keeps: the genesis hash (registration and attestation messages) and the
    parent's (seeds)."""

    def known_block_hash(self, number: int) -> bytes | None: ...


class DataAvailabilityWeightInfo(Protocol):
    def register(self, members: int | None = None) -> Weight: ...
    def submit_blob(self, members: int | None = None) -> Weight: ...
    def attest(self, members: int) -> Weight: ...
    def answer_audit(self) -> Weight: ...
    def deregister(self) -> Weight: ...
    def update_endpoint(self) -> Weight: ...
    def bond_extra(self) -> Weight: ...
    def on_initialize(self, deadlines: int, audits_closed: int, pruned: int, audits_started: int,
                      released: int) -> Weight: ...


@dataclass(frozen=True)
class DataAvailabilityWeights:
    """From ``benchmarks/da_pallet_weights.py`` on the 2-core reference VM (medians, whole dispatch): register
    1.8 ms with one POP check (1.3 ms); with the registration signature's check too, 1.95 ms in a faster hour
    whose POP check took 0.95 ms and signature check 0.96 ms, so ~2.7 ms at the reference figures; submit_blob
    1.0 ms, plus 0.06 ms (measured alone) for the commitment's point check; attest 1.8 ms with 4 signers and
    8.6 ms with 100 (one
    ``fast_aggregate_verify``, 1.5 ms, plus ~70 µs per signer key decompressed and stake read; 8.8 ms with each
    signer's fee share moved, the accounts it writes counted as storage); answer_audit 3.6-5.0 ms (one cell
    proof, 3.5 ms); ~0.1 ms per audit started (15 in 1.7 ms). Each weight rounds its figure up.

    Since custody is dealt by stake (spec 167; an hour whose BLS checks ran ~1.16x the reference's): register
    3.3 ms, 3.5 ms into a full set of 100 with an eviction; submit_blob 1.9 ms (the node set's stakes read and
    hashed); attest 4.0 ms with 4 signers and 11.7 ms with 100, custody dealt afresh in each (~2 ms); 15 audits
    started in 19 ms (~1.3 ms each, a blob's custody dealt afresh for most).

    Sized for the configured ``max_nodes`` and ``custody_replication``: dealing a blob's custody is a draw of a
    node by stake per column and replica (1.0-1.6 µs each measured alone, 128 columns; ~2 ms at 8 draws a column
    within those dispatches), charged at 2 µs a draw. A node set dealt with more draws a column before an
    upgrade that lowered ``CustodyReplication`` costs more than charged, until its blobs' retention ends."""

    max_nodes: int = 128
    custody_replication: int = 8

    def register(self, members: int | None = None) -> Weight:
        """With a full node set: every member's record read (~160 bytes of proof each), and the evicted node's
        unbonding written. ``members``: the node set's; before the call runs, the most there may be
        (``max_nodes``), and it returns its weight for the set it found."""
        members = self.max_nodes if members is None else members
        return Weight(3_000 * US + (5 + members) * READ + 8 * WRITE, 512 + members * 160)  # and its past record taken

    def submit_blob(self, members: int | None = None) -> Weight:
        """Every member's stake read into a node set, hashed (~30 µs) and stored if no retained blob names it yet.
        ``members`` as for :meth:`register`."""
        members = self.max_nodes if members is None else members
        return Weight(1_150 * US + (4 + members) * READ + 7 * WRITE, 512 + members * 160)

    def attest(self, members: int) -> Weight:
        """``members``: the signer bitfield's bits, a bound on the node set whose stakes are summed and on
        the signers paid a share of the fee (each an account and a hold written); and the columns they keep
        counted, custody dealt afresh. The proof holds the blob's node set too (48 bytes a member: its account
        and stake)."""
        return Weight(2_000 * US + self._deal() + members * (75 * US + 2 * READ + 2 * WRITE) + 5 * READ + 6 * WRITE,
                      256 + (160 + 48) * members)

    def answer_audit(self) -> Weight:
        return Weight(5_000 * US + 2 * READ + 2 * WRITE, 2_400)

    def deregister(self) -> Weight:
        """Rewrites ``NodeSet`` (32 bytes a member)."""
        return Weight(200 * US + 3 * READ + 2 * WRITE, self.max_nodes * 32)

    def update_endpoint(self) -> Weight:
        """One node record read and written (as ``deregister`` without ``NodeSet``)."""
        return Weight(100 * US + READ + WRITE, 512)

    def bond_extra(self) -> Weight:
        """The node and ``NodeSet`` read (64 bytes of proof a member), the hold written."""
        return Weight(150 * US + 4 * READ + 3 * WRITE, self.max_nodes * 64)

    def on_initialize(self, deadlines: int, audits_closed: int, pruned: int, audits_started: int,
                      released: int) -> Weight:
        per_item = 2 * READ + 2 * WRITE + 20 * US
        release = 3 * READ + 6 * WRITE + 40 * US  # the node, its key, its hold and its kept audit record
        # a pruned blob also lowers its node set's count (removing the set with the last); an audit started
        # reads the blob's node set and deals its custody afresh
        return Weight(10 * US + 5 * READ + (2 * deadlines + 2 * pruned + audits_closed) * per_item
                      + released * release + audits_started * (200 * US + self._deal() + READ), 0)

    def _deal(self) -> int:
        """A blob's custody dealt: a draw of a node by stake for every column and replica."""
        return kzg.CELLS_PER_BLOB * self.custody_replication * 2 * US


@dataclass(frozen=True)
class DataAvailabilityParams:
    min_stake: int = 1_000 * 10**12
    """1,000 tokens: a slash of ``slash_perbill`` (100 tokens) costs a node far more than serving a cell."""
    fee_per_byte: int = 10**6
    """As Transaction Payment's per-byte length fee: a full blob (126,976 B) costs ~0.13 token."""
    max_blob_length: int = USABLE_BYTES_PER_BLOB
    """One blob's usable bytes (layout v1); a larger payload is several blobs."""
    max_blobs_per_block: int = 256
    """~31 MiB of blobs per block (~16 MiB/s at 2 s slots), and a bound on each block's deadline and
    pruning work (one list entry per blob)."""
    attestation_deadline: int = 30
    """Blocks (60 s) for the submitter to spread cells and gather signatures; a live node needs ~1 s."""
    custody_replication: int = 8
    """Custody draws per column (up to 8 custodians, by stake): the least for which no set of nodes with more
    than a third of the stake keeps under half the columns but with a chance below 2^-47
    (:mod:`da_layer.custody`); each node keeps ~8x its stake share of every blob (1/16 of it at 128 equal
    nodes)."""
    max_nodes: int = 128
    """A 16-byte signer bitfield; an aggregate check of all of them stays under ~20 ms."""
    eviction_margin_perbill: int = 100_000_000
    """A newcomer to a full node set must stake more than 10 % above its lowest stake to evict it: enough that
    a rival cannot push a node out (and back) by topping its stake by one unit."""
    max_endpoint_length: int = 256
    """Any ``http(s)://host:port/prefix`` fits; a node record stays a few hundred bytes."""
    retention_period: int = 302_400
    """Seven days of 2 s blocks: long enough for any rollup to fetch or challenge, as Ethereum keeps blobs ~18 days."""
    audit_period: int = 10
    """A sampling round every 20 s."""
    audits_per_period: int = 4
    """Cells challenged per round: each round costs the chain ~16 ms of proof checks."""
    audit_deadline: int = 20
    """Blocks (40 s) to answer: a node holding the cell needs one block; one that lost it recovers it from its
    peers first (a few seconds), and a refused answer (the challenge changed in a reorg) can be sent again."""
    slash_perbill: int = 100_000_000
    """10% of the stake per missed audit: three misses take a quarter of it."""
    attester_share_perbill: int = 800_000_000
    """80% of an available blob's fee goes to the nodes that attested it, pro rata to their quorum weights
    (stake, at most that at submission); the rest is burned, so a submitter who runs every DA node itself
    still pays for its blobs."""


@dataclass(frozen=True)
class DataAvailabilityConfig:
    weights: DataAvailabilityWeightInfo
    currency: HoldCurrency
    chain: ChainHashes
    min_stake: int
    fee_per_byte: int
    max_blob_length: int
    max_blobs_per_block: int
    attestation_deadline: int
    custody_replication: int
    max_nodes: int
    eviction_margin_perbill: int
    max_endpoint_length: int
    retention_period: int
    audit_period: int
    audits_per_period: int
    audit_deadline: int
    slash_perbill: int
    attester_share_perbill: int


def fee_shares(fee: int, share_perbill: int, stakes: Sequence[int]) -> tuple[list[int], int]:
    """How an available blob's ``fee`` is settled: each attester's share of ``share_perbill`` of it, pro rata
    to its stake (rounded down), and what is burned (the rest, rounding included); they add up to ``fee``.

    Pro rata to stake rather than equal shares: the quorum that makes a blob available and the slash that
    backs an attestation are both counted in stake, and equal shares would pay an operator for splitting
    one stake over many nodes."""
    pool = fee * share_perbill // PERBILL
    total = sum(stakes)
    shares = [pool * stake // total for stake in stakes] if total else [0] * len(stakes)
    return shares, fee - sum(shares)


def blob_id_of(submitter: bytes, commitment: bytes, block: int, count: int) -> bytes:
    """``blake2_256(DOMAIN_DA_BLOB ++ submitter ++ commitment ++ u32 LE block ++ u64 LE count)``, ``count``
    being the number of blobs submitted on the chain before this one (so two equal submissions differ)."""
    return blake2_256(DOMAIN_DA_BLOB + submitter + commitment + block.to_bytes(4, "little") + count.to_bytes(8, "little"))


def node_set_id_of(node_set: NodeSet) -> bytes:
    """``blake2_256(DOMAIN_DA_NODE_SET ++ SCALE(node_set))``: equal sets (no registration, departure or slash
    between two submissions) are one entry."""
    return blake2_256(DOMAIN_DA_NODE_SET + NodeSet.SCALE.encode(node_set))


def custody_seed_of(parent_hash: bytes, blob_id: bytes) -> bytes:
    return blake2_256(DOMAIN_DA_CUSTODY + parent_hash + blob_id)


class DataAvailability(Pallet[DataAvailabilityConfig]):
    NAME = "DataAvailability"
    CRATE = "pallet_data_availability"
    HOLD_REASONS = DataAvailabilityHoldReason
    EVENTS = (NodeRegistered, BlobSubmitted, BlobAvailable, BlobUnavailable, BlobPruned, AuditStarted, AuditPassed,
              Slashed, NodeDeregistered, StakeReleased, NodeUpdated, FeeSettled, NodeEvicted, StakeBonded)
    ERRORS = (AlreadyRegistered, StakeTooLow, InvalidEndpoint, TooManyNodes, BlsKeyInUse, InvalidProofOfPossession,
              ZeroLength, BlobTooLarge, NoDaNodes, TooManyBlobs, UnknownBlob, AlreadyAvailable, DeadlinePassed,
              MalformedSigners, BelowQuorum, TooFewColumns, InvalidAggregate, UnknownAudit, NotAudited, InvalidCell,
              InvalidCellProof, NotRegistered, AlreadyLeaving, InvalidCommitment, InvalidRegistrationSignature,
              NothingToBond)
    CONSTANTS = (
        Constant("MinStake", U128, lambda c: c.min_stake, "The least stake a DA node registers with."),
        Constant("FeePerByte", U128, lambda c: c.fee_per_byte, "What a blob costs per payload byte."),
        Constant("AttesterShare", U32, lambda c: c.attester_share_perbill,
                 "Parts per billion of an available blob's fee shared by its attesters (pro rata to their quorum "
                 "weights: stake, at most that at submission)."),
        Constant("MaxBlobLength", U32, lambda c: c.max_blob_length, "The most payload bytes one blob carries."),
        Constant("MaxBlobsPerBlock", U32, lambda c: c.max_blobs_per_block, "Blobs one block accepts."),
        Constant("AttestationDeadline", U32, lambda c: c.attestation_deadline,
                 "Blocks after submission by which a blob must be attested."),
        Constant("CustodyReplication", U32, lambda c: c.custody_replication,
                 "Custody draws per column, each a node by stake (up to that many custodians), for the blobs "
                 "submitted from now on (each blob's node set records its own)."),
        Constant("MaxNodes", U32, lambda c: c.max_nodes, "The most DA nodes in the node set."),
        Constant("EvictionMargin", U32, lambda c: c.eviction_margin_perbill,
                 "Parts per billion above the lowest stake a newcomer to a full node set must stake to evict it."),
        Constant("MaxEndpointLength", U32, lambda c: c.max_endpoint_length, "The longest endpoint, in bytes."),
        Constant("RetentionPeriod", U32, lambda c: c.retention_period, "Blocks a blob is kept after submission."),
        Constant("AuditPeriod", U32, lambda c: c.audit_period, "Blocks between sampling audit rounds."),
        Constant("AuditDeadline", U32, lambda c: c.audit_deadline, "Blocks a node has to answer an audit."),
    )

    nodes = StorageMap(ACCOUNT_ID, DaNode.SCALE, docs="Registered DA nodes.")
    node_of_key = StorageMap(BLS_PUBLIC, ACCOUNT_ID, docs="Which node registered a BLS key.")
    node_set = StorageValue(Vec(ACCOUNT_ID), default=(), docs="DA nodes in registration order (new blobs name "
                            "it, with its stakes, in NodeSets).")
    blobs = StorageMap(H256, Blob.SCALE, docs="Retained blobs by id.")
    node_sets = StorageMap(H256, NodeSet.SCALE, docs="The node sets retained blobs name, by id.")
    node_set_uses = StorageMap(H256, U32, default=0, docs="How many retained blobs name each node set (it is "
                               "removed with the last of them).")
    blob_count = StorageValue(U64, default=0, docs="Blobs ever submitted (part of each blob id).")
    deadlines = StorageMap(U32, Ids, default=(), docs="Blobs whose attestation deadline is this block.")
    expiries = StorageMap(U32, Ids, default=(), docs="Blobs pruned at this block.")
    audit_pool = StorageMap(U32, H256, docs="Available blobs, densely indexed, for drawing audits.")
    audit_pool_size = StorageValue(U32, default=0, docs="Entries in AuditPool.")
    audit_pool_index = StorageMap(H256, U32, docs="Where an available blob sits in AuditPool.")
    audits = StorageMap(U64, Audit.SCALE, docs="Open sampling audits.")
    next_audit_id = StorageValue(U64, default=0, docs="The id the next audit gets.")
    audit_deadlines = StorageMap(U32, Vec(U64), default=(), docs="Audits that close at this block.")
    unbonding = StorageMap(U32, Vec(ACCOUNT_ID), default=(), docs="Departed nodes whose stake is released at this block.")
    past_records = StorageMap(ACCOUNT_ID, AuditHistory.SCALE, docs="The audit record of accounts whose node left: "
                              "restored when they register again.")

    @call(0, weight=lambda w, bls_public, proof_of_possession, registration_signature, endpoint, stake: w.register())
    def register(self, origin: Origin, bls_public: BlsPublic, proof_of_possession: BlsSignature,
                 registration_signature: BlsSignature, endpoint: Bytes, stake: Balance) -> PostDispatchInfo:
        """Become a DA node: hold ``stake``, register the BLS key proven by ``proof_of_possession`` and bound to
        this account by ``registration_signature`` (the key's, over this chain's registration message for this
        account), serve cells at ``endpoint``; with the audit record it left with, if it was a node before."""
        who = ensure_signed(origin)
        cfg = self.config
        with refusals_weigh(lambda: cfg.weights.register(0)):  # refused before reading the node set
            if self.nodes.contains(who):
                raise AlreadyRegistered()
            if stake < cfg.min_stake:
                raise StakeTooLow()
            self._check_endpoint(endpoint)
        node_set = self.node_set.get()
        members = len(node_set)  # each one's record read to find the evictee of a full set
        with refusals_weigh(lambda: cfg.weights.register(members)):
            evicted = self._evictee(node_set, stake) if members >= cfg.max_nodes else None
            if self.node_of_key.contains(bls_public):
                raise BlsKeyInUse()
            if not bls.pop_verify(bls_public, proof_of_possession):
                raise InvalidProofOfPossession()
            message = attestation.registration_message(self._genesis_hash(), who, bls_public)
            if not bls.verify(bls_public, message, registration_signature):
                raise InvalidRegistrationSignature()
            cfg.currency.hold(DataAvailabilityHoldReason.NodeStake, who, stake)
        if evicted is not None:
            node_set, unbonds_at = self._leave(node_set, evicted)
            self.deposit_event(NodeEvicted(evicted, who, unbonds_at))
        past = self.past_records.take(who) or AuditHistory(0, 0)
        self.nodes.insert(who, DaNode(bls_public, endpoint, stake, self.block_number(), past.audits_passed,
                                      past.audits_missed))
        self.node_of_key.insert(bls_public, who)
        self.node_set.put(node_set + (who,))
        self.deposit_event(NodeRegistered(who, bls_public, endpoint, stake))
        return PostDispatchInfo(actual_weight=cfg.weights.register(members))

    @call(1, weight=lambda w, commitment, length, namespace: w.submit_blob())
    def submit_blob(self, origin: Origin, commitment: Commitment, length: Annotated[int, U32, "u32"],
                    namespace: Namespace) -> PostDispatchInfo:
        """Record a blob of ``length`` payload bytes committed to by ``commitment``, paying ``FeePerByte``
        per byte; its custodians are fixed here (see the module docstring)."""
        submitter = ensure_signed(origin)
        cfg = self.config
        with refusals_weigh(lambda: cfg.weights.submit_blob(0)):  # refused before reading the node set
            if length == 0:
                raise ZeroLength()
            if length > cfg.max_blob_length:
                raise BlobTooLarge()
            if not bls.is_g1_point(commitment):
                raise InvalidCommitment()
        node_set = self.node_set.get()
        with refusals_weigh(lambda: cfg.weights.submit_blob(len(node_set))):
            if not node_set:
                raise NoDaNodes()
            now = self.block_number()
            deadline = now + cfg.attestation_deadline
            if len(self.deadlines.get(deadline)) >= cfg.max_blobs_per_block:
                raise TooManyBlobs()
            fee = cfg.fee_per_byte * length
            cfg.currency.hold(DataAvailabilityHoldReason.BlobFee, submitter, fee)
        count = self.blob_count.get()
        blob_id = blob_id_of(submitter, commitment, now, count)
        seed = custody_seed_of(self._parent_hash(), blob_id)
        record = Blob(submitter, commitment, length, namespace, now, BlobStatus.Pending,
                      self._use_node_set(node_set), seed, fee=fee)
        self.blobs.insert(blob_id, record)
        self.blob_count.put(count + 1)
        self.deadlines.mutate(deadline, lambda ids: ids + (blob_id,))
        self.expiries.mutate(now + cfg.retention_period, lambda ids: ids + (blob_id,))
        self.deposit_event(BlobSubmitted(blob_id, submitter, commitment, length, namespace))
        return PostDispatchInfo(actual_weight=cfg.weights.submit_blob(len(node_set)))

    @call(2, weight=lambda w, blob_id, signers, aggregate: w.attest(8 * len(signers)))
    def attest(self, origin: Origin, blob_id: Hash, signers: Bytes, aggregate: BlsSignature) -> None:
        """Mark ``blob_id`` available: ``aggregate`` aggregates the attestations of the nodes whose bits are
        set in ``signers`` (over the blob's node set), who hold more than 2/3 of its stake (each member weighed
        by :func:`da_layer.attestation.quorum_weights`)."""
        ensure_signed(origin)
        blob = self.blobs.get(blob_id)
        if blob is None:
            raise UnknownBlob()
        if blob.status is BlobStatus.Available:
            raise AlreadyAvailable()
        if blob.status is BlobStatus.Unavailable:
            raise DeadlinePassed()
        node_set = self.node_sets.get(blob.node_set_id)
        try:
            positions = attestation.signers(signers, len(node_set.members))
        except attestation.MalformedBitfield:
            raise MalformedSigners() from None
        # every member is still registered: a departed node's record outlives the blobs that name it
        members = [self.nodes.get(who) for who in node_set.members]
        weights = attestation.quorum_weights([node.stake for node in members], node_set.stakes)
        if not attestation.is_quorum(sum(weights[i] for i in positions), sum(weights)):
            raise BelowQuorum()
        kept = columns_kept(positions, node_set.stakes, blob.custody_seed, node_set.replication)
        if kept < kzg.CELLS_TO_RECOVER:
            raise TooFewColumns()
        message = attestation.attestation_message(self._genesis_hash(), blob_id, blob.commitment)
        if not bls.fast_aggregate_verify([members[i].bls_public for i in positions], message, aggregate):
            raise InvalidAggregate()
        self.blobs.insert(blob_id, replace(blob, status=BlobStatus.Available, signers=bytes(signers)))
        size = self.audit_pool_size.get()
        self.audit_pool.insert(size, blob_id)
        self.audit_pool_index.insert(blob_id, size)
        self.audit_pool_size.put(size + 1)
        self._settle_fee(blob_id, blob, [(node_set.members[i], weights[i]) for i in positions])
        self.deposit_event(BlobAvailable(blob_id))

    @call(3, weight=lambda w, audit_id, cell, proof: w.answer_audit())
    def answer_audit(self, origin: Origin, audit_id: AuditId, cell: Bytes, proof: CellProof) -> PostDispatchInfo:
        """Answer audit ``audit_id`` with the audited cell and its KZG proof. A passing answer pays no fee:
        proving custody is the node's duty, and only the one audited node can answer, once."""
        who = ensure_signed(origin)
        audit = self.audits.get(audit_id)
        if audit is None:
            raise UnknownAudit()
        if audit.node != who:
            raise NotAudited()
        try:
            valid = kzg.verify_cells([audit.commitment], [audit.cell_index], [cell], [proof])
        except (kzg.MalformedInput, kzg.NonCanonicalFieldElement):
            raise InvalidCell() from None
        except kzg.InvalidPoint:
            raise InvalidCellProof() from None
        if not valid:
            raise InvalidCellProof()
        self.audits.remove(audit_id)
        self.nodes.mutate(who, lambda node: replace(node, audits_passed=node.audits_passed + 1))
        self.deposit_event(AuditPassed(audit_id, who))
        return FEE_WAIVED

    @call(4, weight=lambda w: w.deregister())
    def deregister(self, origin: Origin) -> None:
        """Leave the node set. Blobs submitted from now on do not name this node; those that do are
        retained ``RetentionPeriod`` blocks at most, so the stake, still slashable meanwhile, is released
        after that."""
        who = ensure_signed(origin)
        if not self.nodes.contains(who):
            raise NotRegistered()
        node_set = self.node_set.get()
        if who not in node_set:
            raise AlreadyLeaving()
        remaining, unbonds_at = self._leave(node_set, who)
        self.node_set.put(remaining)
        self.deposit_event(NodeDeregistered(who, unbonds_at))

    @call(5, weight=lambda w, endpoint: w.update_endpoint())
    def update_endpoint(self, origin: Origin, endpoint: Bytes) -> None:
        """Serve cells at ``endpoint`` from now on (a node that moved). A departing node may still move: it
        is audited until its stake is released."""
        who = ensure_signed(origin)
        node = self.nodes.get(who)
        if node is None:
            raise NotRegistered()
        self._check_endpoint(endpoint)
        self.nodes.insert(who, replace(node, endpoint=endpoint))
        self.deposit_event(NodeUpdated(who, endpoint))

    @call(6, weight=lambda w, amount: w.bond_extra())
    def bond_extra(self, origin: Origin, amount: Balance) -> None:
        """Hold ``amount`` more as this node's stake: it counts in the custody and quorums of blobs submitted
        from now on (not of those dealt before: :func:`da_layer.attestation.quorum_weights`), and keeps the node
        out of a newcomer's reach when the node set is full. Only a node of the node set: a leaving one's
        stake is on its way back."""
        who = ensure_signed(origin)
        node = self.nodes.get(who)
        if node is None:
            raise NotRegistered()
        if who not in self.node_set.get():
            raise AlreadyLeaving()
        if amount == 0:
            raise NothingToBond()
        self.config.currency.hold(DataAvailabilityHoldReason.NodeStake, who, amount)
        self.nodes.insert(who, replace(node, stake=node.stake + amount))
        self.deposit_event(StakeBonded(who, amount, node.stake + amount))

    def _evictee(self, node_set: tuple, stake: int) -> bytes:
        """The member a newcomer staking ``stake`` evicts from the full ``node_set``: the lowest stake (of
        equals, the latest to join), if ``stake`` exceeds it by the eviction margin; else ``TooManyNodes``."""
        stakes = [self.nodes.get(who).stake for who in node_set]
        lowest = min(range(len(node_set)), key=lambda i: (stakes[i], -i))
        if stake * PERBILL <= stakes[lowest] * (PERBILL + self.config.eviction_margin_perbill):
            raise TooManyNodes()
        return node_set[lowest]

    def _leave(self, node_set: tuple, who: bytes) -> tuple[tuple, int]:
        """Take ``who`` out of ``node_set`` and unbond its stake at the end of the retention period; the node
        set without it, and the block its stake is released at."""
        unbonds_at = self.block_number() + self.config.retention_period
        self.unbonding.mutate(unbonds_at, lambda leaving: leaving + (who,))
        return tuple(member for member in node_set if member != who), unbonds_at

    def _check_endpoint(self, endpoint: bytes) -> None:
        if not is_http_endpoint(endpoint, self.config.max_endpoint_length):
            raise InvalidEndpoint()

    # --- hooks ------------------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """Close attestation deadlines and audits due at ``n``, prune blobs whose retention ends, and start
        an audit round every ``audit_period`` blocks."""
        deadlines = self._close_deadlines(n)
        closed = self._close_audits(n)
        pruned = self._prune(n)
        released = self._release_stakes(n)
        started = self._start_audits(n) if n % self.config.audit_period == 0 else 0
        return self.config.weights.on_initialize(deadlines, closed, pruned, started, released)

    def _close_deadlines(self, n: int) -> int:
        due = self.deadlines.take(n)
        for blob_id in due:
            blob = self.blobs.get(blob_id)
            if blob is not None and blob.status is BlobStatus.Pending:
                self.blobs.insert(blob_id, replace(blob, status=BlobStatus.Unavailable))
                self._settle_fee(blob_id, blob, [])
                self.deposit_event(BlobUnavailable(blob_id))
        return len(due)

    def _settle_fee(self, blob_id: bytes, blob: Blob, attesters: list[tuple[bytes, int]]) -> None:
        """Pay ``attesters`` (account, quorum weight) their shares of the blob's held fee and burn the rest."""
        currency, reason = self.config.currency, DataAvailabilityHoldReason.BlobFee
        shares, burned = fee_shares(blob.fee, self.config.attester_share_perbill, [stake for _, stake in attesters])
        for (who, _), share in zip(attesters, shares):
            currency.transfer_on_hold(reason, blob.submitter, who, share)
        burned = currency.burn_held(reason, blob.submitter, burned, best_effort=True)  # from a hook: never fail
        self.deposit_event(FeeSettled(blob_id, sum(shares), burned))

    def _close_audits(self, n: int) -> int:
        due = self.audit_deadlines.take(n)
        for audit_id in due:
            audit = self.audits.take(audit_id)
            if audit is not None:  # (answered audits were removed)
                self._slash(audit_id, audit.node)
        return len(due)

    def _slash(self, audit_id: int, who: bytes) -> None:
        node = self.nodes.get(who)
        amount = node.stake * self.config.slash_perbill // PERBILL
        missing = self.config.currency.slash_held(DataAvailabilityHoldReason.NodeStake, who, amount)
        burned = amount - missing
        self.nodes.insert(who, replace(node, stake=node.stake - burned, audits_missed=node.audits_missed + 1))
        self.deposit_event(Slashed(audit_id, who, burned))

    def _prune(self, n: int) -> int:
        due = self.expiries.take(n)
        for blob_id in due:
            self._leave_audit_pool(blob_id)
            self._drop_node_set(self.blobs.take(blob_id).node_set_id)
            self.deposit_event(BlobPruned(blob_id))
        return len(due)

    def _release_stakes(self, n: int) -> int:
        leaving = self.unbonding.take(n)
        for who in leaving:
            node = self.nodes.take(who)
            self.node_of_key.remove(node.bls_public)
            if node.history() != AuditHistory(0, 0):
                self.past_records.insert(who, node.history())
            released = self.config.currency.release(DataAvailabilityHoldReason.NodeStake, who, node.stake,
                                                    best_effort=True)
            self.deposit_event(StakeReleased(who, released))
        return len(leaving)

    def _use_node_set(self, members: tuple) -> bytes:
        """The id of the node set of ``members`` at their stakes now, stored if no retained blob names it yet,
        and counted as named once more."""
        node_set = NodeSet(members, tuple(self.nodes.get(who).stake for who in members),
                           self.config.custody_replication)
        node_set_id = node_set_id_of(node_set)
        uses = self.node_set_uses.get(node_set_id)
        if uses == 0:
            self.node_sets.insert(node_set_id, node_set)
        self.node_set_uses.insert(node_set_id, uses + 1)
        return node_set_id

    def _drop_node_set(self, node_set_id: bytes) -> None:
        """One blob naming the node set fewer; the last one takes it away."""
        uses = self.node_set_uses.get(node_set_id) - 1
        if uses:
            self.node_set_uses.insert(node_set_id, uses)
        else:
            self.node_set_uses.remove(node_set_id)
            self.node_sets.remove(node_set_id)

    def _leave_audit_pool(self, blob_id: bytes) -> None:
        """Swap-remove: the last entry moves into the leaving blob's slot."""
        index = self.audit_pool_index.take(blob_id)
        if index is None:
            return
        last = self.audit_pool_size.get() - 1
        if index != last:
            moved = self.audit_pool.get(last)
            self.audit_pool.insert(index, moved)
            self.audit_pool_index.insert(moved, index)
        self.audit_pool.remove(last)
        self.audit_pool_size.put(last)

    def _start_audits(self, n: int) -> int:
        size = self.audit_pool_size.get()
        if size == 0:
            return 0
        parent = self._parent_hash()
        audit_id = self.next_audit_id.get()
        opened = []
        for k in range(self.config.audits_per_period):
            audit = self._draw_audit(n, blake2_256(DOMAIN_DA_AUDIT + parent + n.to_bytes(4, "little")
                                                   + k.to_bytes(4, "little")), size)
            if audit is None:
                continue
            self.audits.insert(audit_id, audit)
            self.deposit_event(AuditStarted(audit_id, audit.node, audit.blob_id, audit.cell_index, audit.deadline))
            opened.append(audit_id)
            audit_id += 1
        if opened:
            self.next_audit_id.put(audit_id)
            self.audit_deadlines.insert(n + self.config.audit_deadline, tuple(opened))
        return self.config.audits_per_period

    def _draw_audit(self, n: int, draw: bytes, pool_size: int) -> Audit | None:
        """The audit ``draw`` picks: an available blob, then one of its (cell, attester keeping it) pairs.
        ``None`` if the blob is pruned before the audit's deadline (its custodians may have dropped it)."""
        cfg = self.config
        pick_blob, pick_pair = (
            int.from_bytes(draw[i * AUDIT_DRAW_BYTES : (i + 1) * AUDIT_DRAW_BYTES], "little") for i in range(2))
        blob_id = self.audit_pool.get(pick_blob % pool_size)
        blob = self.blobs.get(blob_id)
        deadline = n + cfg.audit_deadline
        if blob.submitted_at + cfg.retention_period <= deadline:
            return None
        node_set = self.node_sets.get(blob.node_set_id)
        attesters = frozenset(attestation.signers(blob.signers, len(node_set.members)))
        dealt = assignment(node_set.stakes, blob.custody_seed, node_set.replication)
        # an attested blob's signers keep at least CELLS_TO_RECOVER columns, so there is a pair to draw
        pairs = [(column, keeper) for column, keepers in enumerate(dealt) for keeper in keepers if keeper in attesters]
        column, node_index = pairs[pick_pair % len(pairs)]
        return Audit(node_set.members[node_index], blob_id, blob.commitment, column, deadline)

    def _parent_hash(self) -> bytes:
        return self.config.chain.known_block_hash(self.block_number() - 1) or bytes(32)

    def _genesis_hash(self) -> bytes:
        return self.config.chain.known_block_hash(0) or bytes(32)

    def warm_up(self) -> None:
        """The KZG setup that ``answer_audit`` verifies with (~3 s to load)."""
        kzg.trusted_setup()

    def integrity_test(self) -> None:
        cfg = self.config
        assert cfg.min_stake > 0, "a DA node must have something to lose"
        assert 0 < cfg.max_blob_length <= USABLE_BYTES_PER_BLOB, "a blob carries at most its usable bytes"
        assert cfg.max_blobs_per_block > 0 and cfg.max_endpoint_length > 0
        assert 0 < cfg.attestation_deadline < cfg.retention_period, "a blob is judged before it is pruned"
        assert 0 < cfg.custody_replication < 256, "a column has 1 .. 255 custody draws"
        assert cfg.max_nodes > 0
        assert cfg.attester_share_perbill <= PERBILL, "attesters share at most the whole fee"
        assert cfg.audit_period > 0 and 0 < cfg.audit_deadline
        assert cfg.slash_perbill < PERBILL, "a slashed node keeps some stake: custody deals by stake"


def _da_config(config_type: type, params: DataAvailabilityParams, weights: None,
               wired: dict) -> DataAvailabilityConfig:
    # the weights charge the node set and the custody draws this chain is configured with
    weights = DataAvailabilityWeights(params.max_nodes, params.custody_replication)
    return DataAvailabilityConfig(weights=weights, **wired, **dataclasses.asdict(params))


DEFINITION = PalletDefinition(pallet=DataAvailability, config=DataAvailabilityConfig, weights=None,
                              params=DataAvailabilityParams, build_config=_da_config, rpc=DA_RPC)
