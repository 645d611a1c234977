"""Balances' holds, named reserves, locks and freezes, FRAME-style, over a mock runtime (``escrow_mock``) with a
test pallet that declares hold and freeze reasons and holds balance through a ``Protocol`` in its config, as
the storage, DA and compute pallets will. Every test ends with the accounting invariants: issuance = Σ(free + reserved),
reserved = anonymous + Σ Reserves + Σ Holds, frozen = the largest lock or freeze.

The last tests decode the four storage items with scalecodec (substrate-interface's decoder) from the mock
runtime's own metadata, by the type paths wallets look for.
"""

from __future__ import annotations

import pytest
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from runtime.extrinsic import SIGNED_EXTENSIONS
from runtime.frame.metadata import build_metadata, build_metadata_dict
from runtime.frame.pallet import Origin, TokenErrorRaised
from runtime.frame.testing import TestExternalities, assert_last_event, assert_noop
from runtime.pallets.balances import (
    Balances,
    BurnedHeld,
    DeadAccount,
    ExistentialDeposit,
    Frozen,
    Held,
    InsufficientBalance,
    LiquidityRestrictions,
    Locked,
    Released,
    ReserveRepatriated,
    Reserved,
    Slashed,
    Thawed,
    TooManyFreezes,
    TooManyHolds,
    TooManyReserves,
    TransferOnHold,
    Unlocked,
    Unreserved,
)
from runtime.pallets.balances_types import BalanceLock, BalanceStatus, HoldAmount, Reasons, ReserveData
from runtime.pallets.system import System
from runtime.primitives import ACCOUNT_LOOKUP, MULTI_SIGNATURE, TokenError
from tests.runtime.escrow_mock import (
    DEPOSIT_ID,
    ESCROW_INDEX,
    JOB,
    STAKE,
    STAKE_ID,
    EscrowFreezeReason,
    EscrowHoldReason,
    PaymentTooLarge,
    Undeclared,
    new_ext,
    set_aside_one_of_each,
)
from tests.runtime.frame_helpers import ALICE, BOB, CHARLIE, DAVE, ED


def data(ext: TestExternalities, who: bytes) -> tuple[int, int, int]:
    d = ext.pallet(System).get_account(who).data
    return d.free, d.reserved, d.frozen


def consumers(ext: TestExternalities, who: bytes) -> int:
    return ext.pallet(System).get_account(who).consumers


def assert_consistent(ext: TestExternalities) -> None:
    balances_ = ext.pallet(Balances)
    accounts = dict(ext.pallet(System).account.items())
    assert balances_.total_issuance.get() == sum(a.data.free + a.data.reserved for a in accounts.values())
    for who, info in accounts.items():
        accounted = sum(e.amount for e in balances_.reserves.get(who)) + sum(e.amount for e in balances_.holds.get(who))
        assert info.data.reserved >= accounted
        restrictions = [e.amount for e in (*balances_.locks.get(who), *balances_.freezes.get(who))]
        assert info.data.frozen == max(restrictions, default=0)
    for item in (balances_.holds, balances_.reserves, balances_.locks, balances_.freezes):
        assert all(who in accounts for who, _ in item.items()), "an entry outlived its account"


# --- holds --------------------------------------------------------------------------------------------------


def test_the_runtime_composes_hold_and_freeze_reasons_from_the_pallets():
    runtime = new_ext().runtime
    assert runtime.hold_reasons.of(EscrowHoldReason.ProviderStake) == STAKE
    assert runtime.hold_reasons.variant_count == 2 and runtime.freeze_reasons.variant_count == 2
    with pytest.raises(ValueError, match="not a RuntimeHoldReason of any pallet"):
        runtime.hold_reasons.of(Undeclared.Nothing)


def test_hold_moves_free_to_reserved_and_lists_the_reason():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.JobPayment, ALICE, 30)
        assert_last_event(ext, Held(JOB, ALICE, 30))
        balances_.hold(EscrowHoldReason.ProviderStake, ALICE, 20)
        balances_.hold(EscrowHoldReason.JobPayment, ALICE, 5)
        assert balances_.holds.get(ALICE) == (HoldAmount(JOB, 35), HoldAmount(STAKE, 20))
        assert balances_.balance_on_hold(EscrowHoldReason.JobPayment, ALICE) == 35
        assert data(ext, ALICE) == (45, 55, 0) and consumers(ext, ALICE) == 1
        assert_noop(ext, InsufficientBalance, balances_.hold, EscrowHoldReason.JobPayment, ALICE, 46)
        with pytest.raises(ValueError):
            balances_.hold(Undeclared.Nothing, ALICE, 1)
        assert_consistent(ext)


