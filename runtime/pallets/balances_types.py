"""What Balances keeps besides ``AccountData``: locks, named reserves, holds and freezes, as FRAME stores them.

Four ``Blake2_128Concat`` maps by account, each a bounded list of ``(id, amount)`` entries, with the types and
metadata paths of ``pallet_balances`` (``pallet_balances::types::{BalanceLock, Reasons, ReserveData}``,
``frame_support::traits::tokens::misc::IdAmount``, ``bounded_collections::{bounded_vec::BoundedVec,
weak_bounded_vec::WeakBoundedVec}``): wallets built on ``@polkadot/api`` or substrate-interface decode them by
those paths to show what an account has locked, reserved, held or frozen.

How each relates to ``AccountData`` (Balances keeps these true; the tests check them):

- ``reserved`` = the anonymous reserve + every named reserve (``Reserves``) + every hold (``Holds``);
- ``frozen`` = the largest lock (``Locks``) or freeze (``Freezes``); free balance above it is spendable.

This module is the pure part: the types, their codecs, one helper that changes an entry list, and the
``Protocol`` classes through which other pallets use these parts of Balances (house rule 2: a pallet declares
``currency: HoldCurrency`` in its config, and the composition wires Balances to it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, Sequence, TypeVar

from runtime.frame.construct import RUNTIME_FREEZE_REASON, RUNTIME_HOLD_REASON, RuntimeReason
from runtime.scale import U128, CEnum, Codec, FixedBytes, Vec, _field, scale_struct

__all__ = ["BalanceStatus", "BALANCE_STATUS", "HoldCurrency", "NamedReserveCurrency", "Reasons", "BalanceLock", "ReserveData", "HoldAmount", "FreezeAmount", "BoundedVec", "LOCKS", "RESERVES",
           "HOLDS", "FREEZES", "IDENTIFIER", "set_entry", "amount_of"]

class BalanceStatus(enum.IntEnum):
    """Where moved reserved balance lands (``frame_support::traits::tokens::misc::BalanceStatus``)."""

    Free = 0
    Reserved = 1


BALANCE_STATUS = CEnum(BalanceStatus, ("frame_support", "traits", "tokens", "misc", "BalanceStatus"))


class HoldCurrency(Protocol):
    """Holds, for a pallet that sets balance aside for one of its ``HOLD_REASONS`` (a stake, a deposit, an
    escrow). ``best_effort`` does what it can where ``exact`` (the default) would refuse with
    ``TokenError::FundsUnavailable``."""

    def balance_on_hold(self, reason: enum.IntEnum, who: bytes) -> int: ...
    def hold(self, reason: enum.IntEnum, who: bytes, amount: int) -> None: ...
    def release(self, reason: enum.IntEnum, who: bytes, amount: int, *, best_effort: bool = False) -> int: ...
    def burn_held(self, reason: enum.IntEnum, who: bytes, amount: int, *, best_effort: bool = False) -> int: ...
    def slash_held(self, reason: enum.IntEnum, who: bytes, amount: int) -> int: ...
    def transfer_on_hold(self, reason: enum.IntEnum, source: bytes, dest: bytes, amount: int, *,
                         on_hold: bool = False, best_effort: bool = False) -> int: ...


class NamedReserveCurrency(Protocol):
    """Named reserves (FRAME's ``NamedReservableCurrency``), under an 8-byte id."""

    def reserved_named(self, reserve_id: bytes, who: bytes) -> int: ...
    def reserve_named(self, reserve_id: bytes, who: bytes, amount: int) -> None: ...
    def unreserve_named(self, reserve_id: bytes, who: bytes, amount: int) -> int: ...
    def slash_reserved_named(self, reserve_id: bytes, who: bytes, amount: int) -> int: ...
    def repatriate_reserved_named(self, reserve_id: bytes, source: bytes, dest: bytes, amount: int,
                                  status: BalanceStatus = ...) -> int: ...


IDENTIFIER = FixedBytes(8)
"""``LockIdentifier`` and ``ReserveIdentifier``: eight bytes, conventionally ASCII (``b"staking "``)."""

Amount = Annotated[int, U128, "Balance"]


class Reasons(enum.IntEnum):
    """Which withdrawals a lock stops (``pallet_balances::types::Reasons``)."""

    Fee = 0
    Misc = 1
    All = 2


@scale_struct("pallet_balances::types::BalanceLock", params=[("Balance", U128)])
@dataclass(frozen=True)
class BalanceLock:
    """A single lock on a balance: ``amount`` of the free balance may not be spent, for ``reasons``."""

    id: Annotated[bytes, IDENTIFIER, "LockIdentifier"]
    amount: Amount
    reasons: Annotated[Reasons, CEnum(Reasons, ("pallet_balances", "types", "Reasons")), "Reasons"]


@scale_struct("pallet_balances::types::ReserveData", params=[("ReserveIdentifier", IDENTIFIER), ("Balance", U128)])
@dataclass(frozen=True)
class ReserveData:
    """A named reserve: ``amount`` of the reserved balance set aside under ``id``."""

    id: Annotated[bytes, IDENTIFIER, "ReserveIdentifier"]
    amount: Amount


@scale_struct("frame_support::traits::tokens::misc::IdAmount", params=[("Id", RUNTIME_HOLD_REASON), ("Balance", U128)])
@dataclass(frozen=True)
class HoldAmount:
    """``IdAmount<RuntimeHoldReason, Balance>``: ``amount`` of the reserved balance held for a pallet's reason."""

    id: Annotated[RuntimeReason, RUNTIME_HOLD_REASON, "Id"]
    amount: Amount


@scale_struct("frame_support::traits::tokens::misc::IdAmount", params=[("Id", RUNTIME_FREEZE_REASON), ("Balance", U128)])
@dataclass(frozen=True)
class FreezeAmount:
    """``IdAmount<RuntimeFreezeReason, Balance>``: ``amount`` of the balance frozen for a pallet's reason."""

    id: Annotated[RuntimeReason, RUNTIME_FREEZE_REASON, "Id"]
    amount: Amount


class BoundedVec(Codec):
    """``BoundedVec<T, S>`` (or ``WeakBoundedVec``): the bytes of a ``Vec<T>`` under the path both clients
    unwrap to ``Vec<T>``; the bound ``S`` is a constant of the pallet, not part of the type."""

    def __init__(self, item: Codec, *, weak: bool = False) -> None:
        self.vec = Vec(item)
        self.path = (("bounded_collections", "weak_bounded_vec", "WeakBoundedVec") if weak
                     else ("bounded_collections", "bounded_vec", "BoundedVec"))
        self.encode = self.vec.encode  # type: ignore[method-assign]
        self.decode_from = self.vec.decode_from  # type: ignore[method-assign]

    def type_params(self, registry: Any) -> list[dict]:
        return [{"name": "T", "type": registry.id_of(self.vec.item)}, {"name": "S", "type": None}]

    def type_def(self, registry: Any) -> dict:
        return {"composite": {"fields": [_field(None, registry.id_of(self.vec), "Vec<T>")]}}

    def __repr__(self) -> str:
        return f"{self.path[-1]}<{self.vec.item!r}>"


LOCKS = BoundedVec(BalanceLock.SCALE, weak=True)  # type: ignore[attr-defined]
RESERVES = BoundedVec(ReserveData.SCALE)  # type: ignore[attr-defined]
HOLDS = BoundedVec(HoldAmount.SCALE)  # type: ignore[attr-defined]
FREEZES = BoundedVec(FreezeAmount.SCALE)  # type: ignore[attr-defined]


class Entry(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def amount(self) -> int: ...


E = TypeVar("E", bound=Entry)


def amount_of(entries: Sequence[Entry], entry_id: Any) -> int:
    """The amount under ``entry_id`` (0 when there is no such entry)."""
    return next((e.amount for e in entries if e.id == entry_id), 0)


def set_entry(entries: Sequence[E], entry_id: Any, new: E | None) -> tuple[E, ...]:
    """``entries`` with the entry under ``entry_id`` replaced by ``new`` where it stands (appended if there
    was none), or removed when ``new`` is ``None``."""
    out = list(entries)
    for position, entry in enumerate(out):
        if entry.id == entry_id:
            if new is None:
                del out[position]
            else:
                out[position] = new
            return tuple(out)
    return tuple(out) if new is None else (*out, new)
