"""What became of a submitted transaction: substrate-interface's ``ExtrinsicReceipt``, computed eagerly.

A receipt is built from the block that included the transaction: its index in the block (found by hash
among the block's extrinsics) selects the events whose phase is ``ApplyExtrinsic(index)``; among them
``System.ExtrinsicSuccess`` / ``ExtrinsicFailed`` say whether the call succeeded (the latter with the
``DispatchError``, named here) and ``TransactionPayment.TransactionFeePaid`` gives the fee.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.primitives import Header, Weight
from sdk.chain.runtime_view import RuntimeView
from sdk.chain.types import ChainEvent, DispatchFailure

__all__ = ["ExtrinsicReceipt", "InclusionData", "receipt_in_block"]


@dataclass(frozen=True)
class ExtrinsicReceipt:
    """A transaction's outcome. Submitted without waiting, only ``extrinsic_hash`` is known (the rest is
    ``None``/empty); watched to inclusion or finality, everything is filled in."""

    extrinsic_hash: bytes
    block_hash: bytes | None = None
    block_number: int | None = None
    extrinsic_idx: int | None = None
    finalized: bool = False
    triggered_events: tuple[ChainEvent, ...] = ()
    is_success: bool | None = None
    error_message: DispatchFailure | None = None
    """Why the call failed (``Balances.InsufficientBalance: Balance too low to send value``), else ``None``."""
    total_fee_amount: int | None = None
    """The fee the signer paid (``TransactionFeePaid.actual_fee``, tip included)."""
    weight: Weight | None = None


@dataclass(frozen=True)
class InclusionData:
    """What every receipt of one block needs, fetched once per block."""

    block_hash: bytes
    block_number: int
    parent_hash: bytes
    extrinsic_index: dict[bytes, int]
    """Extrinsic hash → index in the block."""
    events_of: dict[int, tuple[ChainEvent, ...]]
    """Extrinsic index → the events it deposited."""

    @staticmethod
    def of_block(block_hash: bytes, header: Header, extrinsic_hashes: list[bytes],
                 events: tuple[ChainEvent, ...]) -> "InclusionData":
        events_of: dict[int, list[ChainEvent]] = {}
        for event in events:
            events_of.setdefault(event.extrinsic_idx, []).append(event)  # type: ignore[arg-type]
        return InclusionData(block_hash, header.number, header.parent_hash,
                             {h: i for i, h in enumerate(extrinsic_hashes)}, {i: tuple(e) for i, e in events_of.items()})


def receipt_in_block(view: RuntimeView, extrinsic_hash: bytes, block: InclusionData, *, finalized: bool) -> ExtrinsicReceipt:
    """The receipt of ``extrinsic_hash`` in ``block``; an extrinsic missing from the block gets a receipt
    with ``is_success`` ``None`` (the node said it was included; the block says otherwise)."""
    index = block.extrinsic_index.get(extrinsic_hash)
    if index is None:
        return ExtrinsicReceipt(extrinsic_hash, block.block_hash, block.block_number, finalized=finalized)
    events = block.events_of.get(index, ())
    is_success: bool | None = None
    failure = fee = weight = None
    for event in events:
        if event.pallet == "System" and event.name == "ExtrinsicSuccess":
            is_success, weight = True, event.event.dispatch_info.weight
        elif event.pallet == "System" and event.name == "ExtrinsicFailed":
            is_success, weight = False, event.event.dispatch_info.weight
            failure = view.dispatch_failure(event.event.dispatch_error)
        elif event.pallet == "TransactionPayment" and event.name == "TransactionFeePaid":
            fee = event.event.actual_fee
    return ExtrinsicReceipt(extrinsic_hash, block.block_hash, block.block_number, index, finalized, events,
                            is_success, failure, fee, weight)
