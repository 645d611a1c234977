"""System: accounts and nonces, block number and hashes, events with phases, block weight and length.

Every other pallet reaches System only through :class:`runtime.frame.pallet.Env` (events, block number)
or through the protocols it declares; the executive drives the block lifecycle through the methods below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.construct import RUNTIME_EVENTS
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import (
    Constant,
    DispatchError,
    Origin,
    Pallet,
    call,
    ensure_root,
    ensure_signed,
)
from runtime.frame.storage import Hasher, StorageMap, StorageValue
from runtime.hashing import blake2_256
from runtime.pallets.account import ACCOUNT_INFO, AccountInfo
from runtime.primitives import (
    ACCOUNT_ID,
    DISPATCH_ERROR,
    PHASE,
    AccountId,
    Bytes,
    Digest,
    DispatchClass,
    DispatchInfo,
    Hash,
    PhaseKind,
    Weight,
)
from runtime.scale import BYTES, H256, U16, U32, Tuple, Vec, scale_struct
from runtime.weights import US, WRITE

__all__ = ["System", "SystemConfig", "SystemParams", "SystemWeightInfo", "SystemWeights", "PerDispatchClassWeight",
           "ExtrinsicSuccess", "ExtrinsicFailed", "DEFINITION"]


class SystemWeightInfo(Protocol):
    def remark(self, length: int) -> Weight: ...
    def set_storage(self, items: int) -> Weight: ...


class SystemWeights:
    """Measured weights of System's calls (units in ``runtime.weights``)."""

    def remark(self, length: int) -> Weight:
        return Weight(10 * US + length * 2_000, length)

    def set_storage(self, items: int) -> Weight:
        return Weight(10 * US + items * WRITE, 0)


@dataclass(frozen=True)
class SystemParams:
    """System's preset-level parameters."""

    block_hash_count: int = 2400
    """Recent block hashes kept: a mortal transaction may live up to this many blocks (Substrate's value)."""
    ss58_prefix: int = 42
    """The generic Substrate prefix: dev tools and wallets show ``5…`` addresses."""
    max_block_ref_time: int = 10**12
    """Picoseconds of reference execution per block (1 s): half a 2 s slot, the rest carries the block."""
    max_block_proof_size: int = 5 * 1024 * 1024
    """Substrate's default proof-size limit (5 MiB)."""
    max_block_length: int = 5 * 1024 * 1024
    """Bytes of extrinsics per block (5 MiB, Substrate's default)."""
    normal_dispatch_ratio_percent: int = 75
    """Share of a block's weight and length that normal (user) extrinsics may fill; the rest is kept for
    operational and mandatory ones (Substrate's ``NORMAL_DISPATCH_RATIO``)."""
    initialization_reserve_percent: int = 10
    """Share of a block's weight no single extrinsic may claim, kept for what every block runs before its
    transactions (the pallets' ``on_initialize`` hooks, the timestamp inherent): an extrinsic the pool admits
    then fits an empty block (Substrate's ``AVERAGE_ON_INITIALIZE_RATIO``). Without it an operational
    extrinsic declaring the whole block passed the pool, never fitted a block and stalled the author."""


