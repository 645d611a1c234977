"""TransactionPayment: what an extrinsic costs, charging it, and the fee multiplier.

    fee = base_fee + length_fee * encoded_length + multiplier * weight_fee(weight) + tip

``multiplier`` (``NextFeeMultiplier``, a FixedU128 with 10^18 = 1.0) follows block fullness like Substrate's
``TargetedFeeAdjustment``: above the target share of normal-class weight it grows, below it shrinks, never
under ``min_multiplier``. All arithmetic is integer (no floats in consensus code, house rule 1).

Fees and tips are withdrawn before dispatch (``ChargeTransactionPayment``) and handed to the runtime's
``FeeHandler`` (Cairn's dev and local presets burn them), then ``TransactionFeePaid`` is deposited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from runtime.extrinsic import Extrinsic, decode_extrinsic
from runtime.frame.composition import PalletDefinition
from runtime.frame.overlay import Overlay
from runtime.frame.pallet import Constant, DispatchError, Pallet
from runtime.frame.storage import StorageValue
from runtime.primitives import AccountId, Balance, DispatchClass, DispatchInfo, Pays, Weight
from runtime.scale import U8, U32, U128, Option, ScaleDecodeError, scale_struct

__all__ = ["TransactionPayment", "TransactionPaymentConfig", "TransactionPaymentParams", "DEFINITION", "FeeDetails", "InclusionFee", "RuntimeDispatchInfo",
           "ONE", "TransactionFeePaid"]

ONE = 10**18
"""FixedU128 1.0."""


class FeeCurrency(Protocol):
    def withdraw(self, who: bytes, amount: int) -> None: ...
    def deposit(self, who: bytes, amount: int) -> None: ...
    def can_withdraw(self, who: bytes, amount: int) -> bool: ...


class FeeHandler(Protocol):
    """Receives the fee once withdrawn (already out of the issuance): burn it, or credit someone."""

    def handle_fee(self, fee: int, tip: int) -> None: ...


class BlockWeightReader(Protocol):
    def normal_weight_used(self) -> Weight: ...


@dataclass(frozen=True)
class TransactionPaymentParams:
    base_fee: int = 10**8
    """0.0001 token per extrinsic: the floor that makes spam cost something even for tiny calls."""
    length_fee: int = 10**6
    """Per encoded byte: a 5 MiB block of bytes costs ~5 tokens."""
    weight_fee: int = 10**7
    """Per µs of reference execution at multiplier 1.0: a transfer (~150 µs) pays ~0.0015 token for it."""


@dataclass(frozen=True)
class TransactionPaymentConfig:
    currency: FeeCurrency
    fee_handler: FeeHandler
    block_weight: BlockWeightReader
    base_fee: int
    length_fee: int
    """Per encoded byte."""
    weight_fee: int
    """Per 10^6 units of ``ref_time`` (1 µs of reference execution), at multiplier 1.0."""
    max_normal_weight: Weight
    target_fullness_permill: int = 250_000
    adjustment_variable_ppb: int = 3_000
    """``v`` of the fee adjustment, parts per billion per block."""
    min_multiplier: int = ONE // 10
    max_multiplier: int = ONE * 1_000
    operational_fee_multiplier: int = 5


@scale_struct("pallet_transaction_payment::types::InclusionFee", params=[("Balance", U128)])
@dataclass(frozen=True)
class InclusionFee:
    base_fee: Balance
    len_fee: Balance
    adjusted_weight_fee: Balance

    def total(self) -> int:
        return self.base_fee + self.len_fee + self.adjusted_weight_fee


@scale_struct("pallet_transaction_payment::types::FeeDetails", params=[("Balance", U128)])
@dataclass(frozen=True)
class FeeDetails:
    inclusion_fee: Annotated[InclusionFee | None, Option(InclusionFee.SCALE), "Option<InclusionFee<Balance>>"]  # type: ignore[attr-defined]
    tip: Balance


@scale_struct("pallet_transaction_payment::types::RuntimeDispatchInfo", params=[("Balance", U128), ("Weight", Weight.SCALE)])  # type: ignore[attr-defined]
@dataclass(frozen=True)
class RuntimeDispatchInfo:
    """What ``TransactionPaymentApi_query_info`` returns (field order read by both clients)."""

    WIRE_NAMES = {"class_": "class"}

    weight: Weight
    class_: Annotated[DispatchClass, DispatchClass.SCALE, "DispatchClass"]  # type: ignore[attr-defined]
    partial_fee: Balance


@dataclass(frozen=True)
class TransactionFeePaid:
    """A transaction fee `actual_fee`, of which `tip` was added to the minimum inclusion fee, has been paid by `who`."""

    who: AccountId
    actual_fee: Balance
    tip: Balance


class TransactionPayment(Pallet[TransactionPaymentConfig]):
    NAME = "TransactionPayment"
    EVENTS = (TransactionFeePaid,)
    CONSTANTS = (
        Constant("OperationalFeeMultiplier", U8, lambda c: c.operational_fee_multiplier,
                 "A fee multiplier for `Operational` extrinsics to compute \"virtual tip\" to boost their `priority`."),
    )

    next_fee_multiplier = StorageValue(U128, default=ONE, docs="The fee multiplier applied to the weight fee of the next block (FixedU128).")

    # --- fees -----------------------------------------------------------------------------------

    def fee_details(self, length: int, info: DispatchInfo, tip: int) -> FeeDetails:
        if info.pays_fee is Pays.No:
            return FeeDetails(None, tip)
        cfg = self.config
        weight_fee = info.weight.ref_time * cfg.weight_fee // 1_000_000
        adjusted = weight_fee * self.next_fee_multiplier.get() // ONE
        return FeeDetails(InclusionFee(cfg.base_fee, cfg.length_fee * length, adjusted), tip)

    def compute_fee(self, length: int, info: DispatchInfo, tip: int) -> int:
        details = self.fee_details(length, info, tip)
        return (details.inclusion_fee.total() if details.inclusion_fee else 0) + tip

    def query_info(self, length: int, info: DispatchInfo) -> RuntimeDispatchInfo:
        return RuntimeDispatchInfo(info.weight, info.class_, self.compute_fee(length, info, 0))

    def can_pay(self, who: bytes, fee: int) -> bool:
        return fee == 0 or self.config.currency.can_withdraw(who, fee)

    def charge(self, who: bytes, fee: int, tip: int) -> None:
        """Withdraw ``fee`` (which includes ``tip``) from ``who``: the pre-dispatch half of the extension."""
        if fee:
            self.config.currency.withdraw(who, fee)

    def settle(self, who: bytes, fee: int, paid: int, tip: int) -> int:
        """The post-dispatch half: of the ``fee`` charged, the signer gets back what the call turned out not to
        owe (its fee at its actual weight, or all but the tip if it waived its fee: ``PostDispatchInfo``), and
        ``paid`` goes to the fee handler. Returns ``paid``."""
        assert 0 <= paid <= fee, (paid, fee)
        if fee > paid:
            try:
                self.config.currency.deposit(who, fee - paid)
            except DispatchError:  # the call reaped the signer, and the refund cannot recreate it: forfeited (FRAME)
                paid = fee
        if paid:
            self.config.fee_handler.handle_fee(paid - min(tip, paid), min(tip, paid))
        self.deposit_event(TransactionFeePaid(who, paid, tip))
        return paid

    def priority(self, fee: int, tip: int, info: DispatchInfo, length: int) -> int:
        """Pool priority: tip per unit of the scarcer resource, boosted for operational extrinsics."""
        cfg = self.config
        max_weight = max(cfg.max_normal_weight.ref_time, 1)
        per_weight = tip * max_weight // max(info.weight.ref_time, 1)
        per_length = tip * 5 * 1024 * 1024 // max(length, 1)
        priority = min(per_weight, per_length, 2**64 - 1)
        if info.class_ is DispatchClass.Operational:
            priority = min(priority + fee * cfg.operational_fee_multiplier, 2**64 - 1)
        return priority

    # --- multiplier -----------------------------------------------------------------------------

    def on_finalize(self, n: int) -> None:
        """Adjust the multiplier from this block's normal-class fullness (Substrate's targeted formula,
        in integers): ``m' = m * (1 + v*d + (v*d)^2/2)`` with ``d`` = fullness - target."""
        cfg = self.config
        used = self.config.block_weight.normal_weight_used().ref_time
        fullness = used * 1_000_000_000 // max(cfg.max_normal_weight.ref_time, 1)  # ppb
        diff = fullness - cfg.target_fullness_permill * 1000  # ppb, may be negative
        v_d = cfg.adjustment_variable_ppb * diff // 1_000_000_000  # ppb
        factor = 10**9 + v_d + v_d * v_d // (2 * 10**9)
        m = self.next_fee_multiplier.get() * max(factor, 0) // 10**9
        self.next_fee_multiplier.put(min(max(m, cfg.min_multiplier), cfg.max_multiplier))

    def integrity_test(self) -> None:
        assert 0 < self.config.min_multiplier <= ONE <= self.config.max_multiplier


