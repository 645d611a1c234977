"""``runtime.frame.testing``: one pallet over a minimal runtime with mock dependencies, and the assertions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from runtime.frame.composition import PalletSlot
from runtime.frame.pallet import Origin, PostDispatchInfo
from runtime.frame.testing import (TestExternalities, assert_has_event, assert_last_event, assert_noop,
                                   new_test_ext)
from runtime.pallets import transaction_payment, validator_set
from runtime.pallets.balances import ExistentialDeposit
from runtime.pallets.system import System
from runtime.pallets.transaction_payment import ONE, TransactionFeePaid, TransactionPayment
from runtime.pallets.validator_set import EmptyValidatorSet, NewValidatorsQueued, ValidatorSet, ValidatorSetGenesis
from runtime.primitives import DispatchClass, DispatchInfo, Pays, Weight

WHO = bytes([7]) * 32


class MockCurrency:
    """Stands in for Balances: an account holds what the test says; withdrawals are recorded."""

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.withdrawn: list[tuple[bytes, int]] = []

    def can_withdraw(self, who: bytes, amount: int) -> bool:
        return amount <= self.balance

    def withdraw(self, who: bytes, amount: int) -> None:
        self.balance -= amount
        self.withdrawn.append((who, amount))

    def deposit(self, who: bytes, amount: int) -> None:
        self.balance += amount


class MockFees:
    def __init__(self) -> None:
        self.handled: list[tuple[int, int]] = []

    def handle_fee(self, fee: int, tip: int) -> None:
        self.handled.append((fee, tip))


def payment_ext(currency: MockCurrency, fees: MockFees):
    return new_test_ext(
        PalletSlot(6, transaction_payment.DEFINITION, lambda r: {
            "currency": currency, "fee_handler": fees, "block_weight": r.pallet(System),
            "max_normal_weight": r.pallet(System).config.max_normal_weight}),
        params={"TransactionPayment": {"base_fee": 100, "length_fee": 2, "weight_fee": 0}},
    )


INFO = DispatchInfo(Weight(10**6, 0), DispatchClass.Normal, Pays.Yes)


@contextmanager
def charged(currency: MockCurrency, fees: MockFees) -> Iterator[tuple[TestExternalities, TransactionPayment, int]]:
    """Inside a payment ext: the fee of a 50-byte call of ``INFO`` with a tip of 5, charged to ``WHO``."""
    ext = payment_ext(currency, fees)
    with ext:
        payment = ext.pallet(TransactionPayment)
        fee = payment.compute_fee(50, INFO, tip=5)
        payment.charge(WHO, fee, 5)
        yield ext, payment, fee


def test_a_pallet_runs_over_system_and_mocks_only():
    currency, fees = MockCurrency(1_000), MockFees()
    with charged(currency, fees) as (ext, payment, fee):
        assert sorted(ext.runtime.by_name) == ["System", "TransactionPayment"]
        assert fee == 100 + 2 * 50 + 5
        assert payment.settle(WHO, fee, fee, 5) == fee
        assert_last_event(ext, TransactionFeePaid(WHO, fee, 5))
        assert payment.next_fee_multiplier.get() == ONE
    assert currency.withdrawn == [(WHO, fee)] and fees.handled == [(fee - 5, 5)]


def test_a_fee_waived_after_dispatch_comes_back_but_the_tip():
    currency, fees = MockCurrency(1_000), MockFees()
    with charged(currency, fees) as (ext, payment, fee):
        waived = DispatchInfo(INFO.weight, INFO.class_, Pays.No)
        assert payment.settle(WHO, fee, payment.compute_fee(50, waived, tip=5), 5) == 5
        assert_last_event(ext, TransactionFeePaid(WHO, 5, 5))
    assert currency.balance == 1_000 - 5 and fees.handled == [(0, 5)]


class ReapedCurrency(MockCurrency):
    """An account the call emptied and reaped: a refund below the existential deposit cannot recreate it."""

    def deposit(self, who: bytes, amount: int) -> None:
        raise ExistentialDeposit()


def test_a_refund_the_signer_can_no_longer_receive_is_forfeited_not_an_error():
    currency, fees = ReapedCurrency(1_000), MockFees()
    with charged(currency, fees) as (ext, payment, fee):
        assert payment.settle(WHO, fee, 5, 5) == fee
        assert_last_event(ext, TransactionFeePaid(WHO, fee, 5))
    assert currency.balance == 1_000 - fee and fees.handled == [(fee - 5, 5)]


def test_genesis_params_and_dispatch_with_the_real_dependency():
    ext = new_test_ext(
        PalletSlot(2, validator_set.DEFINITION, lambda r: {"header_logs": r.pallet(System)}),
        params={"ValidatorSet": {"max_validators": 2}},
        genesis={"ValidatorSet": ValidatorSetGenesis((bytes(32),))},
    )
    with ext:
        assert ext.pallet(ValidatorSet).authorities() == (bytes(32),)
        assert_noop(ext, EmptyValidatorSet, ext.dispatch, Origin.root(), "ValidatorSet", "set_validators",
                    validators=())
        ext.dispatch(Origin.root(), "ValidatorSet", "set_validators", validators=(bytes([1]) * 32,))
        assert_has_event(ext, NewValidatorsQueued((bytes([1]) * 32,)))


def test_assert_noop_fails_when_the_call_succeeds_or_leaves_writes():
    ext = new_test_ext(PalletSlot(2, validator_set.DEFINITION, lambda r: {"header_logs": r.pallet(System)}),
                       genesis={"ValidatorSet": ValidatorSetGenesis((bytes(32),))})

    def writes_then_fails() -> None:
        ext.pallet(ValidatorSet).current_session.put(9)
        raise EmptyValidatorSet()

    with ext:
        with pytest.raises(AssertionError, match="succeeded"):
            assert_noop(ext, EmptyValidatorSet, lambda: None)
        with pytest.raises(AssertionError, match="left writes behind"):
            assert_noop(ext, EmptyValidatorSet, writes_then_fails)


def test_storage_outside_the_ext_is_a_clear_error_and_exts_do_not_share_state():
    first, second = (new_test_ext(PalletSlot(2, validator_set.DEFINITION,
                                             lambda r: {"header_logs": r.pallet(System)}),
                                  genesis={"ValidatorSet": ValidatorSetGenesis((bytes([i]) * 32,))})
                     for i in (1, 2))
    with pytest.raises(RuntimeError, match="not executing"):
        first.pallet(ValidatorSet).authorities()
    with first, second:
        assert first.pallet(ValidatorSet).authorities() == (bytes([1]) * 32,)
        assert second.pallet(ValidatorSet).authorities() == (bytes([2]) * 32,)


def test_a_call_corrects_its_dispatch_info_down_never_up():
    """FRAME's ``calc_actual_weight`` and ``pays_fee``: an actual weight lowers each component to at most what
    was declared (a call is never charged more than it was admitted for), and either side's ``Pays.No`` waives."""
    info = DispatchInfo(Weight(100, 50), DispatchClass.Normal, Pays.Yes)
    assert PostDispatchInfo().corrected(info) == info
    assert PostDispatchInfo(actual_weight=Weight(40, 80)).corrected(info) == DispatchInfo(
        Weight(40, 50), DispatchClass.Normal, Pays.Yes)
    assert PostDispatchInfo(actual_weight=Weight(400, 10)).corrected(info).weight == Weight(100, 10)
    assert PostDispatchInfo(pays_fee=Pays.No).corrected(info).pays_fee is Pays.No
    waived = DispatchInfo(info.weight, info.class_, Pays.No)
    assert PostDispatchInfo(pays_fee=Pays.Yes).corrected(waived).pays_fee is Pays.No
    assert Weight(10, 5) - Weight(4, 9) == Weight(6, 0)  # what a block gives back saturates at zero
