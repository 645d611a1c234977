"""A mock runtime for Balances' holds: System, ValidatorSet, Balances, Sudo and ``Escrow``, a layer pallet in
miniature that declares hold and freeze reasons and holds balance through a ``Protocol`` in its config, as the
storage, DA and compute pallets will. Balances has room for two locks, reserves and holds and one freeze, so
every bound is reachable in a test.

    with new_ext() as ext:
        ext.dispatch(Origin.signed(ALICE), "Escrow", "escrow", amount=40)
        assert ext.pallet(Balances).holds.get(ALICE) == (HoldAmount(JOB, 40),)
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Annotated

from runtime.frame.composition import PalletDefinition, PalletSlot
from runtime.frame.construct import RuntimeReason
from runtime.frame.pallet import DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.testing import TestExternalities, new_test_ext
from runtime.pallets import balances, sudo, validator_set
from runtime.pallets.balances import Balances, BalancesGenesis
from runtime.pallets.balances_types import HoldCurrency, Reasons
from runtime.pallets.sudo import SudoGenesis
from runtime.pallets.system import System
from runtime.pallets.validator_set import ValidatorSetGenesis
from runtime.primitives import Weight
from runtime.scale import U128, Compact
from tests.runtime.frame_helpers import ALICE, AUTHORITY, BOB, CHARLIE, ED

__all__ = ["ESCROW_INDEX", "STAKE_ID", "DEPOSIT_ID", "EscrowHoldReason", "EscrowFreezeReason", "Undeclared",
           "Escrow", "PaymentTooLarge", "JOB", "STAKE", "new_ext", "set_aside_one_of_each"]

ESCROW_INDEX = 9
STAKE_ID, DEPOSIT_ID = b"stake---", b"deposit-"


class EscrowHoldReason(enum.IntEnum):
    """Why the test pallet holds balance (its ``HOLD_REASONS``)."""

    JobPayment = 0
    ProviderStake = 1


class EscrowFreezeReason(enum.IntEnum):
    Voting = 0
    Unbonding = 1


class Undeclared(enum.IntEnum):
    """A reason no pallet of the mock runtime declares."""

    Nothing = 0


@dataclass(frozen=True)
class EscrowConfig:
    currency: HoldCurrency


class PaymentTooLarge(DispatchError):
    """The test pallet refuses escrows above 100, after holding them (to check the rollback)."""


class Escrow(Pallet[EscrowConfig]):
    """A layer pallet in miniature: it escrows a job's payment on hold, through its config's protocol."""

    NAME = "Escrow"
    HOLD_REASONS = EscrowHoldReason
    FREEZE_REASONS = EscrowFreezeReason
    ERRORS = (PaymentTooLarge,)

    @call(0, weight=Weight(1, 0))
    def escrow(self, origin: Origin, amount: Annotated[int, Compact(U128), "Balance"]) -> None:
        """Hold ``amount`` for a job's payment."""
        who = ensure_signed(origin)
        self.config.currency.hold(EscrowHoldReason.JobPayment, who, amount)
        if amount > 100:
            raise PaymentTooLarge()


ESCROW = PalletDefinition(pallet=Escrow, config=EscrowConfig, weights=None)
JOB = RuntimeReason(ESCROW_INDEX, EscrowHoldReason.JobPayment)
STAKE = RuntimeReason(ESCROW_INDEX, EscrowHoldReason.ProviderStake)


def new_ext(*, max_holds: int = 2) -> TestExternalities:
    """ALICE 100, BOB 200, CHARLIE 300 (ED 10), and the escrow pallet at index 9; block 1 begun. Balances has
    room for two locks, reserves and holds and one freeze, so every bound is reachable in a test."""

    def tight(config_type: type, params: object, weights: object, wired: dict) -> balances.BalancesConfig:
        return config_type(weights=weights, **wired, **dataclasses.asdict(params), max_locks=2, max_reserves=2,
                           max_holds=max_holds, max_freezes=1)

    return new_test_ext(
        PalletSlot(2, validator_set.DEFINITION, lambda r: {"header_logs": r.pallet(System)}),
        PalletSlot(5, dataclasses.replace(balances.DEFINITION, build_config=tight), lambda r: {
            "accounts": r.pallet(System), "hold_reasons": r.hold_reasons, "freeze_reasons": r.freeze_reasons}),
        PalletSlot(7, sudo.DEFINITION, lambda r: {"dispatcher": r}),
        PalletSlot(ESCROW_INDEX, ESCROW, lambda r: {"currency": r.pallet(Balances)}),
        params={"Balances": {"existential_deposit": ED}},
        genesis={"Balances": BalancesGenesis(((ALICE, 100), (BOB, 200), (CHARLIE, 300))),
                 "Sudo": SudoGenesis(ALICE), "ValidatorSet": ValidatorSetGenesis((AUTHORITY,))},
    )




def set_aside_one_of_each(ext: TestExternalities, who: bytes) -> dict[str, bytes]:
    """Give ``who`` a hold (30, ProviderStake), a named reserve (10, ``STAKE_ID``), a lock (20, ``DEPOSIT_ID``,
    Misc) and a freeze (5, Voting); returns the raw values of ``Holds``, ``Reserves``, ``Locks``, ``Freezes``."""
    with ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.ProviderStake, who, 30)
        balances_.reserve_named(STAKE_ID, who, 10)
        balances_.set_lock(DEPOSIT_ID, who, 20, Reasons.Misc)
        balances_.set_freeze(EscrowFreezeReason.Voting, who, 5)
        items = {"Holds": balances_.holds, "Reserves": balances_.reserves, "Locks": balances_.locks,
                 "Freezes": balances_.freezes}
        return {name: ext.overlay.get(item.key(who)) for name, item in items.items()}