def test_holds_are_bounded_by_max_holds():
    with new_ext(max_holds=1) as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.JobPayment, BOB, 1)
        balances_.hold(EscrowHoldReason.JobPayment, BOB, 1)  # the same reason: the same entry
        assert_noop(ext, TooManyHolds, balances_.hold, EscrowHoldReason.ProviderStake, BOB, 1)
        assert balances_.holds.get(BOB) == (HoldAmount(JOB, 2),)


def test_release_exactly_or_best_effort():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.JobPayment, BOB, 50)
        raised = assert_noop(ext, TokenErrorRaised, balances_.release, EscrowHoldReason.JobPayment, BOB, 60)
        assert ext.runtime.dispatch_error(raised).value is TokenError.FundsUnavailable
        assert balances_.release(EscrowHoldReason.JobPayment, BOB, 20) == 20
        assert_last_event(ext, Released(JOB, BOB, 20))
        assert balances_.release(EscrowHoldReason.JobPayment, BOB, 60, best_effort=True) == 30
        assert balances_.holds.get(BOB) == () and not balances_.holds.contains(BOB)  # the empty list is removed
        assert data(ext, BOB) == (200, 0, 0) and consumers(ext, BOB) == 0
        assert_consistent(ext)


def test_burn_held_and_slash_held_leave_the_issuance():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.ProviderStake, CHARLIE, 100)
        assert balances_.burn_held(EscrowHoldReason.ProviderStake, CHARLIE, 40) == 40
        assert_last_event(ext, BurnedHeld(STAKE, CHARLIE, 40))
        assert balances_.slash_held(EscrowHoldReason.ProviderStake, CHARLIE, 100) == 40  # only 60 was left
        assert_last_event(ext, Slashed(CHARLIE, 60))
        assert data(ext, CHARLIE) == (200, 0, 0)
        assert balances_.total_issuance.get() == 600 - 100
        assert_consistent(ext)


def test_transfer_on_hold_to_free_or_onto_a_hold():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.JobPayment, ALICE, 60)
        assert balances_.transfer_on_hold(EscrowHoldReason.JobPayment, ALICE, BOB, 25) == 25
        assert_last_event(ext, TransferOnHold(JOB, ALICE, BOB, 25))
        assert data(ext, BOB) == (225, 0, 0)
        assert balances_.transfer_on_hold(EscrowHoldReason.JobPayment, ALICE, CHARLIE, 15, on_hold=True) == 15
        assert balances_.holds.get(CHARLIE) == (HoldAmount(JOB, 15),) and data(ext, CHARLIE) == (300, 15, 0)
        assert data(ext, ALICE) == (40, 20, 0)
        # a new account: onto a hold it must exist, into free it needs the existential deposit
        assert_noop(ext, DeadAccount, balances_.transfer_on_hold, EscrowHoldReason.JobPayment, ALICE, DAVE, 5,
                    on_hold=True)
        assert_noop(ext, ExistentialDeposit, balances_.transfer_on_hold, EscrowHoldReason.JobPayment, ALICE, DAVE,
                    ED - 1)
        assert_noop(ext, TokenErrorRaised, balances_.transfer_on_hold, EscrowHoldReason.JobPayment, ALICE, BOB, 21)
        assert balances_.transfer_on_hold(EscrowHoldReason.JobPayment, ALICE, DAVE, 30, best_effort=True) == 20
        assert data(ext, DAVE) == (20, 0, 0) and consumers(ext, ALICE) == 0
        assert_consistent(ext)


def test_anonymous_reserve_functions_never_touch_held_or_named_balance():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.hold(EscrowHoldReason.JobPayment, BOB, 50)
        balances_.reserve_named(STAKE_ID, BOB, 30)
        balances_.reserve(BOB, 10)
        assert balances_.unreserve(BOB, 100) == 90
        assert balances_.slash_reserved(BOB, 10) == 10
        assert balances_.repatriate_reserved(BOB, ALICE, 10) == 10
        assert data(ext, BOB) == (120, 80, 0)
        assert_consistent(ext)


