"""The Cairn runtime: which pallets, at which indices, wired how (FRAME's ``construct_runtime!``).

Pallet indices, names and the runtime version are wire format. Changing any of them, or a pallet's calls,
events, errors or storage, changes the metadata snapshot and must bump ``spec_version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

from compute_pallet.pallets import federated as federated_learning
from compute_pallet.pallets import jobs as compute_jobs
from compute_pallet.pallets import providers as compute_providers
from compute_pallet.pallets.interfaces import FileFacts
from compute_pallet.pallets.jobs import ComputeJobs
from compute_pallet.pallets.providers import ComputeProviders
from da_layer import pallet as data_availability
from runtime.extrinsic import SIGNED_EXTENSIONS, DecodedExtrinsics, SignatureCache
from runtime.frame.composition import PalletSlot, RuntimeGenesis, RuntimeParams
from runtime.frame.construct import RuntimeBase
from runtime.frame.metadata import build_metadata
from runtime.hashing import blake2_64
from runtime.pallets import balances, sudo, system, timestamp, transaction_payment, validator_set
from runtime.pallets.balances import Balances
from runtime.pallets.sudo import Sudo
from runtime.pallets.system import System
from runtime.pallets.timestamp import Timestamp
from runtime.pallets.transaction_payment import TransactionPayment
from runtime.pallets.validator_set import ValidatorSet
from runtime.primitives import ACCOUNT_LOOKUP, MULTI_SIGNATURE
from runtime.scale import STR, U8, U32, FixedBytes, Tuple, Vec
from storage_node.pallets import access as storage_access
from storage_node.pallets import file_bank
from storage_node.pallets import nodes as storage_nodes
from storage_node.pallets.access import StorageAccess
from storage_node.pallets.file_bank import FileBank
from storage_node.pallets.nodes import StorageNodes
from storage_node.pallets.types import FileInfo

__all__ = ["CairnRuntime", "COMPOSITION", "DEFINITIONS", "RuntimeVersion", "VERSION", "CORE_API_VERSIONS",
           "RUNTIME_PARAMS_KEY", "runtime_params", "runtime_genesis", "BurnFees", "FileBankStorageInfo"]


@dataclass(frozen=True)
class RuntimeVersion:
    spec_name: str
    impl_name: str
    authoring_version: int
    spec_version: int
    impl_version: int
    apis: tuple[tuple[bytes, int], ...]
    transaction_version: int
    state_version: int

    CODEC = Tuple(STR, STR, U32, U32, U32, Vec(Tuple(FixedBytes(8), U32)), U32, U8)

    def encode(self) -> bytes:
        return self.CODEC.encode((self.spec_name, self.impl_name, self.authoring_version, self.spec_version,
                                  self.impl_version, self.apis, self.transaction_version, self.state_version))

    def to_json(self) -> dict:
        """The ``state_getRuntimeVersion`` shape both clients read."""
        return {
            "specName": self.spec_name,
            "implName": self.impl_name,
            "authoringVersion": self.authoring_version,
            "specVersion": self.spec_version,
            "implVersion": self.impl_version,
            "apis": [["0x" + api.hex(), version] for api, version in self.apis],
            "transactionVersion": self.transaction_version,
            "stateVersion": self.state_version,
        }


CORE_API_VERSIONS = (
    ("Core", 4),
    ("Metadata", 2),
    ("BlockBuilder", 6),
    ("TaggedTransactionQueue", 3),
)
"""The executive's own runtime APIs (``runtime.apis``); pallets add theirs through their definitions.
``Metadata`` v2 tells polkadot.js to ask ``metadata_versions`` (which answers ``[14]``)."""


class FileBankStorageInfo:
    """The compute pallets' ``StorageInfo``, over FileBank and StorageAccess: files, readers, fragment holders,
    the pins that keep a file while a job or round reads it, and the locks that keep verified outputs."""

    def __init__(self, files: FileBank, access: StorageAccess) -> None:
        self._files, self._access = files, access

    @classmethod
    def of(cls, runtime: RuntimeBase) -> "FileBankStorageInfo":
        """The adapter over ``runtime``'s FileBank and StorageAccess (what the compute pallets are wired to)."""
        return cls(runtime.pallet(FileBank), runtime.pallet(StorageAccess))

    def file_facts(self, file_id: bytes) -> FileFacts | None:
        info = self._files.files.get(file_id)
        if info is None:
            return None
        return FileFacts(info.owner, info.status.readable, self._public(file_id, info),
                         self._files.deleting.contains(file_id), info.size)

    def may_read(self, file_id: bytes, who: bytes) -> bool:
        """The owner, anyone for a file stored unencrypted (public) and not embargoed, or a grantee of its sealed
        key (an embargoed file's nodes serve its owner and repairers only)."""
        info = self._files.files.get(file_id)
        if info is None or info.owner == who:
            return info is not None
        return not self._files.is_embargoed(file_id) and (not info.encrypted
                                                          or self._access.grants.contains(file_id, who))

    def may_be_granted(self, who: bytes) -> bool:
        return self._access.keys.contains(who)

    def _public(self, file_id: bytes, info: FileInfo) -> bool:
        return not info.encrypted and not self._files.is_embargoed(file_id)

    def fragment_holders(self, file_id: bytes, max_segments: int) -> frozenset[bytes]:
        info = self._files.files.get(file_id)
        if info is None:
            return frozenset()
        return frozenset(node for segment in range(min(info.segment_count, max_segments))
                         for node in self._files.placements.get(file_id, segment) or ())

    def stored_content(self, file_id: bytes) -> bytes | None:
        info = self._files.files.get(file_id)
        if info is None:
            return None
        return info.content

    def pin(self, file_id: bytes) -> None:
        self._files.pin(file_id)

    def unpin(self, file_id: bytes) -> None:
        self._files.unpin(file_id)

    def lock(self, file_id: bytes) -> None:
        self._files.lock(file_id)

    def release(self, file_id: bytes) -> None:
        self._files.release(file_id)


