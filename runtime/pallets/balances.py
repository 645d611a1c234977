"""Balances: the native token. Transfers, the existential deposit, reserves, holds, locks, freezes, slashing,
total issuance.

Balances lives inside ``System.Account`` (``AccountInfo.data``), as in FRAME; this pallet reaches it through
the :class:`AccountStore` protocol that System implements. Other pallets (fees, storage deals, compute
escrow, stakes) move money only through the methods below, which they reach through a ``Protocol`` in their
own config (``balances_types.HoldCurrency``, ``NamedReserveCurrency``; house rule 2):

- *holds* (``hold``, ``release``, ``burn_held``, ``slash_held``, ``transfer_on_hold``): balance set aside
  for a reason of the calling pallet (its ``HOLD_REASONS``), listed per account in ``Holds`` under the
  runtime's ``RuntimeHoldReason``, so any wallet shows why it is held;
- *named reserves* (``reserve_named``, ``unreserve_named``, ``slash_reserved_named``,
  ``repatriate_reserved_named``): the same under an 8-byte id, listed in ``Reserves``;
- *anonymous reserves* (``reserve``, ``unreserve``, ``slash_reserved``, ``repatriate_reserved``), which
  touch only the part of ``reserved`` that no hold or named reserve accounts for;
- *locks* and *freezes* (``set_lock``/``remove_lock``, ``set_freeze``/``thaw``): ``frozen`` is the largest
  of them, and free balance above it is spendable (listed in ``Locks`` and ``Freezes``).

Accounting rules (the property tests check them):

- ``TotalIssuance`` equals the sum of every account's ``free + reserved``, always.
- ``reserved`` equals the anonymous reserve plus the sum of ``Reserves`` and ``Holds``; ``frozen`` equals
  the largest entry of ``Locks`` and ``Freezes``.
- An account exists while ``free + reserved >= ExistentialDeposit`` (it holds one provider reference).
  An operation that would leave less either fails (``keep_alive``, reserves, consumers present) or reaps
  the account: its dust is burned (``DustLost``) and System removes it (``KilledAccount``). A non-zero
  ``reserved`` holds one consumer reference and a non-zero ``frozen`` another, so an account with anything
  held, reserved, locked or frozen is never reaped.
- A transfer creating an account must carry at least the existential deposit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Protocol, Sequence

from runtime.frame.composition import InvalidGenesis, PalletDefinition
from runtime.frame.construct import RUNTIME_HOLD_REASON, RuntimeReason
from runtime.frame.pallet import (
    Constant,
    DispatchError,
    Origin,
    Pallet,
    TokenErrorRaised,
    call,
    ensure_root,
    ArithmeticOverflow,
    ensure_signed,
)
from runtime.frame.storage import StorageMap, StorageValue
from runtime.pallets.account import AccountData, AccountInfo
from runtime.pallets.balances_types import (
    BALANCE_STATUS,
    FREEZES,
    HOLDS,
    LOCKS,
    RESERVES,
    BalanceLock,
    BalanceStatus,
    FreezeAmount,
    HoldAmount,
    Reasons,
    ReserveData,
    amount_of,
    set_entry,
)
from runtime.primitives import ACCOUNT_ID, AccountId, AccountIdLookup, Balance, CompactBalance, TokenError, Weight
from runtime.scale import BOOL, U32, U128
from runtime.ss58 import ss58_decode, ss58_encode
from runtime.weights import READ, US, WRITE

U128_MAX = 2**128 - 1

__all__ = ["Balances", "BalancesConfig", "BalancesParams", "BalancesGenesis", "DEFINITION", "AccountStore", "BalancesWeightInfo"]


class AccountStore(Protocol):
    """Where account records live (System)."""

    def get_account(self, who: bytes) -> AccountInfo: ...
    def put_account(self, who: bytes, info: AccountInfo) -> None: ...
    def note_new_account(self, who: bytes) -> None: ...


class ReasonIndex(Protocol):
    """The runtime's composed reason enum (``RuntimeBase.hold_reasons`` / ``freeze_reasons``)."""

    def of(self, reason: enum.IntEnum) -> RuntimeReason: ...


class BalancesWeightInfo(Protocol):
    def transfer_allow_death(self) -> Weight: ...
    def transfer_keep_alive(self) -> Weight: ...
    def transfer_all(self) -> Weight: ...
    def force_transfer(self) -> Weight: ...
    def force_set_balance(self) -> Weight: ...