def test_a_pallet_holds_through_its_protocol_and_a_failed_call_rolls_the_hold_back():
    with new_ext() as ext:
        ext.dispatch(Origin.signed(ALICE), "Escrow", "escrow", amount=40)
        assert_last_event(ext, Held(JOB, ALICE, 40))
        assert ext.pallet(Balances).holds.get(ALICE) == (HoldAmount(JOB, 40),)
        assert_noop(ext, InsufficientBalance, ext.dispatch, Origin.signed(ALICE), "Escrow", "escrow", amount=61)
        assert_noop(ext, PaymentTooLarge, ext.dispatch, Origin.signed(CHARLIE), "Escrow", "escrow", amount=150)
        assert data(ext, CHARLIE) == (300, 0, 0)
        assert_consistent(ext)


# --- named reserves ---------------------------------------------------------------------------------------------


def test_named_reserves_reserve_unreserve_and_slash():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.reserve_named(STAKE_ID, ALICE, 40)
        assert_last_event(ext, Reserved(ALICE, 40))
        balances_.reserve_named(DEPOSIT_ID, ALICE, 10)
        assert balances_.reserves.get(ALICE) == (ReserveData(STAKE_ID, 40), ReserveData(DEPOSIT_ID, 10))
        assert_noop(ext, TooManyReserves, balances_.reserve_named, b"third---", ALICE, 1)
        assert_noop(ext, InsufficientBalance, balances_.reserve_named, STAKE_ID, ALICE, 51)
        assert balances_.unreserve_named(STAKE_ID, ALICE, 15) == 0
        assert_last_event(ext, Unreserved(ALICE, 15))
        assert balances_.slash_reserved_named(STAKE_ID, ALICE, 30) == 5
        assert_last_event(ext, Slashed(ALICE, 25))
        assert balances_.reserved_named(STAKE_ID, ALICE) == 0 and balances_.reserved_named(DEPOSIT_ID, ALICE) == 10
        assert data(ext, ALICE) == (65, 10, 0)
        assert balances_.total_issuance.get() == 600 - 25
        assert_consistent(ext)


def test_repatriate_named_reserve_to_free_or_to_the_same_named_reserve():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.reserve_named(DEPOSIT_ID, BOB, 80)
        assert balances_.repatriate_reserved_named(DEPOSIT_ID, BOB, ALICE, 30) == 0
        assert_last_event(ext, ReserveRepatriated(BOB, ALICE, 30, BalanceStatus.Free))
        assert balances_.repatriate_reserved_named(DEPOSIT_ID, BOB, CHARLIE, 70, BalanceStatus.Reserved) == 20
        assert balances_.reserves.get(CHARLIE) == (ReserveData(DEPOSIT_ID, 50),)
        assert (data(ext, ALICE), data(ext, BOB), data(ext, CHARLIE)) == ((130, 0, 0), (120, 0, 0), (300, 50, 0))
        balances_.reserve_named(DEPOSIT_ID, BOB, 10)
        assert_noop(ext, DeadAccount, balances_.repatriate_reserved_named, DEPOSIT_ID, BOB, DAVE, 10,
                    BalanceStatus.Reserved)
        assert_consistent(ext)


# --- locks and freezes ------------------------------------------------------------------------------------------


def test_locks_freeze_free_balance_and_hold_the_account():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.set_lock(STAKE_ID, ALICE, 95)
        assert_last_event(ext, Locked(ALICE, 95))
        assert data(ext, ALICE) == (100, 0, 95) and consumers(ext, ALICE) == 1
        assert_noop(ext, InsufficientBalance, ext.dispatch, Origin.signed(ALICE), "Balances", "transfer_allow_death",
                    dest=BOB, value=6)
        balances_.set_lock(DEPOSIT_ID, ALICE, 20, Reasons.Fee)
        assert balances_.locks.get(ALICE) == (BalanceLock(STAKE_ID, 95, Reasons.All),
                                              BalanceLock(DEPOSIT_ID, 20, Reasons.Fee))
        assert_noop(ext, LiquidityRestrictions, balances_.set_lock, b"third---", ALICE, 1)
        balances_.remove_lock(STAKE_ID, ALICE)
        assert_last_event(ext, Unlocked(ALICE, 75))
        balances_.remove_lock(DEPOSIT_ID, ALICE)
        assert data(ext, ALICE) == (100, 0, 0) and consumers(ext, ALICE) == 0
        assert_noop(ext, DeadAccount, balances_.set_lock, STAKE_ID, DAVE, 1)
        assert_consistent(ext)