class BurnFees:
    """Fees leave the issuance when withdrawn; nothing else to do (dev and local presets)."""

    def handle_fee(self, fee: int, tip: int) -> None:
        pass


COMPOSITION: tuple[PalletSlot, ...] = (
    PalletSlot(0, system.DEFINITION),
    PalletSlot(1, timestamp.DEFINITION),
    PalletSlot(2, validator_set.DEFINITION, lambda r: {"header_logs": r.pallet(System)}),
    PalletSlot(5, balances.DEFINITION, lambda r: {
        "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
    PalletSlot(6, transaction_payment.DEFINITION, lambda r: {
        "currency": r.pallet(Balances), "fee_handler": BurnFees(), "block_weight": r.pallet(System),
        "max_normal_weight": r.pallet(System).config.max_normal_weight}),
    PalletSlot(7, sudo.DEFINITION, lambda r: {"dispatcher": r}),
    PalletSlot(20, storage_nodes.DEFINITION, lambda r: {"currency": r.pallet(Balances)}),
    PalletSlot(21, file_bank.DEFINITION, lambda r: {"nodes": r.pallet(StorageNodes), "chain": r.pallet(System), "currency": r.pallet(Balances)}),
    PalletSlot(22, storage_access.DEFINITION, lambda r: {"files": r.pallet(FileBank)}),
    PalletSlot(30, data_availability.DEFINITION, lambda r: {"currency": r.pallet(Balances), "chain": r.pallet(System)}),
    PalletSlot(40, compute_providers.DEFINITION, lambda r: {"currency": r.pallet(Balances)}),
    PalletSlot(41, compute_jobs.DEFINITION, lambda r: {
        "providers": r.pallet(ComputeProviders), "storage": FileBankStorageInfo.of(r), "chain": r.pallet(System),
        "clock": r.pallet(Timestamp), "currency": r.pallet(Balances)}),
    PalletSlot(42, federated_learning.DEFINITION, lambda r: {
        "market": r.pallet(ComputeJobs), "storage": FileBankStorageInfo.of(r), "currency": r.pallet(Balances)}),
)
"""Every pallet of the Cairn runtime at its index (index = wire format), and what each is wired to. Adding a
pallet, from this package or a layer package, is one line here."""

DEFINITIONS = tuple(slot.definition for slot in COMPOSITION)

VERSION = RuntimeVersion(
    spec_name="cairn",
    impl_name="cairn-node",
    authoring_version=1,
    spec_version=175,
    impl_version=1,
    apis=tuple((blake2_64(name.encode()), version) for name, version in CORE_API_VERSIONS + tuple(
        (api, version) for d in DEFINITIONS for api, (version, _) in d.apis.items())),
    transaction_version=1,
    state_version=1,
)


def runtime_params(overrides: Mapping[str, Any] | None = None) -> RuntimeParams:
    """The Cairn runtime's parameters: every pallet's defaults, with ``overrides`` by pallet name."""
    return RuntimeParams(DEFINITIONS, overrides)


def runtime_genesis(sections: Mapping[str, Any] | None = None) -> RuntimeGenesis:
    """The Cairn runtime's genesis config: every pallet's empty section, with ``sections`` by pallet name."""
    return RuntimeGenesis(DEFINITIONS, sections)


RUNTIME_PARAMS_KEY = b":cairn:runtime_params"
"""Where genesis stores ``RuntimeParams.encode()``."""


class CairnRuntime(RuntimeBase):
    """The runtime: the pallets of :data:`COMPOSITION`, plus version and metadata."""

    CRATE = "cairn_runtime"
    VERSION = VERSION

    def __init__(self, params: RuntimeParams | None = None, signatures: SignatureCache | None = None) -> None:
        """``signatures`` lets several runtime instances share what they have verified."""
        self.signatures = signatures if signatures is not None else SignatureCache()
        super().__init__(COMPOSITION, params if params is not None else runtime_params())
        # The core pallets as plain attributes (the executive reads them per extrinsic); a layer's pallet is
        # reached with ``runtime.pallet(TheClass)``.
        self.system: System = self.pallet(System)
        self.timestamp: Timestamp = self.pallet(Timestamp)
        self.validator_set: ValidatorSet = self.pallet(ValidatorSet)
        self.balances: Balances = self.pallet(Balances)
        self.transaction_payment: TransactionPayment = self.pallet(TransactionPayment)
        self.sudo: Sudo = self.pallet(Sudo)
        self.extrinsics = DecodedExtrinsics(self.call_codec)
        """Decoded once per node: the pool's validation and the block that includes the transaction share it."""

    @cached_property
    def metadata(self) -> bytes:
        """``RuntimeMetadataPrefixed`` (V14), as ``state_getMetadata`` serves it."""
        return build_metadata(self, ACCOUNT_LOOKUP, MULTI_SIGNATURE, SIGNED_EXTENSIONS)