class BalancesWeights:
    """Measured: a transfer including its signature check, fees and events takes ~150 µs (see
    ``runtime.weights``); the others are scaled from the reads and writes they do."""

    def transfer_allow_death(self) -> Weight:
        return Weight(100 * US + 2 * READ + 2 * WRITE, 200)

    def transfer_keep_alive(self) -> Weight:
        return self.transfer_allow_death()

    def transfer_all(self) -> Weight:
        return self.transfer_allow_death()

    def force_transfer(self) -> Weight:
        return self.transfer_allow_death()

    def force_set_balance(self) -> Weight:
        return Weight(40 * US + READ + 2 * WRITE, 100)


@dataclass(frozen=True)
class BalancesParams:
    existential_deposit: int = 10**10
    """0.01 token (12 decimals): small enough for any test account, large enough that dust accounts cost
    an attacker real money to create."""


@dataclass(frozen=True)
class BalancesGenesis:
    """Accounts endowed at genesis: ``(account id, free balance)``."""

    balances: tuple[tuple[bytes, int], ...] = ()

    def to_json(self) -> dict:
        return {"balances": [[ss58_encode(who), str(amount)] for who, amount in self.balances]}

    @classmethod
    def from_json(cls, doc: dict) -> "BalancesGenesis":
        balances = tuple((ss58_decode(str(who)), int(amount)) for who, amount in doc["balances"])
        accounts = [who for who, _ in balances]
        if len(set(accounts)) != len(accounts):
            raise InvalidGenesis("balances: an account is endowed twice")
        return cls(balances)

    def build(self, pallet: "Balances") -> None:
        seen: set[bytes] = set()
        for who, amount in self.balances:
            if who in seen:
                raise InvalidGenesis(f"balances: 0x{who.hex()} is endowed twice")
            seen.add(who)
            pallet.endow(who, amount)


@dataclass(frozen=True)
class BalancesConfig:
    accounts: AccountStore
    hold_reasons: ReasonIndex
    """Turns a pallet's hold reason into the runtime's ``RuntimeHoldReason`` (wired to the runtime)."""
    freeze_reasons: ReasonIndex
    weights: BalancesWeightInfo
    existential_deposit: int
    max_locks: int = 50
    max_reserves: int = 50
    max_holds: int = 50
    max_freezes: int = 8



# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AccountAmount:
    """The ``{ who, amount }`` fields most balance events carry (each event stays its own class)."""

    who: AccountId
    amount: Balance


@dataclass(frozen=True)
class Endowed:
    """An account was created with some free balance."""

    account: AccountId
    free_balance: Balance


@dataclass(frozen=True)
class DustLost:
    """An account was removed whose balance was non-zero but below ExistentialDeposit, resulting in an outright loss."""

    account: AccountId
    amount: Balance


@dataclass(frozen=True)
class Transfer:
    """Transfer succeeded."""

    from_: AccountId
    to: AccountId
    amount: Balance

    WIRE_NAMES = {"from_": "from"}


@dataclass(frozen=True)
class BalanceSet:
    """A balance was set by root."""

    who: AccountId
    free: Balance


@dataclass(frozen=True)
class Reserved(_AccountAmount):
    """Some balance was reserved (moved from free to reserved)."""


@dataclass(frozen=True)
class Unreserved(_AccountAmount):
    """Some balance was unreserved (moved from reserved to free)."""


@dataclass(frozen=True)
class ReserveRepatriated:
    """Some balance was moved from the reserve of the first account to the second account."""

    from_: AccountId
    to: AccountId
    amount: Balance
    destination_status: Annotated[BalanceStatus, BALANCE_STATUS, "Status"]

    WIRE_NAMES = {"from_": "from"}


@dataclass(frozen=True)
class Deposit(_AccountAmount):
    """Some amount was deposited (e.g. for transaction fees)."""


@dataclass(frozen=True)
class Withdraw(_AccountAmount):
    """Some amount was withdrawn from the account (e.g. for transaction fees)."""


@dataclass(frozen=True)
class Slashed(_AccountAmount):
    """Some amount was removed from the account (e.g. for misbehavior)."""


@dataclass(frozen=True)
class Minted(_AccountAmount):
    """Some amount was minted into an account."""


@dataclass(frozen=True)
class Burned(_AccountAmount):
    """Some amount was burned from an account."""


@dataclass(frozen=True)
class Locked(_AccountAmount):
    """Some balance was locked."""


@dataclass(frozen=True)
class Unlocked(_AccountAmount):
    """Some balance was unlocked."""


@dataclass(frozen=True)
class Frozen(_AccountAmount):
    """Some balance was frozen."""


@dataclass(frozen=True)
class Thawed(_AccountAmount):
    """Some balance was thawed."""