# --- runtime API ----------------------------------------------------------------------------------


def _fee_inputs(runtime: Any, params: bytes) -> tuple[Extrinsic, int]:
    """``(extrinsic, len: u32)``; the signature is deliberately not checked (clients send zeros)."""
    if len(params) < 4:
        raise ScaleDecodeError("missing length parameter")
    return decode_extrinsic(params[:-4], runtime.call_codec), U32.decode(params[-4:])


def _query_info(runtime: Any, params: bytes, state: Any, block_hash: bytes) -> bytes:
    """``TransactionPaymentApi_query_info(extrinsic, len) -> RuntimeDispatchInfo``."""
    xt, length = _fee_inputs(runtime, params)
    info = runtime.dispatch_info(xt.call)
    with runtime.executing(Overlay(state)):
        result = runtime.pallet(TransactionPayment).query_info(length, info)
    return RuntimeDispatchInfo.SCALE.encode(result)  # type: ignore[attr-defined]


def _query_fee_details(runtime: Any, params: bytes, state: Any, block_hash: bytes) -> bytes:
    """``TransactionPaymentApi_query_fee_details(extrinsic, len) -> FeeDetails``."""
    xt, length = _fee_inputs(runtime, params)
    info = runtime.dispatch_info(xt.call)
    with runtime.executing(Overlay(state)):
        details = runtime.pallet(TransactionPayment).fee_details(length, info, xt.tip)
    return FeeDetails.SCALE.encode(details)  # type: ignore[attr-defined]


DEFINITION = PalletDefinition(
    pallet=TransactionPayment, config=TransactionPaymentConfig, weights=None, params=TransactionPaymentParams,
    apis={"TransactionPaymentApi": (4, {"query_info": _query_info, "query_fee_details": _query_fee_details})},
)
