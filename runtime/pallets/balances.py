"""Balances: the native token. Transfers, the existential deposit, reserves, slashing, total issuance.

Balances lives inside ``System.Account`` (``AccountInfo.data``), as in FRAME; this pallet reaches it through
the :class:`AccountStore` protocol that System implements. Other pallets (fees, storage deals, compute
escrow) move money only through :class:`Currency`, which this pallet implements.

Accounting rules (the property tests check them):

- ``TotalIssuance`` equals the sum of every account's ``free + reserved``, always.
- An account exists while ``free + reserved >= ExistentialDeposit`` (it holds one provider reference).
  An operation that would leave less either fails (``keep_alive``, reserves, consumers present) or reaps
  the account: its dust is burned (``DustLost``) and System removes it (``KilledAccount``).
- A transfer creating an account must carry at least the existential deposit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Protocol

from runtime.frame.composition import InvalidGenesis, PalletDefinition
from runtime.frame.pallet import (
    Constant,
    DispatchError,
    Origin,
    Pallet,
    call,
    ensure_root,
    ensure_signed,
)
from runtime.frame.storage import StorageValue
from runtime.pallets.account import AccountData, AccountInfo
from runtime.primitives import AccountId, AccountIdLookup, Balance, CompactBalance, Weight
from runtime.scale import BOOL, U32, U128, CEnum
from runtime.ss58 import ss58_decode, ss58_encode
from runtime.weights import READ, US, WRITE

__all__ = ["Balances", "BalancesConfig", "BalancesParams", "BalancesGenesis", "DEFINITION", "AccountStore", "BalancesWeightInfo"]


class AccountStore(Protocol):
    """Where account records live (System)."""

    def get_account(self, who: bytes) -> AccountInfo: ...
    def put_account(self, who: bytes, info: AccountInfo) -> None: ...
    def note_new_account(self, who: bytes) -> None: ...


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
    weights: BalancesWeightInfo
    existential_deposit: int
    max_locks: int = 50
    max_reserves: int = 50
    max_freezes: int = 8


class BalanceStatus(enum.IntEnum):
    Free = 0
    Reserved = 1


BALANCE_STATUS = CEnum(BalanceStatus, ("frame_support", "traits", "tokens", "misc", "BalanceStatus"))

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


class Balances(Pallet[BalancesConfig]):
    NAME = "Balances"
    EVENTS = (Endowed, DustLost, Transfer, BalanceSet, Reserved, Unreserved, ReserveRepatriated, Deposit,
              Withdraw, Slashed, Minted, Burned)
    ERRORS = (VestingBalance, LiquidityRestrictions, InsufficientBalance, ExistentialDeposit, Expendability,
              ExistingVestingSchedule, DeadAccount, TooManyReserves)
    CONSTANTS = (
        Constant("ExistentialDeposit", U128, lambda c: c.existential_deposit,
                 "The minimum amount required to keep an account open. MUST BE GREATER THAN ZERO!"),
        Constant("MaxLocks", U32, lambda c: c.max_locks, "The maximum number of locks that should exist on an account."),
        Constant("MaxReserves", U32, lambda c: c.max_reserves, "The maximum number of named reserves that can exist on an account."),
        Constant("MaxFreezes", U32, lambda c: c.max_freezes, "The maximum number of individual freeze locks that can exist on an account at any time."),
    )

    total_issuance = StorageValue(U128, default=0, docs="The total units issued in the system.")
    inactive_issuance = StorageValue(U128, default=0, docs="The total units of outstanding deactivated balance in the system.")

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
        delta = new_free - info.data.free
        self._put(who, info, AccountData(new_free, info.data.reserved, info.data.frozen, info.data.flags), existed)
        self.total_issuance.put(self.total_issuance.get() + delta)
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
        d = info.data
        self._put(who, info, AccountData(d.free + amount, d.reserved, d.frozen, d.flags), exists)
        self.total_issuance.put(self.total_issuance.get() + amount)
        self.deposit_event(Deposit(who, amount))

    def reserve(self, who: bytes, amount: int) -> None:
        """Move ``amount`` from free to reserved (stakes, deposits, escrow)."""
        info = self.config.accounts.get_account(who)
        d = info.data
        if amount > d.free - d.frozen:
            raise InsufficientBalance()
        self._set_reserve(who, info, d.free - amount, d.reserved + amount)
        self.deposit_event(Reserved(who, amount))

    def unreserve(self, who: bytes, amount: int) -> int:
        """Move up to ``amount`` back from reserved to free; returns the part that was not reserved."""
        info = self.config.accounts.get_account(who)
        d = info.data
        actual = min(amount, d.reserved)
        if actual == 0:
            return amount
        self._set_reserve(who, info, d.free + actual, d.reserved - actual)
        self.deposit_event(Unreserved(who, actual))
        return amount - actual

    def slash_reserved(self, who: bytes, amount: int) -> int:
        """Burn up to ``amount`` of ``who``'s reserved balance (misbehaviour); returns what could not be."""
        info = self.config.accounts.get_account(who)
        d = info.data
        actual = min(amount, d.reserved)
        if actual == 0:
            return amount
        self._set_reserve(who, info, d.free, d.reserved - actual)
        self.total_issuance.put(self.total_issuance.get() - actual)
        self.deposit_event(Slashed(who, actual))
        return amount - actual

    def repatriate_reserved(self, source: bytes, dest: bytes, amount: int) -> int:
        """Move up to ``amount`` of ``source``'s reserve into ``dest``'s free balance (escrow payouts);
        returns the part that was not reserved."""
        if source == dest:
            return self.unreserve(source, amount)
        accounts = self.config.accounts
        info = accounts.get_account(source)
        dest_info = accounts.get_account(dest)
        actual = min(amount, info.data.reserved)
        # CHECKS
        if actual == 0:
            return amount
        dest_exists = self._exists(dest_info)
        if not dest_exists and actual < self.config.existential_deposit:
            raise ExistentialDeposit()
        # EFFECTS
        d = dest_info.data
        self._put(dest, dest_info, AccountData(d.free + actual, d.reserved, d.frozen, d.flags), dest_exists)
        self._set_reserve(source, info, info.data.free, info.data.reserved - actual)
        self.deposit_event(ReserveRepatriated(source, dest, actual, BalanceStatus.Free))
        return amount - actual

    # --- genesis --------------------------------------------------------------------------------

    def endow(self, who: bytes, amount: int) -> None:
        """Genesis: create ``who`` with ``amount`` free and count it in the total issuance."""
        if amount < self.config.existential_deposit:
            raise ExistentialDeposit()
        info = self.config.accounts.get_account(who)
        d = info.data
        self._put(who, info, AccountData(d.free + amount, d.reserved, d.frozen, d.flags), self._exists(info))
        self.total_issuance.put(self.total_issuance.get() + amount)

    # --- internals ------------------------------------------------------------------------------

    def _exists(self, info: AccountInfo) -> bool:
        return info.providers > 0

    def _transferable(self, info: AccountInfo, keep_alive: bool) -> int:
        d = info.data
        spendable = d.free - d.frozen
        if keep_alive or info.consumers > 0:
            spendable = min(spendable, max(0, d.free + d.reserved - self.config.existential_deposit))
        return max(0, spendable)

    def _set_reserve(self, who: bytes, info: AccountInfo, free: int, reserved: int) -> None:
        """Write new free and reserved balances of an existing account. A non-zero reserve holds one
        consumer reference, so the account cannot be reaped while something is reserved on it."""
        had, has = info.data.reserved > 0, reserved > 0
        consumers = info.consumers + (1 if has and not had else 0) - (1 if had and not has and info.consumers else 0)
        d = info.data
        self._put(who, AccountInfo(info.nonce, consumers, info.providers, info.sufficients, d),
                  AccountData(free, reserved, d.frozen, d.flags), True)

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


DEFINITION = PalletDefinition(pallet=Balances, config=BalancesConfig, weights=BalancesWeights(),
                              params=BalancesParams, genesis=BalancesGenesis)