def test_freezes_and_locks_together_set_frozen_to_the_largest():
    with new_ext() as ext:
        balances_ = ext.pallet(Balances)
        balances_.set_lock(STAKE_ID, BOB, 50)
        balances_.set_freeze(EscrowFreezeReason.Voting, BOB, 80)
        assert_last_event(ext, Frozen(BOB, 30))
        assert balances_.balance_frozen(EscrowFreezeReason.Voting, BOB) == 80 and data(ext, BOB)[2] == 80
        assert_noop(ext, TooManyFreezes, balances_.set_freeze, EscrowFreezeReason.Unbonding, BOB, 1)
        balances_.thaw(EscrowFreezeReason.Voting, BOB)
        assert_last_event(ext, Thawed(BOB, 30))
        assert data(ext, BOB) == (200, 0, 50) and consumers(ext, BOB) == 1
        assert_noop(ext, DeadAccount, balances_.set_freeze, EscrowFreezeReason.Voting, DAVE, 1)
        assert_consistent(ext)


# --- what clients decode -----------------------------------------------------------------------------------------


def test_the_four_storage_items_decode_with_scalecodec_by_their_metadata():
    ext = new_ext()
    raw = set_aside_one_of_each(ext, ALICE)
    config = RuntimeConfigurationObject()
    config.update_type_registry(load_type_registry_preset("core"))
    metadata = config.create_scale_object(
        "MetadataVersioned", data=ScaleBytes(build_metadata(ext.runtime, ACCOUNT_LOOKUP, MULTI_SIGNATURE,
                                                            SIGNED_EXTENSIONS)))
    metadata.decode()
    config.add_portable_registry(metadata)
    pallet = metadata.get_metadata_pallet("Balances")

    def decode(name: str) -> object:
        entry = pallet.get_storage_function(name)
        assert entry.value["type"]["Map"]["hashers"] == ["Blake2_128Concat"]
        value = config.create_scale_object(entry.get_value_type_string(), data=ScaleBytes(raw[name]),
                                           metadata=metadata)
        return value.decode(check_remaining=True)

    assert decode("Holds") == [{"id": {"Escrow": "ProviderStake"}, "amount": 30}]
    assert decode("Freezes") == [{"id": {"Escrow": "Voting"}, "amount": 5}]
    assert decode("Reserves") == [{"id": "0x" + STAKE_ID.hex(), "amount": 10}]
    assert decode("Locks") == [{"id": "0x" + DEPOSIT_ID.hex(), "amount": 20, "reasons": "Misc"}]


def test_metadata_type_paths_are_frames():
    body = build_metadata_dict(new_ext().runtime, ACCOUNT_LOOKUP, MULTI_SIGNATURE, SIGNED_EXTENSIONS)
    types = body["types"]["types"]
    path = lambda type_id: "::".join(types[type_id]["type"]["path"])  # noqa: E731
    balances_ = next(p for p in body["pallets"] if p["name"] == "Balances")
    entries = {e["name"]: e["type"]["Map"]["value"] for e in balances_["storage"]["entries"] if "Map" in e["type"]}
    expected = {"Locks": ("bounded_collections::weak_bounded_vec::WeakBoundedVec", "pallet_balances::types::BalanceLock"),
                "Reserves": ("bounded_collections::bounded_vec::BoundedVec", "pallet_balances::types::ReserveData"),
                "Holds": ("bounded_collections::bounded_vec::BoundedVec", "frame_support::traits::tokens::misc::IdAmount"),
                "Freezes": ("bounded_collections::bounded_vec::BoundedVec", "frame_support::traits::tokens::misc::IdAmount")}
    for name, (outer, item) in expected.items():
        value = types[entries[name]]["type"]
        assert "::".join(value["path"]) == outer, name
        assert path(value["params"][0]["type"]) == item, name
    hold = types[entries["Holds"]]["type"]["params"][0]["type"]
    reason = types[hold]["type"]["params"][0]["type"]
    assert path(reason) == "test_runtime::RuntimeHoldReason"
    (variant,) = types[reason]["type"]["def"]["variant"]["variants"]
    assert (variant["name"], variant["index"]) == ("Escrow", ESCROW_INDEX)
    assert path(variant["fields"][0]["type"]) == "pallet_escrow::pallet::HoldReason"