HoldReasonField = Annotated[RuntimeReason, RUNTIME_HOLD_REASON, "T::RuntimeHoldReason"]


@dataclass(frozen=True)
class _ReasonAccountAmount:
    """The ``{ reason, who, amount }`` fields of the hold events (each event stays its own class)."""

    reason: HoldReasonField
    who: AccountId
    amount: Balance


@dataclass(frozen=True)
class Held(_ReasonAccountAmount):
    """Some balance was placed on hold."""


@dataclass(frozen=True)
class BurnedHeld(_ReasonAccountAmount):
    """Held balance was burned from an account."""


@dataclass(frozen=True)
class TransferOnHold:
    """A transfer of `amount` on hold from `source` to `dest` was initiated."""

    reason: HoldReasonField
    source: AccountId
    dest: AccountId
    amount: Balance


@dataclass(frozen=True)
class Released(_ReasonAccountAmount):
    """Some balance was released from hold."""


# --- errors ---------------------------------------------------------------------------------------


class VestingBalance(DispatchError):
    """Vesting balance too high to send value."""


class LiquidityRestrictions(DispatchError):
    """Account liquidity restrictions prevent withdrawal."""


class InsufficientBalance(DispatchError):
    """Balance too low to send value."""


class ExistentialDeposit(DispatchError):
    """Value too low to create account due to existential deposit."""


class Expendability(DispatchError):
    """Transfer/payment would kill account."""


class ExistingVestingSchedule(DispatchError):
    """A vesting schedule already exists for this account."""


class DeadAccount(DispatchError):
    """Beneficiary account must pre-exist."""


class TooManyReserves(DispatchError):
    """Number of named reserves exceed `MaxReserves`."""


class TooManyHolds(DispatchError):
    """Number of holds exceed `MaxHolds`."""


class TooManyFreezes(DispatchError):
    """Number of freezes exceed `MaxFreezes`."""


