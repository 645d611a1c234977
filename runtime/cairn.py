"""The Cairn runtime: which pallets, at which indices, wired how (FRAME's ``construct_runtime!``).

Pallet indices, names and the runtime version are wire format. Changing any of them, or a pallet's calls,
events, errors or storage, changes the metadata snapshot and must bump ``spec_version``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

from runtime.frame.construct import RuntimeBase
from runtime.frame.metadata import build_metadata
from runtime.frame.pallet import Env
from runtime.hashing import blake2_64
from runtime.pallets.balances import Balances, BalancesConfig
from runtime.pallets.sudo import Sudo, SudoConfig
from runtime.pallets.system import System, SystemConfig
from runtime.pallets.timestamp import Timestamp, TimestampConfig
from runtime.pallets.transaction_payment import TransactionPayment, TransactionPaymentConfig
from runtime.pallets.validator_set import ValidatorSet, ValidatorSetConfig
from runtime.primitives import ACCOUNT_LOOKUP, MULTI_SIGNATURE, DispatchClass, Weight
from runtime.scale import STR, U8, U32, U128, FixedBytes, Tuple, Vec
from runtime.weights import CairnWeights
from runtime.extrinsic import SIGNED_EXTENSIONS, SignatureCache

__all__ = ["CairnRuntime", "RuntimeParams", "RUNTIME_PARAMS_KEY", "RuntimeVersion", "RUNTIME_API_VERSIONS", "NORMAL_DISPATCH_RATIO_PERCENT"]

NORMAL_DISPATCH_RATIO_PERCENT = 75
"""Share of a block's weight and length that normal (user) extrinsics may fill; the rest is kept for
operational and mandatory ones."""


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


RUNTIME_API_VERSIONS = (
    ("Core", 4),
    ("Metadata", 2),
    ("BlockBuilder", 6),
    ("TaggedTransactionQueue", 3),
    ("AccountNonceApi", 1),
    ("TransactionPaymentApi", 4),
)
"""Advertised in ``Core_version``; ``Metadata`` v2 tells polkadot.js to ask ``metadata_versions`` (which
answers ``[14]``)."""

VERSION = RuntimeVersion(
    spec_name="cairn",
    impl_name="cairn-node",
    authoring_version=1,
    spec_version=102,
    impl_version=1,
    apis=tuple((blake2_64(name.encode()), v) for name, v in RUNTIME_API_VERSIONS),
    transaction_version=1,
    state_version=1,
)


@dataclass(frozen=True)
class RuntimeParams:
    """Preset-level parameters (``dev``, ``local``, ...); see ``node.chain_spec`` for the values."""

    existential_deposit: int = 10**10
    ss58_prefix: int = 42
    block_hash_count: int = 2400
    max_block_ref_time: int = 10**12
    """Picoseconds of reference execution per block (1 s)."""
    max_block_proof_size: int = 5 * 1024 * 1024
    max_block_length: int = 5 * 1024 * 1024
    minimum_period_ms: int = 1000
    session_length: int = 50
    max_validators: int = 100
    base_fee: int = 10**8
    length_fee: int = 10**6
    weight_fee: int = 10**7

    def encode(self) -> bytes:
        """``Vec<(String, u128)>`` of every parameter by name: genesis stores it at
        :data:`RUNTIME_PARAMS_KEY`, so the genesis hash commits to the parameters (as a Substrate genesis
        commits to its runtime through ``:code``) and two chains that differ in them never share one."""
        return _PARAMS_CODEC.encode(sorted(dataclasses.asdict(self).items()))

    @staticmethod
    def decode(data: bytes) -> "RuntimeParams":
        return RuntimeParams(**dict(_PARAMS_CODEC.decode(data)))


RUNTIME_PARAMS_KEY = b":cairn:runtime_params"
_PARAMS_CODEC = Vec(Tuple(STR, U128))


class CairnRuntime(RuntimeBase):
    """The runtime: pallets at their indices (index = wire format), plus version and metadata."""

    CRATE = "cairn_runtime"
    VERSION = VERSION

    def __init__(self, params: RuntimeParams = RuntimeParams(), signatures: SignatureCache | None = None) -> None:
        """``signatures`` lets several runtime instances of one node (its block executor and its pool
        validator, on different threads) share what they have verified."""
        self.params = params
        self.signatures = signatures if signatures is not None else SignatureCache()
        env = Env()
        weights = CairnWeights(inner_weight=lambda call: self.dispatch_info(call).weight)
        max_weight = Weight(params.max_block_ref_time, params.max_block_proof_size)
        self.max_normal_weight = Weight(max_weight.ref_time * NORMAL_DISPATCH_RATIO_PERCENT // 100,
                                        max_weight.proof_size * NORMAL_DISPATCH_RATIO_PERCENT // 100)
        self.max_weight = max_weight
        self.max_normal_length = params.max_block_length * NORMAL_DISPATCH_RATIO_PERCENT // 100

        self.system = System(SystemConfig(
            weights=weights, block_hash_count=params.block_hash_count, ss58_prefix=params.ss58_prefix,
            max_block_weight=max_weight, max_block_length=params.max_block_length,
        ), env)
        self.timestamp = Timestamp(TimestampConfig(weights=weights, minimum_period=params.minimum_period_ms), env)
        self.balances = Balances(BalancesConfig(
            accounts=self.system, weights=weights, existential_deposit=params.existential_deposit,
        ), env)
        self.transaction_payment = TransactionPayment(TransactionPaymentConfig(
            currency=self.balances, fee_handler=_BurnFees(), block_weight=_NormalWeight(self.system),
            base_fee=params.base_fee, length_fee=params.length_fee, weight_fee=params.weight_fee,
            max_normal_weight=self.max_normal_weight,
        ), env)
        self.sudo = Sudo(SudoConfig(dispatcher=self, weights=weights), env)
        self.validator_set = ValidatorSet(ValidatorSetConfig(
            weights=weights, session_length=params.session_length, max_validators=params.max_validators,
            header_logs=self.system,
        ), env)
        super().__init__(env, [
            (0, self.system),
            (1, self.timestamp),
            (2, self.validator_set),
            (5, self.balances),
            (6, self.transaction_payment),
            (7, self.sudo),
        ])
        env.deposit_event = self.system.deposit_event
        env.block_number = self.system.number.get

    @cached_property
    def metadata(self) -> bytes:
        """``RuntimeMetadataPrefixed`` (V14), as ``state_getMetadata`` serves it."""
        return build_metadata(self, ACCOUNT_LOOKUP, MULTI_SIGNATURE, SIGNED_EXTENSIONS)

    def max_weight_for(self, cls: DispatchClass) -> Weight:
        return self.max_normal_weight if cls is DispatchClass.Normal else self.max_weight

    def max_length_for(self, cls: DispatchClass) -> int:
        return self.max_normal_length if cls is DispatchClass.Normal else self.params.max_block_length


class _BurnFees:
    """Fees leave the issuance when withdrawn; nothing else to do (dev and local presets)."""

    def handle_fee(self, fee: int, tip: int) -> None:
        pass


class _NormalWeight:
    def __init__(self, system: System) -> None:
        self.system = system

    def normal_weight_used(self) -> Weight:
        return self.system.block_weight.get().normal