@dataclass(frozen=True)
class SystemConfig:
    weights: SystemWeightInfo
    block_hash_count: int
    """How many recent block hashes ``BlockHash`` keeps (bounds the longest mortal era)."""
    ss58_prefix: int
    max_block_weight: Weight
    max_block_length: int
    normal_dispatch_ratio_percent: int = 75
    initialization_reserve_percent: int = 10
    max_normal_weight: Weight = field(init=False)
    """The share of ``max_block_weight`` normal extrinsics may use (derived once, read per extrinsic)."""
    max_normal_length: int = field(init=False)
    max_normal_extrinsic: Weight = field(init=False)
    max_operational_extrinsic: Weight = field(init=False)

    def __post_init__(self) -> None:
        ratio = self.normal_dispatch_ratio_percent
        object.__setattr__(self, "max_normal_weight", Weight(self.max_block_weight.ref_time * ratio // 100,
                                                             self.max_block_weight.proof_size * ratio // 100))
        object.__setattr__(self, "max_normal_length", self.max_block_length * ratio // 100)
        whole, reserve = self.max_block_weight, self.initialization_reserve_percent
        for name, share in (("max_normal_extrinsic", self.max_normal_weight), ("max_operational_extrinsic", whole)):
            object.__setattr__(self, name, Weight(max(0, share.ref_time - whole.ref_time * reserve // 100),
                                                  max(0, share.proof_size - whole.proof_size * reserve // 100)))

    def max_weight_for(self, cls: DispatchClass) -> Weight:
        """The most weight extrinsics of class ``cls`` may use in a block."""
        return self.max_normal_weight if cls is DispatchClass.Normal else self.max_block_weight

    def max_extrinsic_weight(self, cls: DispatchClass) -> Weight:
        """The most weight one extrinsic of class ``cls`` may declare: its class's share of a block less the
        initialization reserve (Substrate's per-class ``max_extrinsic``)."""
        return self.max_normal_extrinsic if cls is DispatchClass.Normal else self.max_operational_extrinsic

    def max_length_for(self, cls: DispatchClass) -> int:
        return self.max_normal_length if cls is DispatchClass.Normal else self.max_block_length


@scale_struct("frame_support::dispatch::PerDispatchClass", params=[("T", Weight.SCALE)])  # type: ignore[attr-defined]
@dataclass(frozen=True)
class PerDispatchClassWeight:
    normal: Weight = Weight(0, 0)
    operational: Weight = Weight(0, 0)
    mandatory: Weight = Weight(0, 0)

    def get(self, cls: DispatchClass) -> Weight:
        return (self.normal, self.operational, self.mandatory)[cls]

    def add(self, cls: DispatchClass, weight: Weight) -> "PerDispatchClassWeight":
        parts = [self.normal, self.operational, self.mandatory]
        parts[cls] = parts[cls] + weight
        return PerDispatchClassWeight(*parts)

    def reduce(self, cls: DispatchClass, weight: Weight) -> "PerDispatchClassWeight":
        """``weight`` taken off the class's total (saturating at zero)."""
        parts = [self.normal, self.operational, self.mandatory]
        parts[cls] = parts[cls] - weight
        return PerDispatchClassWeight(*parts)

    def total(self) -> Weight:
        return self.normal + self.operational + self.mandatory


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtrinsicSuccess:
    """An extrinsic completed successfully."""

    dispatch_info: Annotated[DispatchInfo, DispatchInfo.SCALE, "DispatchInfo"]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExtrinsicFailed:
    """An extrinsic failed."""

    dispatch_error: Annotated[Any, DISPATCH_ERROR, "DispatchError"]
    dispatch_info: Annotated[DispatchInfo, DispatchInfo.SCALE, "DispatchInfo"]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CodeUpdated:
    """`:code` was updated."""


@dataclass(frozen=True)
class NewAccount:
    """A new account was created."""

    account: AccountId


@dataclass(frozen=True)
class KilledAccount:
    """An account was reaped."""

    account: AccountId


@dataclass(frozen=True)
class Remarked:
    """On on-chain remark happened."""

    sender: AccountId
    hash: Hash


# --- errors ---------------------------------------------------------------------------------------


class InvalidSpecName(DispatchError):
    """The name of specification does not match between the current runtime and the new runtime."""


class SpecVersionNeedsToIncrease(DispatchError):
    """The specification version is not allowed to decrease between the current runtime and the new runtime."""


class FailedToExtractRuntimeVersion(DispatchError):
    """Failed to extract the runtime version from the new runtime."""


class NonDefaultComposite(DispatchError):
    """Suicide called when the account has non-default composite data."""


class NonZeroRefCount(DispatchError):
    """There is a non-zero reference count preventing the account from being purged."""


class CallFiltered(DispatchError):
    """The origin filter prevent the call to be dispatched."""


class System(Pallet[SystemConfig]):
    NAME = "System"
    CRATE = "frame_system"
    EVENTS = (ExtrinsicSuccess, ExtrinsicFailed, CodeUpdated, NewAccount, KilledAccount, Remarked)
    ERRORS = (InvalidSpecName, SpecVersionNeedsToIncrease, FailedToExtractRuntimeVersion, NonDefaultComposite,
              NonZeroRefCount, CallFiltered)
    CONSTANTS = (
        Constant("BlockHashCount", U32, lambda c: c.block_hash_count, "Maximum number of block number to block hash mappings to keep (oldest pruned first)."),
        Constant("SS58Prefix", U16, lambda c: c.ss58_prefix, "The designated SS58 prefix of this chain."),
    )

    account = StorageMap(ACCOUNT_ID, ACCOUNT_INFO, default=AccountInfo(), docs="The full account information for a particular account ID.")
    extrinsic_count = StorageValue(U32, docs="Total extrinsics count for the current block.")
    block_weight = StorageValue(PerDispatchClassWeight, default=PerDispatchClassWeight(), docs="The current weight for the block.")
    all_extrinsics_len = StorageValue(U32, docs="Total length (in bytes) for all extrinsics put together, for the current block.")
    block_hash = StorageMap(U32, H256, hasher=Hasher.Twox64Concat, default=bytes(32), docs="Map of block numbers to block hashes.")
    number = StorageValue(U32, default=0, docs="The current block number being processed. Set by `execute_block`.")
    parent_hash = StorageValue(H256, default=bytes(32), docs="Hash of the previous block.")
    digest = StorageValue(Digest, default=Digest(), docs="Digest of the current block, also part of the block header.")
    events = StorageValue(RUNTIME_EVENTS, default=(), docs="Events deposited for the current block.")
    event_count = StorageValue(U32, default=0, docs="The number of events in the `Events<T>` list.")
    execution_phase = StorageValue(PHASE, docs="The execution phase of the block.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, remark: w.remark(len(remark)))
    def remark(self, origin: Origin, remark: Bytes) -> None:
        """Make some on-chain remark."""
        ensure_signed(origin)

    @call(4, weight=lambda w, items: w.set_storage(len(items)), dispatch_class=DispatchClass.Operational)
    def set_storage(self, origin: Origin, items: Annotated[tuple, Vec(Tuple(BYTES, BYTES)), "Vec<KeyValue>"]) -> None:
        """Set some items of storage (root only)."""
        ensure_root(origin)
        for key, value in items:
            self.env.overlay.set(key, value)

    @call(5, weight=lambda w, keys: w.set_storage(len(keys)), dispatch_class=DispatchClass.Operational)
    def kill_storage(self, origin: Origin, keys: Annotated[tuple, Vec(BYTES), "Vec<Key>"]) -> None:
        """Kill some items from storage (root only)."""
        ensure_root(origin)
        for key in keys:
            self.env.overlay.delete(key)

    @call(7, weight=lambda w, remark: w.remark(len(remark)))
    def remark_with_event(self, origin: Origin, remark: Bytes) -> None:
        """Make some on-chain remark and emit an event."""
        who = ensure_signed(origin)
        self.deposit_event(Remarked(who, blake2_256(remark)))

    # --- accounts (used by Balances through its AccountStore protocol) -------------------------

    def get_account(self, who: bytes) -> AccountInfo:
        return self.account.get(who)

    def put_account(self, who: bytes, info: AccountInfo) -> None:
        """Store ``info``; an account with no references left is removed (reaped)."""
        if info.providers == 0 and info.consumers == 0 and info.sufficients == 0:
            if self.account.contains(who):
                self.account.remove(who)
                self.deposit_event(KilledAccount(who))
            return
        self.account.insert(who, info)

    def note_new_account(self, who: bytes) -> None:
        self.deposit_event(NewAccount(who))

    def inc_nonce(self, who: bytes) -> None:
        info = self.account.get(who)
        self.account.insert(who, AccountInfo(info.nonce + 1, info.consumers, info.providers, info.sufficients, info.data))

    def known_block_hash(self, number: int) -> bytes | None:
        """The hash of block ``number`` if it is still among the ``BlockHashCount`` kept (an ``H256`` is
        its own encoding, so the stored bytes are the hash)."""
        return self.env.current_overlay().get(self.block_hash.key(number))

    def account_nonce(self, who: bytes) -> int:
        return self.account.get(who).nonce

    # --- events ---------------------------------------------------------------------------------

    def deposit_event(self, event: Any) -> None:  # type: ignore[override]
        """Record ``event`` (of any pallet) in ``System.Events`` with the current phase. As in Substrate,
        nothing is recorded while building genesis (block 0): it has no extrinsics to attribute events to."""
        if self.number.get() == 0:
            return
        record = self.env.event_record_codec.encode_with_phase(self.env.current_phase(), event)
        self.env.current_overlay().append(self.events.key, record)
        self.event_count.put(self.event_count.get() + 1)

    def read_events(self) -> tuple:
        raw = self.env.overlay.get(self.events.key)
        return self.env.events_codec.decode(raw) if raw else ()

    # --- block lifecycle (driven by the executive) ----------------------------------------------

    def initialize(self, number: int, parent_hash: bytes, digest: Digest) -> None:
        self.set_phase(PhaseKind.Initialization())
        self.number.put(number)
        self.parent_hash.put(parent_hash)
        self.digest.put(digest)
        if number > 0:
            self.block_hash.insert(number - 1, parent_hash)
        self.events.kill()
        self.event_count.kill()
        self.block_weight.kill()
        self.all_extrinsics_len.kill()

    def deposit_log(self, item: Any) -> None:
        """Append ``item`` to this block's header digest (a ``Consensus`` log for light clients)."""
        self.digest.put(Digest(self.digest.get().logs + (item,)))

    def set_phase(self, phase: Any) -> None:
        self.env.phase = PHASE.encode(phase)  # (events of this phase are recorded with it)
        self.execution_phase.put(phase)

    def note_applied_extrinsic(self, index: int, info: DispatchInfo, error: Any | None) -> None:
        """Deposit ``ExtrinsicSuccess``/``ExtrinsicFailed`` for extrinsic ``index``."""
        if error is None:
            self.deposit_event(ExtrinsicSuccess(info))
        else:
            self.deposit_event(ExtrinsicFailed(error, info))
        self.extrinsic_count.put(index + 1)

    def register_extra_weight(self, weight: Weight, cls: DispatchClass) -> None:
        self.block_weight.put(self.block_weight.get().add(cls, weight))

    def reclaim_weight(self, unused: Weight, cls: DispatchClass) -> None:
        """Give back weight registered for an extrinsic that it did not use (``CheckWeight::post_dispatch``)."""
        if unused != Weight.ZERO:
            self.block_weight.put(self.block_weight.get().reduce(cls, unused))

    def normal_weight_used(self) -> Weight:
        """Weight used by normal extrinsics so far in this block (what the fee multiplier follows)."""
        return self.block_weight.get().normal

    def finalize(self) -> Digest:
        """End the block: prune old block hashes, drop per-block bookkeeping, return the digest."""
        number = self.number.get()
        to_remove = number - self.config.block_hash_count - 1
        if to_remove > 0:  # the genesis hash is kept forever: immortal transactions are signed against it
            self.block_hash.remove(to_remove)
        self.extrinsic_count.kill()
        self.all_extrinsics_len.kill()
        self.execution_phase.kill()
        return self.digest.get()

    def integrity_test(self) -> None:
        assert self.config.block_hash_count > 0, "BlockHashCount must be at least one block"
        assert self.config.max_block_length > 0, "blocks must have room for extrinsics"


def _system_config(config_type: type, params: SystemParams, weights: SystemWeights, wired: dict) -> SystemConfig:
    return SystemConfig(weights=weights, block_hash_count=params.block_hash_count, ss58_prefix=params.ss58_prefix,
                        max_block_weight=Weight(params.max_block_ref_time, params.max_block_proof_size),
                        max_block_length=params.max_block_length,
                        normal_dispatch_ratio_percent=params.normal_dispatch_ratio_percent,
                        initialization_reserve_percent=params.initialization_reserve_percent)


def _account_nonce(runtime: Any, params: bytes, state: Any, block_hash: bytes) -> bytes:
    """``AccountNonceApi_account_nonce(account) -> u32``."""
    who = ACCOUNT_ID.decode(params)
    with runtime.executing(Overlay(state)):
        return U32.encode(runtime.pallet(System).account_nonce(who))


DEFINITION = PalletDefinition(
    pallet=System, config=SystemConfig, weights=SystemWeights(), params=SystemParams, build_config=_system_config,
    apis={"AccountNonceApi": (1, {"account_nonce": _account_nonce})},
)