class Balances(Pallet[BalancesConfig]):
    NAME = "Balances"
    EVENTS = (Endowed, DustLost, Transfer, BalanceSet, Reserved, Unreserved, ReserveRepatriated, Deposit,
              Withdraw, Slashed, Minted, Burned, Locked, Unlocked, Frozen, Thawed, Held, BurnedHeld, TransferOnHold,
              Released)
    ERRORS = (VestingBalance, LiquidityRestrictions, InsufficientBalance, ExistentialDeposit, Expendability,
              ExistingVestingSchedule, DeadAccount, TooManyReserves, TooManyHolds, TooManyFreezes)
    CONSTANTS = (
        Constant("ExistentialDeposit", U128, lambda c: c.existential_deposit,
                 "The minimum amount required to keep an account open. MUST BE GREATER THAN ZERO!"),
        Constant("MaxLocks", U32, lambda c: c.max_locks, "The maximum number of locks that should exist on an account."),
        Constant("MaxReserves", U32, lambda c: c.max_reserves, "The maximum number of named reserves that can exist on an account."),
        Constant("MaxHolds", U32, lambda c: c.max_holds, "The maximum number of holds that can exist on an account at any time."),
        Constant("MaxFreezes", U32, lambda c: c.max_freezes, "The maximum number of individual freeze locks that can exist on an account at any time."),
    )

    total_issuance = StorageValue(U128, default=0, docs="The total units issued in the system.")
    inactive_issuance = StorageValue(U128, default=0, docs="The total units of outstanding deactivated balance in the system.")
    locks = StorageMap(ACCOUNT_ID, LOCKS, default=(), docs="Any liquidity locks on some account balances.")
    reserves = StorageMap(ACCOUNT_ID, RESERVES, default=(), docs="Named reserves on some account balances.")
    holds = StorageMap(ACCOUNT_ID, HOLDS, default=(), docs="Holds on account balances.")
    freezes = StorageMap(ACCOUNT_ID, FREEZES, default=(), docs="Freeze locks on account balances.")

    # --- calls ----------------------------------------------------------------------------------

    @call(0, weight=lambda w, dest, value: w.transfer_allow_death())
    def transfer_allow_death(self, origin: Origin, dest: AccountIdLookup, value: CompactBalance) -> None:
        """Transfer some liquid free balance to another account; the sender may be reaped."""
        source = ensure_signed(origin)
        self.transfer(source, dest, value, keep_alive=False)

    @call(2, weight=lambda w, source, dest, value: w.force_transfer())
    def force_transfer(self, origin: Origin, source: AccountIdLookup, dest: AccountIdLookup, value: CompactBalance) -> None:
        """Exactly as `transfer_allow_death`, except the origin must be root and the source account may be specified."""
        ensure_root(origin)
        self.transfer(source, dest, value, keep_alive=False)

    @call(3, weight=lambda w, dest, value: w.transfer_keep_alive())
    def transfer_keep_alive(self, origin: Origin, dest: AccountIdLookup, value: CompactBalance) -> None:
        """Same as `transfer_allow_death`, but the sender is never reaped (it keeps at least the existential deposit)."""
        source = ensure_signed(origin)
        self.transfer(source, dest, value, keep_alive=True)

    @call(4, weight=lambda w, dest, keep_alive: w.transfer_all())
    def transfer_all(self, origin: Origin, dest: AccountIdLookup, keep_alive: Annotated[bool, BOOL, "bool"]) -> None:
        """Transfer the entire transferable balance from the caller account."""
        source = ensure_signed(origin)
        info = self.config.accounts.get_account(source)
        value = self._transferable(info, keep_alive)
        self.transfer(source, dest, value, keep_alive=keep_alive)

    @call(8, weight=lambda w, who, new_free: w.force_set_balance())
    def force_set_balance(self, origin: Origin, who: AccountIdLookup, new_free: CompactBalance) -> None:
        """Set the regular balance of a given account (root only); issuance follows."""
        ensure_root(origin)
        info = self.config.accounts.get_account(who)
        existed = self._exists(info)
        if new_free + info.data.reserved < self.config.existential_deposit:
            new_free = 0  # below the ED the account is reaped, as in Substrate
        issuance = self._issuance_after(new_free - info.data.free)
        self._put(who, info, AccountData(new_free, info.data.reserved, info.data.frozen, info.data.flags), existed)
        self.total_issuance.put(issuance)
        self.deposit_event(BalanceSet(who, new_free))

    # --- Currency: used by other pallets through their Config -----------------------------------

    def free_balance(self, who: bytes) -> int:
        return self.config.accounts.get_account(who).data.free

    def reserved_balance(self, who: bytes) -> int:
        return self.config.accounts.get_account(who).data.reserved

    def transfer(self, source: bytes, dest: bytes, value: int, *, keep_alive: bool) -> None:
        """Move ``value`` of free balance from ``source`` to ``dest``. Checks everything, then writes."""
        accounts, ed = self.config.accounts, self.config.existential_deposit
        from_info = accounts.get_account(source)
        # CHECKS
        if value > from_info.data.free - from_info.data.frozen:
            raise InsufficientBalance()
        if source == dest or value == 0:
            self.deposit_event(Transfer(source, dest, value))
            return
        to_info = accounts.get_account(dest)
        to_exists = self._exists(to_info)
        if not to_exists and value < ed:
            raise ExistentialDeposit()
        new_from = from_info.data.free - value
        dies = new_from + from_info.data.reserved < ed
        if dies and (keep_alive or from_info.consumers > 0):
            raise Expendability()
        # EFFECTS
        d = to_info.data
        self._put(dest, to_info, AccountData(d.free + value, d.reserved, d.frozen, d.flags), to_exists)
        d = from_info.data
        self._put(source, from_info, AccountData(new_from, d.reserved, d.frozen, d.flags), True)
        self.deposit_event(Transfer(source, dest, value))

    def withdraw(self, who: bytes, amount: int) -> None:
        """Take ``amount`` out of existence from ``who``'s free balance without killing it (fees)."""
        info = self.config.accounts.get_account(who)
        d = info.data
        if amount > d.free - d.frozen or d.free - amount + d.reserved < self.config.existential_deposit:
            raise InsufficientBalance()
        self._put(who, info, AccountData(d.free - amount, d.reserved, d.frozen, d.flags), True)
        self.total_issuance.put(self.total_issuance.get() - amount)
        self.deposit_event(Withdraw(who, amount))

    def can_withdraw(self, who: bytes, amount: int) -> bool:
        d = self.config.accounts.get_account(who).data
        return amount <= d.free - d.frozen and d.free - amount + d.reserved >= self.config.existential_deposit

    def deposit(self, who: bytes, amount: int) -> None:
        """Mint ``amount`` into ``who``'s free balance (rewards). Creating an account needs the ED."""
        if amount == 0:
            return
        info = self.config.accounts.get_account(who)
        exists = self._exists(info)
        if not exists and amount < self.config.existential_deposit:
            raise ExistentialDeposit()
        issuance = self._issuance_after(amount)
        d = info.data
        self._put(who, info, AccountData(d.free + amount, d.reserved, d.frozen, d.flags), exists)
        self.total_issuance.put(issuance)
        self.deposit_event(Deposit(who, amount))

    # --- anonymous reserves ---------------------------------------------------------------------

    def reserve(self, who: bytes, amount: int) -> None:
        """Move ``amount`` from free to reserved (stakes, deposits, escrow)."""
        info = self._reservable(who, amount)
        self._set_balances(who, info, info.data.free - amount, info.data.reserved + amount)
        self.deposit_event(Reserved(who, amount))

    def unreserve(self, who: bytes, amount: int) -> int:
        """Move up to ``amount`` of the anonymous reserve back to free; returns the part that was not reserved."""
        info = self.config.accounts.get_account(who)
        actual = min(amount, self._anonymous_reserve(who, info))
        if actual == 0:
            return amount
        self._set_balances(who, info, info.data.free + actual, info.data.reserved - actual)
        self.deposit_event(Unreserved(who, actual))
        return amount - actual

    def slash_reserved(self, who: bytes, amount: int) -> int:
        """Burn up to ``amount`` of ``who``'s anonymous reserve (misbehaviour); returns what could not be."""
        info = self.config.accounts.get_account(who)
        actual = min(amount, self._anonymous_reserve(who, info))
        if actual == 0:
            return amount
        self._burn_reserved(who, info, actual)
        self.deposit_event(Slashed(who, actual))
        return amount - actual

    def repatriate_reserved(self, source: bytes, dest: bytes, amount: int) -> int:
        """Move up to ``amount`` of ``source``'s anonymous reserve into ``dest``'s free balance (escrow payouts);
        returns the part that was not reserved."""
        if source == dest:
            return self.unreserve(source, amount)
        info = self.config.accounts.get_account(source)
        actual = min(amount, self._anonymous_reserve(source, info))
        if actual == 0:
            return amount
        dest_info = self._check_credit(dest, actual, reserved=False)
        self._credit(dest, dest_info, actual, reserved=False)
        self._set_balances(source, info, info.data.free, info.data.reserved - actual)
        self.deposit_event(ReserveRepatriated(source, dest, actual, BalanceStatus.Free))
        return amount - actual

    # --- named reserves (FRAME's NamedReservableCurrency) --------------------------------------

    def reserved_named(self, reserve_id: bytes, who: bytes) -> int:
        """What ``who`` has reserved under ``reserve_id``."""
        return amount_of(self.reserves.get(who), reserve_id)

    def reserve_named(self, reserve_id: bytes, who: bytes, amount: int) -> None:
        """Reserve ``amount`` of ``who``'s free balance under the 8-byte ``reserve_id``."""
        if amount:
            self._set_aside(self._reserves, reserve_id, who, amount)
            self.deposit_event(Reserved(who, amount))

    def unreserve_named(self, reserve_id: bytes, who: bytes, amount: int) -> int:
        """Move up to ``amount`` reserved under ``reserve_id`` back to free; returns the part that was not."""
        actual, info = self._take(self._reserves, reserve_id, who, amount, exact=False)
        if actual:
            self._set_balances(who, info, info.data.free + actual, info.data.reserved - actual)
            self.deposit_event(Unreserved(who, actual))
        return amount - actual

    def slash_reserved_named(self, reserve_id: bytes, who: bytes, amount: int) -> int:
        """Burn up to ``amount`` reserved under ``reserve_id``; returns the part that could not be."""
        actual, info = self._take(self._reserves, reserve_id, who, amount, exact=False)
        if actual:
            self._burn_reserved(who, info, actual)
            self.deposit_event(Slashed(who, actual))
        return amount - actual

    def repatriate_reserved_named(self, reserve_id: bytes, source: bytes, dest: bytes, amount: int,
                                  status: BalanceStatus = BalanceStatus.Free) -> int:
        """Move up to ``amount`` reserved under ``reserve_id`` from ``source`` to ``dest``: into its free
        balance, or (``status`` Reserved) into its reserve under the same id. Returns the part that was not
        reserved."""
        if source == dest and status is BalanceStatus.Free:
            return self.unreserve_named(reserve_id, source, amount)
        actual = self._move(self._reserves, reserve_id, source, dest, amount, exact=False,
                            to_reserved=status is BalanceStatus.Reserved)
        if actual:
            self.deposit_event(ReserveRepatriated(source, dest, actual, status))
        return amount - actual

    # --- holds (FRAME's fungible::MutateHold) ---------------------------------------------------

    def balance_on_hold(self, reason: enum.IntEnum, who: bytes) -> int:
        """What ``who`` has on hold for ``reason`` (a member of some pallet's ``HOLD_REASONS``)."""
        return amount_of(self.holds.get(who), self.config.hold_reasons.of(reason))

    def hold(self, reason: enum.IntEnum, who: bytes, amount: int) -> None:
        """Put ``amount`` of ``who``'s free balance on hold for ``reason``."""
        if amount:
            key = self.config.hold_reasons.of(reason)
            self._set_aside(self._holds, key, who, amount)
            self.deposit_event(Held(key, who, amount))

    def release(self, reason: enum.IntEnum, who: bytes, amount: int, *, best_effort: bool = False) -> int:
        """Return ``amount`` held for ``reason`` to ``who``'s free balance (less if ``best_effort`` and less
        is held; otherwise that is ``TokenError::FundsUnavailable``); returns the amount released."""
        key = self.config.hold_reasons.of(reason)
        actual, info = self._take(self._holds, key, who, amount, exact=not best_effort)
        if actual:
            self._set_balances(who, info, info.data.free + actual, info.data.reserved - actual)
            self.deposit_event(Released(key, who, actual))
        return actual

    def burn_held(self, reason: enum.IntEnum, who: bytes, amount: int, *, best_effort: bool = False) -> int:
        """Burn ``amount`` held for ``reason`` (out of the issuance), exactly or ``best_effort``; returns the
        amount burned."""
        key = self.config.hold_reasons.of(reason)
        actual, info = self._take(self._holds, key, who, amount, exact=not best_effort)
        if actual:
            self._burn_reserved(who, info, actual)
            self.deposit_event(BurnedHeld(key, who, actual))
        return actual

    def slash_held(self, reason: enum.IntEnum, who: bytes, amount: int) -> int:
        """Burn up to ``amount`` held for ``reason`` (misbehaviour); returns the part that could not be."""
        key = self.config.hold_reasons.of(reason)
        actual, info = self._take(self._holds, key, who, amount, exact=False)
        if actual:
            self._burn_reserved(who, info, actual)
            self.deposit_event(Slashed(who, actual))
        return amount - actual

    def transfer_on_hold(self, reason: enum.IntEnum, source: bytes, dest: bytes, amount: int, *,
                         on_hold: bool = False, best_effort: bool = False) -> int:
        """Move ``amount`` held for ``reason`` from ``source`` to ``dest``: into its free balance, or
        (``on_hold``) onto a hold for the same reason. Exactly, or ``best_effort``; returns the amount moved."""
        key = self.config.hold_reasons.of(reason)
        if source == dest and not on_hold:
            return self.release(reason, source, amount, best_effort=best_effort)
        actual = self._move(self._holds, key, source, dest, amount, exact=not best_effort, to_reserved=on_hold)
        if actual:
            self.deposit_event(TransferOnHold(key, source, dest, actual))
        return actual

    # --- locks and freezes ----------------------------------------------------------------------

    def set_lock(self, lock_id: bytes, who: bytes, amount: int, reasons: Reasons = Reasons.All) -> None:
        """Lock ``amount`` of ``who``'s free balance under the 8-byte ``lock_id`` (replacing that lock).
        A new lock beyond ``MaxLocks`` is ``LiquidityRestrictions``."""
        locks = self.locks.get(who)
        if amount and not amount_of(locks, lock_id) and len(locks) >= self.config.max_locks:
            raise LiquidityRestrictions()
        self._restrict(who, locks=set_entry(locks, lock_id, BalanceLock(lock_id, amount, reasons) if amount else None))

    def remove_lock(self, lock_id: bytes, who: bytes) -> None:
        self._restrict(who, locks=set_entry(self.locks.get(who), lock_id, None))

    def balance_frozen(self, reason: enum.IntEnum, who: bytes) -> int:
        return amount_of(self.freezes.get(who), self.config.freeze_reasons.of(reason))

    def set_freeze(self, reason: enum.IntEnum, who: bytes, amount: int) -> None:
        """Freeze ``amount`` of ``who``'s balance for ``reason`` (replacing that freeze; 0 thaws it)."""
        key, freezes = self.config.freeze_reasons.of(reason), self.freezes.get(who)
        if amount and not amount_of(freezes, key) and len(freezes) >= self.config.max_freezes:
            raise TooManyFreezes()
        self._restrict(who, freezes=set_entry(freezes, key, FreezeAmount(key, amount) if amount else None))

    def thaw(self, reason: enum.IntEnum, who: bytes) -> None:
        self.set_freeze(reason, who, 0)

    # --- genesis --------------------------------------------------------------------------------

    def endow(self, who: bytes, amount: int) -> None:
        """Genesis: create ``who`` with ``amount`` free and count it in the total issuance."""
        if amount < self.config.existential_deposit:
            raise ExistentialDeposit()
        issuance = self._issuance_after(amount)
        info = self.config.accounts.get_account(who)
        d = info.data
        self._put(who, info, AccountData(d.free + amount, d.reserved, d.frozen, d.flags), self._exists(info))
        self.total_issuance.put(issuance)

    # --- internals ------------------------------------------------------------------------------

    def _issuance_after(self, minted: int) -> int:
        """The total issuance once ``minted`` more units exist (negative: burnt); every balance is at most the
        issuance, so refusing to push it past ``u128`` keeps every balance encodable too."""
        issuance = self.total_issuance.get() + minted
        if issuance > U128_MAX:
            raise ArithmeticOverflow()
        return issuance

    def _exists(self, info: AccountInfo) -> bool:
        return info.providers > 0

    def _transferable(self, info: AccountInfo, keep_alive: bool) -> int:
        d = info.data
        spendable = d.free - d.frozen
        if keep_alive or info.consumers > 0:
            spendable = min(spendable, max(0, d.free + d.reserved - self.config.existential_deposit))
        return max(0, spendable)

    def _set_balances(self, who: bytes, info: AccountInfo, free: int, reserved: int, frozen: int | None = None) -> None:
        """Write new balances of an existing account. A non-zero ``reserved`` holds one consumer reference and
        a non-zero ``frozen`` another, so the account cannot be reaped while anything is set aside on it."""
        d = info.data
        frozen = d.frozen if frozen is None else frozen
        consumers = max(0, info.consumers + _reference(d.reserved, reserved) + _reference(d.frozen, frozen))
        self._put(who, AccountInfo(info.nonce, consumers, info.providers, info.sufficients, d),
                  AccountData(free, reserved, frozen, d.flags), True)

    def _reservable(self, who: bytes, amount: int) -> AccountInfo:
        """``who``'s account, once checked that ``amount`` of its free balance may be set aside."""
        info = self.config.accounts.get_account(who)
        if amount > info.data.free - info.data.frozen:
            raise InsufficientBalance()
        return info

    def _anonymous_reserve(self, who: bytes, info: AccountInfo) -> int:
        """The part of ``reserved`` that no named reserve or hold accounts for."""
        accounted = sum(e.amount for e in self.reserves.get(who)) + sum(e.amount for e in self.holds.get(who))
        return info.data.reserved - accounted

    def _burn_reserved(self, who: bytes, info: AccountInfo, amount: int) -> None:
        self._set_balances(who, info, info.data.free, info.data.reserved - amount)
        self.total_issuance.put(self.total_issuance.get() - amount)

    def _check_credit(self, dest: bytes, amount: int, *, reserved: bool) -> AccountInfo:
        """``dest``'s account, once checked that it may receive ``amount``: into its reserve it must exist,
        into its free balance a new account needs the existential deposit."""
        info = self.config.accounts.get_account(dest)
        if not self._exists(info):
            if reserved:
                raise DeadAccount()
            if amount < self.config.existential_deposit:
                raise ExistentialDeposit()
        return info

    def _credit(self, dest: bytes, info: AccountInfo, amount: int, *, reserved: bool) -> None:
        d = info.data
        if reserved:
            self._set_balances(dest, info, d.free, d.reserved + amount)
        else:
            self._put(dest, info, AccountData(d.free + amount, d.reserved, d.frozen, d.flags), self._exists(info))

    @property
    def _holds(self) -> "_Ledger":
        return _Ledger(self.holds, HoldAmount, self.config.max_holds, TooManyHolds)

    @property
    def _reserves(self) -> "_Ledger":
        return _Ledger(self.reserves, ReserveData, self.config.max_reserves, TooManyReserves)

    def _set_aside(self, ledger: "_Ledger", key: object, who: bytes, amount: int) -> None:
        """Move ``amount`` of free balance to reserved, accounted under ``key`` of ``ledger``."""
        info = self._reservable(who, amount)
        ledger.check_room(who, key)
        ledger.add(who, key, amount)
        self._set_balances(who, info, info.data.free - amount, info.data.reserved + amount)

    def _take(self, ledger: "_Ledger", key: object, who: bytes, amount: int, *, exact: bool) -> tuple[int, AccountInfo]:
        """Take up to ``amount`` off ``key`` of ``ledger`` (all of it when ``exact``); the caller moves the
        reserved balance it stood for. Returns the amount taken and the account as it was."""
        actual = min(amount, ledger.amount(who, key))
        if exact and actual < amount:
            raise TokenErrorRaised(TokenError.FundsUnavailable)
        info = self.config.accounts.get_account(who)
        if actual:
            ledger.add(who, key, -actual)
        return actual, info

    def _move(self, ledger: "_Ledger", key: object, source: bytes, dest: bytes, amount: int, *, exact: bool,
              to_reserved: bool) -> int:
        """Move up to ``amount`` accounted under ``key`` of ``ledger`` from ``source``'s reserve to ``dest``:
        into its free balance, or into its reserve under the same key. Returns the amount moved."""
        actual = min(amount, ledger.amount(source, key))
        if exact and actual < amount:
            raise TokenErrorRaised(TokenError.FundsUnavailable)
        if actual == 0 or source == dest:  # (onto the same account's same entry: nothing moves)
            return actual
        dest_info = self._check_credit(dest, actual, reserved=to_reserved)
        if to_reserved:
            ledger.check_room(dest, key)
        actual, info = self._take(ledger, key, source, actual, exact=True)
        self._set_balances(source, info, info.data.free, info.data.reserved - actual)
        if to_reserved:
            ledger.add(dest, key, actual)
        self._credit(dest, dest_info, actual, reserved=to_reserved)
        return actual

    def _restrict(self, who: bytes, *, locks: Sequence[BalanceLock] | None = None,
                  freezes: Sequence[FreezeAmount] | None = None) -> None:
        """Store ``who``'s new locks or freezes and set ``frozen`` to the largest of all of them
        (``Locked``/``Unlocked`` or ``Frozen``/``Thawed`` by the change). Only an existing account may be
        restricted (``DeadAccount``)."""
        info = self.config.accounts.get_account(who)
        if not self._exists(info) and (locks or freezes):
            raise DeadAccount()
        if locks is not None:
            self.locks.insert(who, locks or None)
        if freezes is not None:
            self.freezes.insert(who, freezes or None)
        entries = (*(self.locks.get(who) if locks is None else locks),
                   *(self.freezes.get(who) if freezes is None else freezes))
        before, after = info.data.frozen, max((e.amount for e in entries), default=0)
        if after == before:
            return
        self._set_balances(who, info, info.data.free, info.data.reserved, after)
        more, less = (Locked, Unlocked) if locks is not None else (Frozen, Thawed)
        self.deposit_event(more(who, after - before) if after > before else less(who, before - after))

    def _put(self, who: bytes, info: AccountInfo, data: AccountData, existed: bool) -> None:
        """Write ``data`` for ``who``: create the account if it is new, reap it if it fell below the ED."""
        accounts, ed = self.config.accounts, self.config.existential_deposit
        total = data.free + data.reserved
        if total >= ed or info.consumers > 0:
            providers = info.providers if existed else info.providers + 1
            accounts.put_account(who, AccountInfo(info.nonce, info.consumers, providers, info.sufficients, data))
            if not existed:
                accounts.note_new_account(who)
                self.deposit_event(Endowed(who, data.free))
            return
        # reap: the account's remaining dust leaves the issuance
        if total > 0:
            self.total_issuance.put(self.total_issuance.get() - total)
            self.deposit_event(DustLost(who, total))
        providers = info.providers - 1 if existed and info.providers > 0 else info.providers
        accounts.put_account(who, AccountInfo(info.nonce, info.consumers, providers, info.sufficients, AccountData()))

    def integrity_test(self) -> None:
        assert self.config.existential_deposit > 0, "ExistentialDeposit MUST BE GREATER THAN ZERO"


def _reference(before: int, after: int) -> int:
    """The change in consumer references when a balance that holds one goes from ``before`` to ``after``."""
    return (after > 0) - (before > 0)


@dataclass(frozen=True)
class _Ledger:
    """A per-account list accounting for part of ``reserved``: ``Holds`` or ``Reserves``."""

    store: Any
    """The bound storage map."""
    entry: Callable[[Any, int], Any]
    """Makes an entry from ``(key, amount)``: ``HoldAmount`` or ``ReserveData``."""
    limit: int
    too_many: type[DispatchError]

    def amount(self, who: bytes, key: object) -> int:
        return amount_of(self.store.get(who), key)

    def check_room(self, who: bytes, key: object) -> None:
        entries = self.store.get(who)
        if not amount_of(entries, key) and len(entries) >= self.limit:
            raise self.too_many()

    def add(self, who: bytes, key: object, delta: int) -> None:
        entries = self.store.get(who)
        amount = amount_of(entries, key) + delta
        self.store.insert(who, set_entry(entries, key, self.entry(key, amount) if amount else None) or None)


DEFINITION = PalletDefinition(pallet=Balances, config=BalancesConfig, weights=BalancesWeights(),
                              params=BalancesParams, genesis=BalancesGenesis)
